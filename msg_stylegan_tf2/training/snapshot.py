"""The training's snapshots: checkpoints (G, D, Gs, optimizers, progress:
variables only, no data) and image grids of every resolution. Networks in and
out of run directories are `formats/network_run.py`'s."""

import pathlib
import shutil

import numpy as np
import tensorflow as tf

from dnnlib.image_io import image_grid, save_png, to_uint8
from msg_stylegan_tf2.validation import first_line


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
                f"{self.directory / 'checkpoint'}: unreadable ({first_line(e)}); "
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
                f"{path}: cannot restore this checkpoint ({first_line(e)}); it "
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
