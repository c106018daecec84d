"""The training loop: data, networks, optimizers, ticks, snapshots, resume, guards."""

import json
import math
import resource
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from datasets.reader import describe, make_dataset
from dnnlib.image_io import image_grid, save_png
from msg_stylegan_tf2.fade import split_lod
from msg_stylegan_tf2.losses import make_loss
from msg_stylegan_tf2.networks import DISCRIMINATORS, GENERATORS
from msg_stylegan_tf2.training import snapshot
from msg_stylegan_tf2.training.loss_scale import DynamicLossScale
from msg_stylegan_tf2.training.schedule import (
    ema_beta,
    learning_rate,
    progressive_phase,
)
from msg_stylegan_tf2.training.stats import default_collector
from msg_stylegan_tf2.training.steps import TrainSteps
from msg_stylegan_tf2.training.strategy import make_strategy

PRECISION_POLICIES = {
    "off": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
}


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the message says where and what to do."""


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between steps."""

    def __init__(self):
        self.raised = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # Not the main thread.
                pass
        return self

    def _handle(self, signum, frame):
        if self.raised is not None:  # Second Ctrl-C: stop now.
            raise KeyboardInterrupt
        self.raised = signal.Signals(signum).name

    def __exit__(self, *args):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _optimizer(config):
    optimizer = keras.optimizers.Adam(
        config.lr,
        beta_1=config.adam_beta1,
        beta_2=config.adam_beta2,
        epsilon=config.adam_epsilon,
    )
    return optimizer


def build_state(config, strategy, info):
    """Networks, optimizers (built) and progress counters under the strategy."""
    keras.config.set_dtype_policy(PRECISION_POLICIES[config.mixed_precision])
    keras.utils.set_random_seed(config.seed)  # Same seed, same initial weights.
    g_cls = GENERATORS[config.arch]
    with strategy.scope():
        G, Gs = g_cls(**config.G_kwargs), g_cls(**config.G_kwargs)
        D = DISCRIMINATORS[config.arch](**config.D_kwargs)
        for model in (G, Gs, D):
            model.build()
        g_opt, d_opt = _optimizer(config), _optimizer(config)
        g_opt.build(G.trainable_weights)
        d_opt.build(D.trainable_weights)
        cur_nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="cur_nimg")
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        scales = (None, None)
        if config.mixed_precision == "fp16":
            scales = (DynamicLossScale(), DynamicLossScale())
    for target, source in zip(Gs.weights, G.weights, strict=True):
        target.assign(source)
    return G, D, Gs, g_opt, d_opt, cur_nimg, step, scales


def reset_optimizer_state(optimizer):
    """Zeroes an optimizer's moments and step count (official
    `reset_optimizer_state`, done by ProGAN when layers are added)."""
    for variable in optimizer.variables:
        if variable.name != "learning_rate":
            variable.assign(tf.zeros_like(variable))


def _lod_changed(lod, previous):
    return math.floor(lod) != math.floor(previous) or math.ceil(lod) != math.ceil(
        previous
    )


def _format_time(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def _peak_memory_gb():
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_memory_info(gpus[0].name)["peak"] / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def load_metric_networks(config):
    """Loads what `config.metrics` need (the Inception graph, or None), so that
    a missing or wrong file stops a run before it starts.

    Raises:
        ValueError: one line naming what is missing and what to do.
    """
    from metrics.inception import InceptionNetwork
    from metrics.names import INCEPTION_KINDS, parse_metric

    specs = [parse_metric(name) for name in config.metrics]
    if any(spec.kind in INCEPTION_KINDS for spec in specs):
        return InceptionNetwork.load(
            config.inception, unverified=config.inception_unverified
        )
    return None


class Trainer:
    """Runs one training run in `run_dir` (see DESIGN.md for its layout).

    Args:
        config: TrainingConfig.
        run_dir: the run directory (exists; holds training_options.json).
        log: a callable taking one line (prints and appends to log.txt).
        strategy: a strategy made at start-up (MultiWorkerMirroredStrategy must
            exist before any other TensorFlow op); default: from the config.
    """

    def __init__(self, config, run_dir, log=print, strategy=None):
        self.config, self.run_dir, self.log = config, run_dir, log
        self.strategy = strategy or make_strategy(config.strategy)
        self.info = describe(config.dataset)
        self.num_levels = self.info.resolution_log2 - 1
        state = build_state(config, self.strategy, self.info)
        self.G, self.D, self.Gs, self.g_opt, self.d_opt = state[:5]
        self.cur_nimg, self.step, self.loss_scales = state[5:]
        # Progress lives in Python between steps (reading a variable would wait
        # for the device); the variables are set just before each checkpoint.
        self.nimg, self.step_count = 0, 0
        self.progressive = config.sched is not None
        if self.progressive and self.info.label_size:
            raise ValueError(
                f"{config.dataset}: has labels, but progressive growing trains "
                "unconditional models only (ProGAN's AC-GAN terms are not built)."
            )
        self.prev_lod = -1.0  # Official: the optimizers reset on the first step.
        self.phase = None
        if self.progressive:
            self.phase = self._phase(0)
            self._set_lod(self.phase.lod)
        if config.batch % self.strategy.num_replicas_in_sync:
            raise ValueError(
                f"--batch={config.batch} must be divisible by the number of replicas "
                f"({self.strategy.num_replicas_in_sync})."
            )
        self.iterator = None  # Made at the first step, where resume left off.
        self.checkpointer = self._make_checkpointer()
        latent_size = self.G.latent_size
        self.steps = TrainSteps(
            self.strategy,
            self.G,
            self.D,
            self.Gs,
            make_loss(config.loss, config.r1_gamma, config.r2_gamma),
            self.g_opt,
            self.d_opt,
            latent_size,
            self.info.label_size,
            config.mirror_augment,
            config.seed,
            config.jit,
            self.loss_scales,
            self.progressive,
        )
        rng = np.random.RandomState(config.seed)
        self.grid_latents = rng.randn(config.grid_images, latent_size).astype(
            np.float32
        )
        self.grid_labels = None
        if self.info.label_size:
            rows = rng.randint(0, len(self.info.labels), config.grid_images)
            self.grid_labels = self.info.labels[rows]
        self.grid_columns = int(math.ceil(math.sqrt(config.grid_images)))
        self.writer = tf.summary.create_file_writer(str(run_dir))
        self.stats = default_collector()
        self.inception = None
        self.previous_snapshot = None

    def _phase(self, cur_nimg):
        # ProGAN's schedule at cur_nimg; base learning rates from the options.
        config = self.config
        return progressive_phase(
            cur_nimg,
            self.info.resolution_log2,
            self.strategy.num_replicas_in_sync,
            G_lrate_base=config.g_lr or config.lr,
            D_lrate_base=config.d_lr or config.lr,
            **config.sched,
        )

    @property
    def batch(self):
        """The global minibatch of the current step."""
        return self.phase.minibatch if self.progressive else self.config.batch

    def _make_iterator(self):
        # Progressive growing reads the current resolution's level, as ProGAN.
        resolution = self.phase.resolution if self.progressive else None
        dataset = make_dataset(
            self.info,
            self.batch,
            seed=self.config.seed,
            max_images=self.config.max_images,
            data_percentage=self.config.data_percentage,
            resolution=resolution,
            start=self.nimg,  # The order is a function of (seed, images seen).
        )
        return iter(dataset)

    def _make_checkpointer(self):
        # Variables only: the data reader is repositioned from cur_nimg.
        return snapshot.Checkpointer(
            self.run_dir / "checkpoints",
            max_to_keep=self.config.keep_checkpoints,
            G=snapshot.network_variables(self.G),
            D=snapshot.network_variables(self.D),
            Gs=snapshot.network_variables(self.Gs),
            g_opt=snapshot.optimizer_variables(self.g_opt),
            d_opt=snapshot.optimizer_variables(self.d_opt),
            cur_nimg=self.cur_nimg,
            step=self.step,
            **{
                f"{name}_loss_scale": tf.train.Checkpoint(
                    scale=scaler.scale, good_steps=scaler.good_steps
                )
                for name, scaler in zip("gd", self.loss_scales, strict=True)
                if scaler is not None
            },
        )

    def resume(self, path=None):
        """Restores the latest (or a given) checkpoint; returns its path."""
        restored = self.checkpointer.restore(path, self.log)
        self.nimg, self.step_count = int(self.cur_nimg.numpy()), int(self.step.numpy())
        if self.progressive:
            self.phase = self._phase(self.nimg)
            self.prev_lod = float(self.G.lod.numpy())
        self.iterator = None
        self.log(f"Resumed from {restored} at kimg {self.nimg / 1000:.3f}.")
        return restored

    def save_reals(self):
        images = []
        for batch_images, _ in make_dataset(self.info, 8, shuffle=False, repeat=False):
            images.append(batch_images.numpy())
            if sum(len(x) for x in images) >= self.config.grid_images:
                break
        reals = np.concatenate(images)[: self.config.grid_images]
        save_png(image_grid(reals, self.grid_columns), self.run_dir / "reals.png")

    def save_fakes(self, number):
        pyramid = snapshot.generate_in_batches(
            self.Gs, self.grid_latents, self.grid_labels, self.config.batch
        )
        grids = snapshot.save_pyramid_grids(
            pyramid, self.run_dir, number, self.grid_columns
        )
        stability = self.record_stability(pyramid, number)
        with self.writer.as_default(step=number):
            for side, grid in grids.items():
                tf.summary.image(f"fakes/{side}x{side}", grid[np.newaxis], step=number)
            for side, mse in stability.items():
                tf.summary.scalar(f"Stability/mse_{side}x{side}", mse)
        return grids

    def record_stability(self, pyramid, number):
        """The paper's stability measure: per resolution, the MSE between the
        fixed-latent images of this snapshot and the previous one (values in
        [-1, 1]); appended to `stability.jsonl`. Returns `{side: mse}`."""
        current = [np.clip(level, -1.0, 1.0) for level in pyramid]
        previous, self.previous_snapshot = self.previous_snapshot, current
        if previous is None:
            return {}
        mse = {
            int(now.shape[1]): float(np.mean(np.square(now - before)))
            for now, before in zip(current, previous, strict=True)
        }
        record = {"kimg": number, "mse": {f"{k}x{k}": v for k, v in mse.items()}}
        with open(self.run_dir / "stability.jsonl", "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        return mse

    def run_metrics(self, checkpoint, cur_nimg):
        """Evaluates `config.metrics` on Gs; logs to TensorBoard and jsonl.

        A metric that fails is reported in the log; training goes on."""
        try:
            self._run_metrics(checkpoint, cur_nimg)
        except Exception as e:  # noqa: BLE001 - a metric must not end the run.
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.log(
                f"Metrics at {checkpoint} failed ({type(e).__name__}: {first}); "
                "training goes on. Evaluate the checkpoint later with run_metrics.py."
            )

    def _run_metrics(self, checkpoint, cur_nimg):
        from metrics.names import parse_metric
        from metrics.runner import evaluate_and_record, real_batches

        specs = [parse_metric(name) for name in self.config.metrics]
        if self.inception is None:
            self.inception = load_metric_networks(self.config)
        batches, info = real_batches(
            self.config.dataset, self.config.batch, self.config.mirror_augment
        )
        results = evaluate_and_record(
            self.Gs,
            specs,
            batches,
            info.labels,
            self.run_dir,
            checkpoint,
            batch=self.config.batch,
            log=self.log,
            inception=self.inception,
        )
        with self.writer.as_default(step=cur_nimg // 1000):
            for metric, values in results.items():
                for key, value in values.items():
                    tf.summary.scalar(f"Metrics/{metric}/{key}", value)
        self.writer.flush()

    def _set_lod(self, lod):
        for network in (self.G, self.Gs, self.D):
            network.lod.assign(lod)

    def _grow(self):
        """ProGAN's schedule for this step: lod, phase, optimizer resets.

        Returns:
            `(G_lrate, D_lrate, alpha)`.
        """
        phase = self._phase(self.nimg)
        if phase.resolution != self.phase.resolution:
            self.phase = phase
            self.iterator = None
            side = phase.resolution
            self.log(
                f"Growing to {side}x{side} at kimg {self.nimg / 1000:.1f} "
                f"(minibatch {phase.minibatch})."
            )
        self.phase = phase
        if phase.lod != self.prev_lod:  # Constant while a resolution trains.
            if self.config.reset_opt_for_new_lod and _lod_changed(
                phase.lod, self.prev_lod
            ):
                reset_optimizer_state(self.g_opt)
                reset_optimizer_state(self.d_opt)
            self._set_lod(phase.lod)
            self.prev_lod = phase.lod
        return phase.G_lrate, phase.D_lrate, split_lod(phase.lod)[1]

    def _iteration(self):
        config = self.config
        cur_nimg = self.nimg
        g_base, d_base = config.g_lr or config.lr, config.d_lr or config.lr
        alpha = 0.0
        if self.progressive:
            g_base, d_base, alpha = self._grow()
        g_lr, d_lr = (
            learning_rate(cur_nimg, base, config.lrate_rampup_kimg)
            for base in (g_base, d_base)
        )
        self.g_opt.learning_rate.assign(g_lr)
        self.d_opt.learning_rate.assign(d_lr)
        step = tf.constant(self.step_count, tf.int64)
        terms = {}
        if self.iterator is None:
            self.iterator = self._make_iterator()
        for repeat in range(config.D_repeats):
            batch = next(self.iterator)
            d_step = step * config.D_repeats + repeat
            terms.update(self.steps.d_step(batch, d_step, alpha))
        terms.update(self.steps.g_step(batch, step, alpha))
        beta = config.ema_decay
        if beta is None:
            beta = ema_beta(
                cur_nimg, self.batch, config.G_smoothing_kimg, config.ema_rampup
            )
        self.steps.update_gs(tf.constant(beta, tf.float32))
        self.nimg += self.batch * config.D_repeats  # Official: reals shown to D.
        self.step_count += 1
        return terms

    def _end_tick(self, tick, pending, tick_start_time, tick_start_nimg, start_time):
        config = self.config
        for terms in pending:
            for name, value in terms.items():
                self.stats.report(name, value.numpy())
        means = self.stats.means()
        self.stats.reset()
        cur_nimg = self.nimg
        bad = [f"{n} is {v}" for n, v in means.items() if not math.isfinite(v)]
        bad = bad or self._nonfinite_weights()
        if bad:
            raise TrainingDiverged(
                f"{bad[0]} at kimg {cur_nimg / 1000:.3f} (tick {tick}); "
                f"stopped. The last good checkpoint is {self.checkpointer.latest}; "
                "resume from it with a lower --lr or a higher --r1_gamma."
            )
        now = time.time()
        tick_time = now - tick_start_time
        kimg_done = (cur_nimg - tick_start_nimg) / 1000
        sec_per_kimg = tick_time / max(kimg_done, 1e-9)
        remaining = config.total_kimg - cur_nimg / 1000
        lod = f"lod {self.phase.lod:<5.2f} " if self.progressive else ""
        self.log(
            f"tick {tick:<5d} kimg {cur_nimg / 1000:<8.1f} {lod}"
            f"batch {self.batch:<4d} "
            f"time {_format_time(now - start_time):<10s} sec/tick {tick_time:<7.1f} "
            f"sec/kimg {sec_per_kimg:<7.2f} "
            f"ETA {_format_time(remaining * sec_per_kimg):<9s} "
            f"peak_mem {_peak_memory_gb():.2f}GB"
        )
        with self.writer.as_default(step=cur_nimg // 1000):
            for name, value in means.items():
                tf.summary.scalar(name, value)
            tf.summary.scalar("Progress/lr", self.g_opt.learning_rate.numpy())
            tf.summary.scalar("Progress/minibatch", self.batch)
            if self.progressive:
                tf.summary.scalar("Progress/lod", self.phase.lod)
            tf.summary.scalar("Progress/d_lr", self.d_opt.learning_rate.numpy())
            tf.summary.scalar("Timing/images_per_sec", 1000 / max(sec_per_kimg, 1e-9))
            tf.summary.scalar("Timing/sec_per_kimg", sec_per_kimg)
        self.writer.flush()
        return means

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
        with _StopFlag() as stop:
            while self.nimg < total_nimg and stop.raised is None:
                terms = self._iteration()
                pending.append(terms)
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
                    self.cur_nimg.assign(self.nimg)
                    self.step.assign(self.step_count)
                    path = self.checkpointer.save(cur_nimg)
                    self.log(f"Saved checkpoint {path}")
                    if config.metrics and not stop.raised:
                        self.run_metrics(path, cur_nimg)
                tick_start_nimg, tick_start_time = cur_nimg, time.time()
            if stop.raised:
                kimg = self.nimg / 1000
                self.log(
                    f"{stop.raised}: stopped at kimg {kimg:.1f} with a checkpoint; "
                    f"continue with --resume={self.run_dir}"
                )
        return means
