"""Snapshots: checkpoints (G, D, Gs, optimizers, progress: variables only, no
data) and image grids of every resolution."""

import glob
import pathlib
import shutil

import numpy as np
import tensorflow as tf

from dnnlib.atomic import atomic_directory
from dnnlib.image_io import image_grid, save_png, to_uint8


def clean_stale_temporaries(checkpoint_dir):
    """Removes temporary files left by an interrupted checkpoint write."""
    checkpoint_dir = pathlib.Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return []
    stale = [
        p for p in checkpoint_dir.iterdir() if "_temp" in p.name or ".tmp" in p.name
    ]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


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


def optimizer_variables(optimizer, model):
    """A checkpointable view of an optimizer's variables: its step count and
    learning rate, and each slot (Adam's momentum and velocity) under the
    official name of the weight it belongs to, so that checkpoints do not
    depend on the order in which a network creates its weights.

    Args:
        optimizer: a built Keras optimizer of `model`'s trainable weights.
        model: a network with `official_variable_map()`.
    """
    # Keras names a slot `<weight path with _ for />_<slot>`.
    official = {
        variable.path.replace("/", "_"): name.replace("/", ".")
        for name, (variable, _) in model.official_variable_map().items()
    }
    objects = {}
    for variable in optimizer.variables:
        if variable.name in ("iteration", "learning_rate"):
            objects[variable.name] = variable
            continue
        weight, _, slot = variable.name.rpartition("_")
        if weight not in official:
            raise ValueError(f"optimizer variable {variable.name}: no official name.")
        objects[f"{official[weight]}.{slot}"] = variable
    return tf.train.Checkpoint(**objects)


class Checkpointer:
    """tf.train.CheckpointManager over the run's state, keeping the last N.

    Args:
        checkpoint_dir: `<run>/checkpoints`.
        max_to_keep: checkpoints kept.
        **objects: what to save (networks, optimizers, variables).
    """

    def __init__(self, checkpoint_dir, max_to_keep=3, **objects):
        self.directory = pathlib.Path(checkpoint_dir)
        self.stale = clean_stale_temporaries(self.directory)
        self.objects = objects
        self.checkpoint = tf.train.Checkpoint(**objects)
        try:
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, str(self.directory), max_to_keep=max_to_keep
            )
        except Exception as e:  # A corrupt `checkpoint` state file.
            raise ValueError(
                f"{self.directory / 'checkpoint'}: unreadable ({_first_line(e)}); "
                "delete this file to resume from the newest ckpt-N it lists."
            ) from e

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def save(self, number):
        return self.manager.save(checkpoint_number=number)

    def restore(self, path=None, log=print):
        """Restores `path`, else the newest kept checkpoint that is usable.

        A corrupt newest checkpoint (a disk error, a kill that the atomic write
        did not cover) falls back to the previous kept one, and `log` says so.

        Returns:
            The path restored.

        Raises:
            ValueError: no checkpoint, or none usable (one line naming them).
        """
        if path is not None:
            self._restore(path, log)
            return path
        candidates = list(reversed(self.manager.checkpoints))
        if not candidates:
            raise ValueError(f"{self.directory}: no checkpoint to resume from.")
        failures = []
        for candidate in candidates:
            try:
                self._restore(candidate, log)
            except ValueError as e:
                failures.append(str(e))
                continue
            for failure in failures:
                log(f"Skipped {failure}")
            if failures:
                log(f"Fell back to the previous kept checkpoint {candidate}.")
            return candidate
        names = ", ".join(pathlib.Path(c).name for c in candidates)
        raise ValueError(
            f"{self.directory}: no usable checkpoint ({names}: each is corrupt or "
            f"from a different configuration; first: {failures[0]})."
        )

    def _restore(self, path, log):
        # Restores every value and checks that each was used. Checkpoints of
        # earlier versions hold the data reader's state (ignored now) and
        # optimizer slots by position (their Adam state starts afresh).
        try:
            names = [name for name, _ in tf.train.list_variables(path)]
            positional = [
                part
                for part in ("g_opt", "d_opt")
                if f"{part}/variable0000/.ATTRIBUTES/VARIABLE_VALUE" in names
            ]
            objects = {
                name: child
                for name, child in self.objects.items()
                if name not in positional
            }
            checkpoint = self.checkpoint
            if positional:
                checkpoint = tf.train.Checkpoint(**objects)
            status = checkpoint.restore(path)
            if positional or any(name.startswith("iterator/") for name in names):
                status.expect_partial().assert_existing_objects_matched()
            else:
                status.assert_consumed()
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            raise ValueError(
                f"{path}: cannot restore this checkpoint ({_first_line(e)}); it "
                "is corrupt or from a different configuration."
            ) from e
        for name in positional:
            for variable in self.objects[name]._trackable_children().values():
                if variable.name != "learning_rate":
                    variable.assign(tf.zeros_like(variable))
            log(
                f"{path}: written by an earlier version, which saved {name}'s "
                "slots by position; its Adam state starts afresh."
            )


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def save_pyramid_grids(images, run_dir, number, columns):
    """Writes `fakes/<r>x<r>/fakes<number>.png` for every level.

    Args:
        images: pyramid (list of `[N, r, r, C]` in [-1, 1], 4x4 first).

    Returns:
        `{resolution: uint8 grid}`.
    """
    grids = {}
    for level in images:
        side = int(level.shape[1])
        grid = image_grid(to_uint8(level), columns)
        save_png(
            grid,
            pathlib.Path(run_dir)
            / "fakes"
            / f"{side}x{side}"
            / f"fakes{number:06d}.png",
        )
        grids[side] = grid
    return grids


def generate_in_batches(Gs, latents, labels, batch):
    """Runs Gs (no truncation, fixed noise) in batches; returns the pyramid."""
    outputs = None
    for start in range(0, len(latents), batch):
        z = latents[start : start + batch]
        y = None if labels is None else labels[start : start + batch]
        images = Gs(z, y, truncation_psi=1.0, randomize_noise=False)
        pyramid = [np.asarray(tf.cast(x, tf.float32)) for x in images]
        outputs = (
            pyramid
            if outputs is None
            else [np.concatenate([a, b]) for a, b in zip(outputs, pyramid, strict=True)]
        )
    return outputs


def load_networks(path, names=("G", "D", "Gs")):
    """Builds networks from a run directory, checkpoint or pickle and restores them.

    Args:
        path: a run directory (latest checkpoint), `<run>/checkpoints/ckpt-N`,
            or an official network pickle (`.pkl`, read safely).
        names: which of "G", "D", "Gs".

    Returns:
        `({name: network}, config, checkpoint_path)`; config is None for a pickle.

    Raises:
        ValueError: one line naming the path and what is wrong.
    """
    from msg_stylegan_tf2.training.config import TrainingConfig

    path = pathlib.Path(path).expanduser()
    if path.suffix == ".pkl":
        from msg_stylegan_tf2.formats.legacy import load_network_pkl

        networks = load_network_pkl(path)
        return {name: networks[name] for name in names}, None, str(path)
    run_dir = path if path.is_dir() else path.parent.parent
    config = TrainingConfig.load(run_dir)
    checkpoint = (
        str(path)
        if not path.is_dir()
        else tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    )
    if checkpoint is None:
        raise ValueError(f"{run_dir}: no checkpoint.")
    builds = _builders(config, names)
    _check_size(builds, run_dir, [checkpoint])
    networks = {name: build() for name, build in builds.items()}
    views = {name: network_variables(n) for name, n in networks.items()}
    try:
        status = tf.train.Checkpoint(**views).restore(checkpoint).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError) as e:
        raise ValueError(
            f"{checkpoint}: cannot read its networks ({_first_line(e)})."
        ) from e
    return networks, config, checkpoint


def check_networks_fit(config, run_dir, checkpoints):
    """Refuses, before anything is allocated, a run whose configuration
    describes G, D and Gs with more parameters than the largest of
    `checkpoints` (prefixes) has bytes (a run directory from a stranger).

    Raises:
        ValueError: one line naming the run or checkpoint.
    """
    _check_size(_builders(config, ("G", "D", "Gs")), run_dir, checkpoints)


def _builders(config, names):
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
            (DISCRIMINATORS if name == "D" else GENERATORS)[config.arch],
            config.D_kwargs if name == "D" else config.G_kwargs,
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
            f"{run_dir}: training_options.json describes networks that cannot "
            f"be built ({_first_line(e)})."
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
            f"{run_dir}: training_options.json describes networks of "
            f"{described:,} parameters, more than {largest} has bytes "
            f"({stored[largest]:,}): a truncated checkpoint, or options that are "
            "not its."
        )


def _data_bytes(checkpoint):
    # The size of a checkpoint's data files (`<prefix>.data-*`, all shards).
    prefix = pathlib.Path(checkpoint)
    shards = prefix.parent.glob(f"{glob.escape(prefix.name)}.data-*")
    return sum(path.stat().st_size for path in shards if path.is_file())


def checkpoint_prefixes(checkpoint_dir):
    """The prefixes (`.../ckpt-N`) of the checkpoints in a directory."""
    return sorted(
        str(path.with_suffix(""))
        for path in pathlib.Path(checkpoint_dir).glob("*.index")
    )


def load_generator(path, which="Gs"):
    """`load_networks` of one generator: `(generator, config, checkpoint)`.

    Args:
        which: "Gs" (the moving average) or "G".
    """
    networks, config, checkpoint = load_networks(path, (which,))
    return networks[which], config, checkpoint


def write_network_run(G, D, Gs, out_dir, note=""):
    """Writes networks as a run directory that generate.py, run_metrics.py and
    export.py read: `training_options.json` and `checkpoints/ckpt-0` (G, D, Gs).

    Raises:
        ValueError: when `out_dir` exists.
    """
    from msg_stylegan_tf2.networks.progan import ProGANGenerator
    from msg_stylegan_tf2.training.config import TrainingConfig

    arch = "msg_stylegan"
    if isinstance(G, ProGANGenerator):
        arch = "progan" if G.progressive else "msg_progan"
    with atomic_directory(out_dir) as tmp:
        g_kwargs = {k: v for k, v in G.get_config().items() if k != "name"}
        d_kwargs = {k: v for k, v in D.get_config().items() if k != "name"}
        config = TrainingConfig(
            dataset="",
            preset=f"imported{': ' + note if note else ''}",
            arch=arch,
            G_kwargs=g_kwargs,
            D_kwargs=d_kwargs,
            mixed_precision="off",  # Resolved, as a trained run's (no "auto").
        )
        config.save(tmp)
        checkpoint = tf.train.Checkpoint(
            G=network_variables(G), D=network_variables(D), Gs=network_variables(Gs)
        )
        manager = tf.train.CheckpointManager(checkpoint, str(tmp / "checkpoints"), 1)
        manager.save(checkpoint_number=0)
    return pathlib.Path(out_dir)
