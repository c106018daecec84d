"""Fine-tuning: a new run that starts from another run's or an official
pickle's networks (G, D, Gs and the W average), with fresh optimizers at kimg 0.
"""

import pathlib

import tensorflow as tf

from msg_stylegan_tf2.official import assign_official_variables, official_variables

# The data options a source must share with the run (the networks' shapes).
DATA_OPTIONS = ("resolution", "num_channels", "label_size")


def load_source(path):
    """The networks at `path`: a run directory (its newest checkpoint), a
    checkpoint `<run>/checkpoints/ckpt-N`, or an official msg-stylegan-tf or
    ProGAN pickle (read by the memory-safe loader).

    Returns:
        `{"G": ..., "D": ..., "Gs": ...}`, built, with the source's weights.

    Raises:
        ValueError: one line naming `path` and what is wrong.
    """
    from msg_stylegan_tf2.networks import DISCRIMINATORS, GENERATORS
    from msg_stylegan_tf2.training.config import TrainingConfig
    from msg_stylegan_tf2.training.snapshot import network_variables

    path = pathlib.Path(path).expanduser()
    if path.suffix == ".pkl":
        from msg_stylegan_tf2.legacy import load_network_pkl

        return load_network_pkl(path)
    if not path.exists():
        raise ValueError(f"{path}: no such run directory, checkpoint or pickle.")
    run_dir = path if path.is_dir() else path.parent.parent
    config = TrainingConfig.load(run_dir)
    checkpoint = str(path)
    if path.is_dir():
        checkpoint = tf.train.latest_checkpoint(str(path / "checkpoints"))
        if checkpoint is None:
            raise ValueError(f"{path}: this run has no checkpoint yet.")
    networks = {
        "G": GENERATORS[config.arch](**config.G_kwargs),
        "D": DISCRIMINATORS[config.arch](**config.D_kwargs),
        "Gs": GENERATORS[config.arch](**config.G_kwargs),
    }
    for network in networks.values():
        network.build()
    views = {name: network_variables(n) for name, n in networks.items()}
    try:
        status = tf.train.Checkpoint(**views).restore(checkpoint).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"{checkpoint}: cannot read its networks ({first}).") from e
    return networks


def check_source(source, config, path):
    """Raises a one-line ValueError, before a run starts, when the source's
    networks do not fit the run's: another data shape (resolution, channels,
    label size), or other weights (another preset)."""
    from msg_stylegan_tf2.networks import DISCRIMINATORS, GENERATORS

    theirs = source["G"].get_config()
    differs = [
        f"{name} {theirs.get(name)} (this run: {config.G_kwargs.get(name)})"
        for name in DATA_OPTIONS
        if theirs.get(name) != config.G_kwargs.get(name)
    ]
    if differs:
        raise ValueError(
            f"{path}: its networks differ from this run's dataset: "
            f"{', '.join(differs)}; fine-tune on data of the same shape."
        )
    ours = {
        "G": GENERATORS[config.arch](**config.G_kwargs),
        "D": DISCRIMINATORS[config.arch](**config.D_kwargs),
    }
    for name, network in ours.items():
        network.build()
        want = _shapes(network)
        have = _shapes(source[name])
        if want != have:
            names = sorted(set(want) ^ set(have)) or sorted(
                k for k in want if want[k] != have[k]
            )
            raise ValueError(
                f"{path}: its {name} differs from this run's preset {config.preset} "
                f"(first: {', '.join(names[:3])}); give a `preset` matching it."
            )


def _shapes(network):
    return {
        name: tuple(variable.shape)
        for name, (variable, _) in network.official_variable_map().items()
    }


def copy_networks(source, state, path):
    """Copies G, D, Gs (the W average included) of `source` into `state`; the
    optimizers and progress counters stay as they are (fresh).

    Raises:
        ValueError: one line naming the network that differs (another preset).
    """
    for name in ("G", "D", "Gs"):
        arrays = official_variables(source[name])
        try:
            assign_official_variables(getattr(state, name), arrays)
        except ValueError as e:
            raise ValueError(
                f"{path}: its {name} differs from this run's preset ({e}); "
                "use the source's preset (see its training_options.json)."
            ) from e
