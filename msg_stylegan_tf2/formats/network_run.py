"""Networks in and out of run directories: G, D and Gs built from a run's
`training_options.json` (checked against its checkpoint's size first) and
restored from its checkpoint, or from an official pickle; imported networks
written as a run directory."""

import glob
import pathlib

import tensorflow as tf

from dnnlib.atomic import atomic_directory
from msg_stylegan_tf2.formats.run_options import (
    IMPORTED_OPTIONS,
    OPTIONS_FILE,
    NetworkRunOptions,
    read_run_options,
    run_directory,
)
from msg_stylegan_tf2.validation import first_line


def network_variables(model):
    """A checkpointable view of a network: its variables by official TF1 name.

    Keras 3 does not expose layers held in lists to `tf.train.Checkpoint`, so
    checkpoints name every variable explicitly; official names are stable
    across processes and readable in the checkpoint.
    """
    return tf.train.Checkpoint(
        **{
            name.replace("/", "."): variable
            for name, (variable, _) in model.official_variable_map().items()
        }
    )


def load_networks(path, names=("G", "D", "Gs")):
    """Builds networks from a run directory, checkpoint or pickle and restores them.

    Args:
        path: a run directory (latest checkpoint), `<run>/checkpoints/ckpt-N`,
            or an official network pickle (`.pkl`, read safely).
        names: which of "G", "D", "Gs".

    Returns:
        `({name: network}, options, checkpoint_path)`; options
        (`NetworkRunOptions`) is None for a pickle.

    Raises:
        ValueError: one line naming the path and what is wrong.
    """
    path = pathlib.Path(path).expanduser()
    if path.suffix == ".pkl":
        from msg_stylegan_tf2.formats.legacy import load_network_pkl

        networks = load_network_pkl(path)
        return {name: networks[name] for name in names}, None, str(path)
    run_dir = run_directory(path)
    options = read_run_options(run_dir)
    checkpoint = (
        str(path)
        if not path.is_dir()
        else tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    )
    if checkpoint is None:
        raise ValueError(f"{run_dir}: no checkpoint.")
    builds = _builders(options, names)
    _check_size(builds, run_dir, [checkpoint])
    networks = {name: build() for name, build in builds.items()}
    views = {name: network_variables(n) for name, n in networks.items()}
    try:
        status = tf.train.Checkpoint(**views).restore(checkpoint).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError) as e:
        raise ValueError(
            f"{checkpoint}: cannot read its networks ({first_line(e)})."
        ) from e
    return networks, options, checkpoint


def load_generator(path, which="Gs"):
    """`load_networks` of one generator: `(generator, options, checkpoint)`.

    Args:
        which: "Gs" (the moving average) or "G".
    """
    networks, options, checkpoint = load_networks(path, (which,))
    return networks[which], options, checkpoint


def check_networks_fit(options, run_dir, checkpoints):
    """Refuses, before anything is allocated, a run whose options describe G,
    D and Gs with more parameters than the largest of `checkpoints`
    (prefixes) has bytes (a run directory from a stranger).

    Args:
        options: the run's `arch`, `G_kwargs` and `D_kwargs` (a
            `NetworkRunOptions` or the training's config).

    Raises:
        ValueError: one line naming the run or checkpoint.
    """
    _check_size(_builders(options, ("G", "D", "Gs")), run_dir, checkpoints)


def checkpoint_prefixes(checkpoint_dir):
    """The prefixes (`.../ckpt-N`) of the checkpoints in a directory."""
    return sorted(
        str(path.with_suffix(""))
        for path in pathlib.Path(checkpoint_dir).glob("*.index")
    )


def write_network_run(G, D, Gs, out_dir, note=""):
    """Writes networks as a run directory that generate.py, run_metrics.py and
    export.py read: `training_options.json` (the networks' options) and
    `checkpoints/ckpt-0` (G, D, Gs).

    Raises:
        ValueError: when `out_dir` exists.
    """
    from msg_stylegan_tf2.networks.progan import ProGANGenerator

    arch = "msg_stylegan"
    if isinstance(G, ProGANGenerator):
        arch = "progan" if G.progressive else "msg_progan"
    with atomic_directory(out_dir) as tmp:
        options = NetworkRunOptions(
            dataset="",
            preset=f"imported{': ' + note if note else ''}",
            arch=arch,
            G_kwargs={k: v for k, v in G.get_config().items() if k != "name"},
            D_kwargs={k: v for k, v in D.get_config().items() if k != "name"},
        )
        (tmp / OPTIONS_FILE).write_text(options.to_json(**IMPORTED_OPTIONS) + "\n")
        checkpoint = tf.train.Checkpoint(
            G=network_variables(G), D=network_variables(D), Gs=network_variables(Gs)
        )
        manager = tf.train.CheckpointManager(checkpoint, str(tmp / "checkpoints"), 1)
        manager.save(checkpoint_number=0)
    return pathlib.Path(out_dir)


def _builders(options, names):
    # {name: build()} of the run's networks, built on call.
    from msg_stylegan_tf2.networks.build import DISCRIMINATORS, GENERATORS

    def builder(cls, kwargs):
        def build():
            network = cls(**kwargs)
            network.build()
            return network

        return build

    return {
        name: builder(
            (DISCRIMINATORS if name == "D" else GENERATORS)[options.arch],
            options.D_kwargs if name == "D" else options.G_kwargs,
        )
        for name in names
    }


def _check_size(builds, run_dir, checkpoints):
    # A run directory may come from a stranger: its training_options.json must
    # not describe networks with more parameters than a checkpoint's data has
    # bytes (each stored float32 parameter takes 4; networks may share them),
    # checked before anything is allocated. One fitting checkpoint is enough:
    # a resume falls back past a corrupt newest one.
    from msg_stylegan_tf2.networks.network_base import described_parameters

    try:
        described = sum(described_parameters(build) for build in builds.values())
    except (ValueError, TypeError, ArithmeticError) as e:
        raise ValueError(
            f"{run_dir}: {OPTIONS_FILE} describes networks that cannot "
            f"be built ({first_line(e)})."
        ) from e
    stored = {checkpoint: _data_bytes(checkpoint) for checkpoint in checkpoints}
    largest = max(stored, key=stored.get)
    if stored[largest] == 0:
        if not pathlib.Path(f"{largest}.index").is_file():
            raise ValueError(f"{largest}: no such checkpoint.")
        raise ValueError(
            f"{largest}: no data files ({pathlib.Path(largest).name}.data-*); "
            "an incomplete checkpoint."
        )
    if described > stored[largest]:
        raise ValueError(
            f"{run_dir}: {OPTIONS_FILE} describes networks of "
            f"{described:,} parameters, more than {largest} has bytes "
            f"({stored[largest]:,}): a truncated checkpoint, or options that are "
            "not its."
        )


def _data_bytes(checkpoint):
    # The size of a checkpoint's data files (`<prefix>.data-*`, all shards).
    prefix = pathlib.Path(checkpoint)
    shards = prefix.parent.glob(f"{glob.escape(prefix.name)}.data-*")
    return sum(path.stat().st_size for path in shards if path.is_file())
