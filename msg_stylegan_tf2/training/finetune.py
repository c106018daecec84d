"""Fine-tuning: a new run that starts from another run's or an official
pickle's networks (G, D, Gs and the W average), with fresh optimizers at kimg 0.
"""

from msg_stylegan_tf2.official import assign_official_variables, official_variables
from msg_stylegan_tf2.training.snapshot import load_networks

# The data options a source must share with the run (the networks' shapes).
DATA_OPTIONS = ("resolution", "num_channels", "label_size")


def load_source(path):
    """The networks at `path` (a run directory, a checkpoint, or an official
    msg-stylegan-tf or ProGAN pickle): `{"G", "D", "Gs"}`, built and restored.

    Raises:
        ValueError: one line naming `path` and what is wrong.
    """
    return load_networks(path)[0]


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
