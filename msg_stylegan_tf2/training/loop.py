"""The training loop: data, steps, ticks, snapshots, resume, guards.

What varies by architecture (progressive growing or not) is the growth
policy's (`growth.py`); what D sees and when R1/R2 apply are the state's
augmentation and regularization; metrics arrive as a callback from the
application.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from datasets.reader import describe, images_used, make_dataset, read_error
from dnnlib.image_io import image_grid, save_png
from dnnlib.jsonl import JsonLines
from msg_stylegan_tf2.training import snapshot
from msg_stylegan_tf2.training.growth import make_growth
from msg_stylegan_tf2.training.losses import make_loss
from msg_stylegan_tf2.training.schedule import LearningRates, ema_beta
from msg_stylegan_tf2.training.signals import StopFlag
from msg_stylegan_tf2.training.stability import Stability
from msg_stylegan_tf2.training.state import build_state
from msg_stylegan_tf2.training.stats import (
    Collector,
    format_time,
    nvidia_name,
    peak_memory_gb,
    peak_memory_name,
    record_kimg,
)
from msg_stylegan_tf2.training.steps import TrainSteps, micro_batches
from msg_stylegan_tf2.training.strategy import make_strategy


def parameter_count(network):
    """Trainable parameters (the official counts)."""
    return sum(int(np.prod(w.shape)) for w in network.trainable_weights)


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN or Inf; the message says where.

    Attributes:
        checkpoint: the last good checkpoint (None before the first).
    """

    def __init__(self, message, checkpoint):
        super().__init__(message)
        self.checkpoint = checkpoint


class Trainer:
    """Runs one training run in `run_dir` (layout: README, "What a run writes").

    Args:
        config: TrainingConfig.
        run_dir: the run directory (exists; holds training_options.json).
        log: a callable taking one line (prints and appends to log.txt).
        strategy: a strategy made at start-up (MultiWorkerMirroredStrategy must
            exist before any other TensorFlow op); default: from the config.
        evaluate: None, or `evaluate(Gs, checkpoint) -> {metric: {key: value}}`,
            called after each network snapshot (the application's metrics).
    """

    def __init__(self, config, run_dir, log=print, strategy=None, evaluate=None):
        self.config, self.run_dir, self.log = config, run_dir, log
        self.evaluate = evaluate
        self.strategy = strategy or make_strategy(config.strategy)
        self.info = describe(config.dataset)
        self.state = build_state(config, self.strategy)
        self.G, self.D, self.Gs = self.state.G, self.state.D, self.state.Gs
        self.g_opt, self.d_opt = self.state.g_opt, self.state.d_opt
        self.augmentation = self.state.augmentation
        self.regularization = self.state.regularization
        replicas = self.strategy.num_replicas_in_sync
        self.growth = make_growth(
            config,
            self.info,
            replicas,
            (self.G, self.Gs, self.D),
            (self.g_opt, self.d_opt),
            LearningRates.from_config(config, self.regularization.adam_ratio),
        )
        if config.freeze_d >= len(self.D.blocks):
            raise ValueError(
                f"`freeze_d={config.freeze_d}` would freeze all of D's "
                f"{len(self.D.blocks)} blocks; freeze fewer."
            )
        if self.growth.batch % replicas:
            raise ValueError(
                f"the minibatch ({self.growth.batch}) must be divisible by the number "
                f"of replicas ({replicas})."
            )
        micro_batches(self.growth.batch // replicas, config.batch_gpu)  # Divides?
        # Progress lives in Python between steps (reading a variable would wait
        # for the device); the variables are set just before each checkpoint.
        self.nimg, self.step_count = 0, 0
        self.iterator = None  # Made at the first step, where resume left off.
        self.reader_resolution = None
        # Variables only: the data reader is repositioned from cur_nimg.
        self.checkpointer = snapshot.Checkpointer(
            self.run_dir / "checkpoints",
            max_to_keep=config.keep_checkpoints,
            **self.state.checkpoint_objects(),
        )
        self.steps = TrainSteps(
            self.strategy,
            self.state,
            make_loss(config.loss),
            self.growth.views,
            label_size=self.info.label_size,
            mirror_augment=config.mirror_augment,
            seed=config.seed,
            jit=config.jit,
            freeze_d=config.freeze_d,
            batch_gpu=config.batch_gpu,
        )
        rng = np.random.RandomState(config.seed)
        self.grid_latents = rng.randn(config.grid_images, self.G.latent_size).astype(
            np.float32
        )
        self.grid_labels = None
        if self.info.label_size:
            rows = rng.randint(0, len(self.info.labels), config.grid_images)
            self.grid_labels = self.info.labels[rows]
        self.grid_columns = int(math.ceil(math.sqrt(config.grid_images)))
        self.writer = tf.summary.create_file_writer(str(run_dir))
        self.stats = Collector()
        self.stability = Stability(run_dir / "stability.jsonl")
        self.stats_file = JsonLines(run_dir / "stats.jsonl", record_kimg)
        self.stopped_by = None  # The signal that stopped `run`, if any.

    @property
    def batch(self):
        """The global minibatch of the current step."""
        return self.growth.batch

    def _micro_batch_line(self):
        # The start-up line's part on gradient accumulation.
        replicas = self.strategy.num_replicas_in_sync
        batch_gpu, n = self.config.batch_gpu, self.batch // replicas
        if batch_gpu is None or batch_gpu >= n:
            return ""
        return f" (batch_gpu {batch_gpu}: {n // batch_gpu} micro-batches per replica)"

    def startup_lines(self):
        """What runs where: devices, strategy, precision, networks, data."""
        config, info, strategy = self.config, self.info, self.strategy
        devices = ", ".join(strategy.extended.worker_devices)
        replicas = strategy.num_replicas_in_sync
        policy = keras.config.dtype_policy().name
        side = info.resolution
        labels = f"{info.label_size} label columns" if info.label_size else "no labels"
        channels = {1: "grayscale", 3: "RGB"}[info.channels]
        precision = config.mixed_precision
        if config.precision_reason:  # Chosen by auto.
            precision = f"auto -> {precision}: {config.precision_reason}"
        return [
            f"Devices: {devices} ({replicas} replica{'s' * (replicas > 1)}, "
            f"{type(strategy).__name__})",
            f"Precision: {policy} (mixed_precision {precision})",
            f"Preset: {config.preset} ({config.arch}): "
            f"G {parameter_count(self.G):,} parameters, "
            f"D {parameter_count(self.D):,} parameters",
            f"Dataset: {info.path}: {info.num_images:,} images{self._subset()}, "
            f"{side}x{side} {channels}, {labels}",
            f"Training: {config.total_kimg:g} kimg, batch {self.batch}"
            f"{self._micro_batch_line()}, "
            f"loss {config.loss}, lr {config.lr:g}"
            f"{self.regularization.description()}{self.augmentation.description()}",
        ]

    def _next_batch(self, iterator, resolution=None):
        # A bad record is named in one line (file and record index).
        try:
            return next(iterator)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            raise read_error(self.info, e, resolution) from None

    def _reader(self):
        # The level the policy trains now, from where the run is: the order is
        # a function of (seed, images seen), so nothing of it is checkpointed.
        resolution = self.growth.resolution
        if self.iterator is None or resolution != self.reader_resolution:
            dataset = make_dataset(
                self.info,
                self.batch,
                seed=self.config.seed,
                max_images=self.config.max_images,
                data_percentage=self.config.data_percentage,
                resolution=resolution,
                start=self.nimg,
            )
            self.iterator, self.reader_resolution = iter(dataset), resolution
        return self.iterator

    def resume(self, path=None):
        """Restores the given checkpoint, else the newest usable one; returns
        its path."""
        restored = self.checkpointer.restore(path, self.log)
        self.nimg = int(self.state.cur_nimg.numpy())
        self.step_count = int(self.state.step.numpy())
        self.growth.restored(self.nimg)
        self.iterator = None
        # Records of what the resumed steps will redo are written again.
        kimg = self.nimg / 1000
        for records in (self.stats_file, self.stability.file):
            records.drop_after(kimg)
        self.log(f"Resumed from {restored} at kimg {self.nimg / 1000:.3f}.")
        return restored

    @property
    def phase(self):
        """Progressive growing's current phase (see `growth.py`)."""
        return self.growth.phase

    @property
    def prev_lod(self):
        """Progressive growing's lod of the last step (see `growth.py`)."""
        return self.growth.prev_lod

    def save_reals(self):
        # The first images, repeated if there are fewer than the grid holds.
        reals = make_dataset(
            self.info, self.config.grid_images, shuffle=False, cache_mb=0
        )
        reals, _ = self._next_batch(iter(reals))
        path = self.run_dir / "reals.png"
        save_png(image_grid(reals.numpy(), self.grid_columns), path)

    def save_fakes(self, number):
        pyramid = snapshot.generate_in_batches(
            self.Gs, self.grid_latents, self.grid_labels, self.config.batch
        )
        grids = snapshot.save_pyramid_grids(
            pyramid, self.run_dir, number, self.grid_columns
        )
        stability = self.stability.record(pyramid, number)
        with self.writer.as_default(step=number):
            for side, grid in grids.items():
                tf.summary.image(f"fakes/{side}x{side}", grid[np.newaxis], step=number)
            for side, mse in stability.items():
                tf.summary.scalar(f"Stability/mse_{side}x{side}", mse)
        return grids

    def run_metrics(self, checkpoint, cur_nimg):
        """Evaluates the metrics on Gs; logs them to TensorBoard.

        A metric that fails is reported in the log; training goes on."""
        try:
            results = self.evaluate(self.Gs, checkpoint)
        except Exception as e:  # noqa: BLE001 - a metric must not end the run.
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.log(
                f"Metrics at {checkpoint} failed ({type(e).__name__}: {first}); "
                "training goes on. Evaluate the checkpoint later with run_metrics.py."
            )
            return
        with self.writer.as_default(step=cur_nimg // 1000):
            for metric, values in results.items():
                for key, value in values.items():
                    tf.summary.scalar(f"Metrics/{metric}/{key}", value)
        self.writer.flush()

    def _iteration(self):
        config = self.config
        cur_nimg = self.nimg
        g_lr, d_lr = self.growth.update(cur_nimg, self.log)
        self.g_opt.learning_rate.assign(g_lr)
        self.d_opt.learning_rate.assign(d_lr)
        step = tf.constant(self.step_count, tf.int64)
        terms = {}
        reader = self._reader()
        for repeat in range(config.D_repeats):
            batch = self._next_batch(reader, self.reader_resolution)
            # A host constant: lazy regularization reads it without waiting
            # for the device.
            d_step = tf.constant(self.step_count * config.D_repeats + repeat, tf.int64)
            terms.update(self.steps.d_step(batch, d_step))
        terms.update(self.steps.g_step(batch, step))
        beta = config.ema_decay
        if beta is None:
            beta = ema_beta(
                cur_nimg, self.batch, config.G_smoothing_kimg, config.ema_rampup
            )
        self.steps.update_gs(tf.constant(beta, tf.float32))
        self.nimg += self.batch * config.D_repeats  # Official: reals shown to D.
        self.step_count += 1
        return terms

    def _subset(self):
        # The images trained on, where --max_images/--data_percentage cut them.
        config, total = self.config, self.info.num_images
        used = images_used(self.info, config.max_images, config.data_percentage)
        return f" (training on the first {used:,})" if used < total else ""

    def _nonfinite_weights(self):
        # After the update: a checkpoint is written only from finite weights.
        found = []
        for label, network in (("G", self.G), ("D", self.D), ("Gs", self.Gs)):
            for name, (variable, _) in network.official_variable_map().items():
                if not tf.as_dtype(variable.dtype).is_floating:
                    continue
                if not bool(tf.reduce_all(tf.math.is_finite(variable))):
                    found.append(f"{label} weight {name} is not finite")
        return found

    def _end_tick(self, tick, pending, tick_start_time, tick_start_nimg, start_time):
        # `pending`: each step's (terms, global batch) since the last tick.
        config = self.config
        for terms, batch in pending:
            self.stats.report_terms(
                {name: value.numpy() for name, value in terms.items()}, batch
            )
        cur_nimg = self.nimg
        means = self.stats.means()
        bad = [f"{n} is {v}" for n, v in means.items() if not math.isfinite(v)]
        bad = bad or self._nonfinite_weights()
        if bad:
            latest = self.checkpointer.latest
            raise TrainingDiverged(
                f"{bad[0]} at kimg {cur_nimg / 1000:.3f} (tick {tick}); stopped. "
                f"The last good checkpoint is {latest}; resume from it with a "
                "lower learning rate or a stronger R1 penalty.",
                latest,
            )
        now = time.time()
        tick_time = now - tick_start_time
        kimg_done = (cur_nimg - tick_start_nimg) / 1000
        sec_per_kimg = tick_time / max(kimg_done, 1e-9)
        remaining = config.total_kimg - cur_nimg / 1000
        progress = {**self.growth.progress(), **self.augmentation.progress()}
        fields = "".join(f"{name} {value:<5.2f} " for name, value in progress.items())
        peak_memory = peak_memory_gb()
        self.log(
            f"tick {tick:<5d} kimg {cur_nimg / 1000:<8.1f} {fields}"
            f"batch {self.batch:<4d} "
            f"time {format_time(now - start_time):<10s} sec/tick {tick_time:<7.1f} "
            f"sec/kimg {sec_per_kimg:<7.2f} "
            f"ETA {format_time(remaining * sec_per_kimg):<9s} "
            f"peak_mem {peak_memory:.2f}GB"
        )
        g_lr, d_lr = (float(o.learning_rate.numpy()) for o in (self.g_opt, self.d_opt))
        # stylegan2-ada's names where it has the quantity (ADA's p is its
        # `Progress/augment`), ours beside them.
        once = {
            "Progress/tick": tick,
            "Progress/kimg": cur_nimg / 1000,
            "Progress/batch": self.batch,
            "Progress/lr": g_lr,
            "Progress/d_lr": d_lr,
            "Timing/total_sec": now - start_time,
            "Timing/sec_per_tick": tick_time,
            "Timing/sec_per_kimg": sec_per_kimg,
            "Timing/images_per_sec": 1000 / max(sec_per_kimg, 1e-9),
            peak_memory_name(): peak_memory,
        }
        once.update({f"Progress/{name}": value for name, value in progress.items()})
        for name, value in once.items():
            self.stats.report(name, value)
        stats = {nvidia_name(name): entry for name, entry in self.stats.stats().items()}
        self.stats.reset()
        self.stats_file.append({**stats, "timestamp": now})
        with self.writer.as_default(step=cur_nimg // 1000):
            for name, entry in stats.items():
                tf.summary.scalar(name, entry["mean"])
        self.writer.flush()
        return means

    def run(self):
        """Trains to `total_kimg`, a signal, or divergence; returns the last stats."""
        config = self.config
        total_nimg = int(config.total_kimg * 1000)
        start_time = time.time()
        tick = 0
        tick_start_nimg = self.nimg
        tick_start_time = start_time
        pending, means = [], {}
        if not (self.run_dir / "reals.png").exists():
            self.save_reals()
        if tick_start_nimg == 0:
            self.save_fakes(0)
        with StopFlag() as stop:
            while self.nimg < total_nimg and stop.raised is None:
                terms = self._iteration()
                pending.append((terms, self.batch))
                cur_nimg = self.nimg
                done = cur_nimg >= total_nimg
                if cur_nimg < tick_start_nimg + config.tick_kimg * 1000 and not done:
                    if stop.raised is None:
                        continue
                tick += 1
                means = self._end_tick(
                    tick, pending, tick_start_time, tick_start_nimg, start_time
                )
                pending = []
                if tick % config.image_snapshot_ticks == 0 or done:
                    self.save_fakes(cur_nimg // 1000)
                if tick % config.network_snapshot_ticks == 0 or done or stop.raised:
                    self.state.cur_nimg.assign(self.nimg)
                    self.state.step.assign(self.step_count)
                    path = self.checkpointer.save(cur_nimg)
                    self.log(f"Saved checkpoint {path}")
                    if self.evaluate is not None and not stop.raised:
                        self.run_metrics(path, cur_nimg)
                tick_start_nimg, tick_start_time = cur_nimg, time.time()
            self.stopped_by = stop.raised
            if stop.raised:
                kimg = self.nimg / 1000
                self.log(
                    f"{stop.raised}: stopped at kimg {kimg:.1f} with a checkpoint."
                )
        return means
