"""The distributed D and G training steps and the Gs update, as tf.functions.

All randomness of a step is drawn statelessly from `(seed, step, purpose)`
(`seeds.py`), so a resumed run continues exactly. Latents, mirror flips and
augmentations are drawn for the global batch and sliced per replica, so they
do not depend on the number of replicas; noise inputs are drawn per replica.
Each replica's loss is summed over its images and divided by the global batch;
the optimizers sum the replicas' gradients.

A pass of a step is: its `StepContext` for rows of the global batch (a
replica's: `_d_context`, or G's in `_g_replica`), the gradients of its loss
(`_gradients`), one update (`_update`); the rows (indices into the global
batch) say which part of each global-batch draw the images get.

Gradient accumulation (`batch_gpu`, as stylegan2-ada's): a replica's `n`
images are processed `batch_gpu` at a time, one micro-batch after another,
their gradients summed into the pass's one update. Micro-batch `j` of `k = n /
batch_gpu` holds the replica's images `j, j + k, j + 2k, ...`, and each image
keeps the latent, noise, mirror flip, mix factor and augmentation it gets
without accumulation; so MinibatchStdDev's groups (images `b, b + n/G, ...` of
a batch of n, group size G dividing `batch_gpu`) are the same as without, and
an accumulated step equals the plain one up to float32 summation order.
"""

import functools

import tensorflow as tf

from msg_stylegan_tf2.networks.pyramid import uint8_to_float
from msg_stylegan_tf2.training.ema import pair_weights, update_ema
from msg_stylegan_tf2.training.seeds import Purpose, step_seed
from msg_stylegan_tf2.training.stats import SQUARES
from msg_stylegan_tf2.training.step_context import StepContext


def trainable_weights_except(network, frozen_layers):
    """The network's trainable weights but those of `frozen_layers`."""
    frozen = {id(w) for layer in frozen_layers for w in layer.trainable_weights}
    return [w for w in network.trainable_weights if id(w) not in frozen]


def _replica_rows(n):
    # This replica's rows of a global batch: int [n].
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    return replica * n + tf.range(n)


def _rows_of(drawn, rows):
    # The rows (int [n]) of a draw made for the whole global batch.
    return tf.gather(drawn, rows)


def micro_batches(n, batch_gpu):
    """The micro-batches of a replica's `n` images: a list of int `[batch_gpu]`
    indices into them (strided: micro-batch `j` of `k` holds `j, j + k, ...`);
    `[None]` (all at once) when `batch_gpu` is None or >= n.

    Raises:
        ValueError: `batch_gpu` does not divide `n`.
    """
    if batch_gpu is None or batch_gpu >= n:
        return [None]
    if n % batch_gpu:
        raise ValueError(
            f"`batch_gpu={batch_gpu}` must divide the {n} images each replica "
            "processes per step (`batch` / replicas)."
        )
    k = n // batch_gpu
    return [tf.range(j, n, k) for j in range(k)]


def _after(grads):
    # Work created in this scope waits for `grads` (the previous micro-batch's
    # gradients), so micro-batches run one after another and only one
    # micro-batch's activations are alive at a time.
    return tf.control_dependencies([g for g in grads or () if g is not None])


def _sum(dicts):
    # Key by key sum of the micro-batches' dicts (one: itself, unchanged).
    if len(dicts) == 1:
        return dicts[0]
    return {name: tf.add_n([d[name] for d in dicts]) for name in dicts[0]}


def _add(total, grads):
    if total is None:
        return list(grads)
    return [
        a if b is None else b if a is None else a + b
        for a, b in zip(total, grads, strict=True)
    ]


class TrainSteps:
    """D step, G step and Gs update for one G/D pair under a strategy.

    A step's global batch is the batch it gets (divisible by the number of
    replicas); each replica slices its rows, so the data iterator is an
    ordinary one, and ProGAN's phases may change the size. What D sees is the
    state's `augmentation`, R1/R2 and their interval its `regularization`:
    for a lazy one, the D steps it says are due add a second D update, on
    the same reals and fakes, whose loss is R1 and R2 alone.

    Args:
        strategy: the tf.distribute strategy the networks were built under.
        state: TrainingState (networks, optimizers, loss scales, features).
        loss: a `losses.Loss`.
        views: how the losses see G and D, `views(G, D, reals) -> (G, D,
            input_gradient_scale)` (the growth policy's: `growth.py`).
        label_size: 0 for unconditional models.
        mirror_augment: flip reals left-right with probability 1/2.
        seed: base seed of the run.
        jit: compile the steps with XLA.
        freeze_d: D's first blocks (from the highest resolution) that keep
            their weights (Freeze-D).
        batch_gpu: images a replica processes at once; a replica's rows of
            a step are processed in micro-batches of this size, gradients
            accumulated (None: all at once).
    """

    def __init__(
        self,
        strategy,
        state,
        loss,
        views,
        label_size=0,
        mirror_augment=False,
        seed=0,
        jit=False,
        freeze_d=0,
        batch_gpu=None,
    ):
        self.strategy, self.loss, self.views = strategy, loss, views
        self.G, self.D, self.Gs = state.G, state.D, state.Gs
        self.g_opt, self.d_opt = state.g_opt, state.d_opt
        self.g_scaler, self.d_scaler = state.loss_scales
        self.augmentation = state.augmentation
        self.regularization = state.regularization
        self.latent_size = state.G.latent_size
        self.label_size, self.mirror_augment = label_size, mirror_augment
        self.seed = int(seed)
        self.batch_gpu = batch_gpu
        self.d_weights = trainable_weights_except(self.D, self.D.blocks[:freeze_d])
        self.ema_pairs = pair_weights(self.Gs, self.G)
        self._d_function = tf.function(self._d_step, jit_compile=jit or None)
        self._g_function = tf.function(self._g_step, jit_compile=jit or None)
        self.update_gs = tf.function(lambda beta: update_ema(self.ema_pairs, beta))

    def _seed(self, step, purpose, per_replica=False):
        return step_seed(self.seed, step, purpose, per_replica)

    def _inputs(self, images, labels, step, global_batch, rows, latents, mirror):
        # Latents, real images in [-1, 1] (optionally mirrored) and labels of
        # the rows; `latents`, `mirror`: the purposes of their draws.
        drawn = tf.random.stateless_normal(
            [global_batch, self.latent_size], self._seed(step, latents)
        )
        latents = _rows_of(drawn, rows)
        reals = uint8_to_float(images)
        if self.mirror_augment:
            seed = self._seed(step, mirror)
            flip = _rows_of(tf.random.stateless_uniform([global_batch], seed), rows)
            flip = flip < 0.5
            reals = tf.where(flip[:, None, None, None], tf.reverse(reals, [2]), reals)
        labels = tf.cast(labels, tf.float32) if self.label_size else None
        return latents, reals, labels

    def _augmenter(self, step, purpose, global_batch, rows):
        # What D sees in one pass: the augmentation's draws for the pass.
        return self.augmentation.augmenter(
            self._seed(step, purpose), global_batch, rows
        )

    def _shares(self, terms, global_batch):
        # This replica's share of each global-batch mean, and of the mean of
        # its squares (`stats.SQUARES`: a tick's standard deviation over images).
        shares = {}
        for name, value in terms.items():
            shares[name] = tf.reduce_sum(value) / global_batch
            shares[name + SQUARES] = tf.reduce_sum(tf.square(value)) / global_batch
        return shares

    def _loss_scale(self, scaler):
        return 1.0 if scaler is None else tf.identity(scaler.scale)

    def _gradients(self, loss_of, weights, scaler, global_batch):
        """Gradients of one replica's loss, `loss_of() -> (loss [n], terms)`
        (run under the tape), divided by the global batch.

        Returns:
            `(grads, finite, terms)`: grads as `weights` (None where the loss
            does not depend on one); finite: None without loss scaling.
        """
        with tf.GradientTape() as tape:
            loss, terms = loss_of()
            total = tf.reduce_sum(loss) / global_batch
        if scaler is None:
            return tape.gradient(total, weights), None, terms
        grads, finite = scaler.gradients(tape, total, weights)
        return grads, finite, terms

    def _update(self, optimizer, grads, weights, scaler, finite):
        # One optimizer update from `_gradients`' grads (and its loss scale's).
        if scaler is not None:
            scaler.update(finite)
        # Layers that a growing network does not use yet have no gradient.
        pairs = [(g, w) for g, w in zip(grads, weights, strict=True) if g is not None]
        optimizer.apply_gradients(pairs)

    def _accumulate(self, optimizer, weights, scaler, passes, global_batch):
        """One update from the summed gradients of the micro-batches' `passes`,
        each `() -> loss_of` (its context made when it runs, after the previous
        pass's gradients); returns each pass's terms."""
        total, finite, terms = None, None, []
        for make_loss_of in passes:
            with _after(total):
                grads, ok, part = self._gradients(
                    make_loss_of(), weights, scaler, global_batch
                )
            total = _add(total, grads)
            finite = ok if finite is None else tf.logical_and(finite, ok)
            terms.append(part)
        if len(passes) > 1 and finite is not None:
            # An overflow in any micro-batch zeroes the step's update.
            total = [
                None if g is None else tf.where(finite, g, tf.zeros_like(g))
                for g in total
            ]
        self._update(optimizer, total, weights, scaler, finite)
        return terms

    def _parts(self, images, labels, rows, noise_seed):
        """A replica's micro-batches: `(images, labels, rows, noise)` each, where
        `noise` is G's noise keyword: the replica's seed, or with several
        micro-batches the rows of the noise that seed draws for all its images."""
        n = int(images.shape[0])
        indices = micro_batches(n, self.batch_gpu)
        if indices == [None]:
            return [(images, labels, rows, {"noise_seed": noise_seed})]
        draw_noise = getattr(getattr(self.G, "synthesis", None), "draw_noise", None)
        maps = None if draw_noise is None else draw_noise(n, noise_seed)
        parts = []
        for index in indices:
            noise = {"noise_seed": noise_seed}  # For a G without noise inputs.
            if maps:
                noise = {"noise": [tf.gather(m, index) for m in maps]}
            part_labels = tf.gather(labels, index)
            parts.append(
                (tf.gather(images, index), part_labels, _rows_of(rows, index), noise)
            )
        return parts

    def _d_context(self, step, global_batch, images, labels, rows, noise):
        # D's main pass on the images of `rows`: fakes, mixes, augmentation.
        latents, reals, labels = self._inputs(
            images,
            labels,
            step,
            global_batch,
            rows,
            Purpose.D_LATENTS,
            Purpose.D_MIRROR,
        )
        G, D, gradient_scale = self.views(self.G, self.D, reals)
        fakes = G(latents, labels, training=True, **noise)
        mixes = tf.random.stateless_uniform(
            [global_batch], self._seed(step, Purpose.D_MIX)
        )
        r1_gamma, r2_gamma = self.regularization.main_gammas()
        return StepContext(
            D,
            reals,
            fakes,
            labels,
            augment=self._augmenter(step, Purpose.D_AUGMENT, global_batch, rows),
            r1_gamma=r1_gamma,
            r2_gamma=r2_gamma,
            loss_scale=self._loss_scale(self.d_scaler),
            mix_factors=_rows_of(mixes, rows),
            input_gradient_scale=gradient_scale,
        )

    def _d_replica(self, images, labels, step, global_batch, rows, regularize=False):
        noise_seed = self._seed(step, Purpose.D_NOISE, per_replica=True)
        parts = self._parts(images, labels, rows, noise_seed)
        contexts = []  # (context, rows) of each micro-batch's main pass.

        def main_pass(part):
            def make_loss_of():
                ctx = self._d_context(step, global_batch, *part)
                contexts.append((ctx, part[2]))
                return functools.partial(self.loss.d_loss, ctx)

            return make_loss_of

        d_pass = functools.partial(
            self._accumulate, self.d_opt, self.d_weights, self.d_scaler
        )
        terms = d_pass([main_pass(part) for part in parts], global_batch)
        shares = _sum([self._shares(part, global_batch) for part in terms])
        shares.update(_sum([self.augmentation.replica_sums(part) for part in terms]))
        if regularize:
            # Lazy regularization: D as the main pass saw it, after its
            # update, with an augmentation draw of its own.
            r1_gamma, r2_gamma = self.regularization.lazy_gammas()

            def penalty_pass(ctx, rows):
                def make_loss_of():
                    augment = self._augmenter(
                        step, Purpose.D_REG_AUGMENT, global_batch, rows
                    )
                    penalty = ctx.replace(
                        augment=augment,
                        r1_gamma=r1_gamma,
                        r2_gamma=r2_gamma,
                        loss_scale=self._loss_scale(self.d_scaler),
                    )
                    return functools.partial(self.loss.d_penalties, penalty)

                return make_loss_of

            passes = [penalty_pass(ctx, rows) for ctx, rows in contexts]
            terms = d_pass(passes, global_batch)
            shares.update(_sum([self._shares(part, global_batch) for part in terms]))
        return shares

    def _g_replica(self, images, labels, step, global_batch, rows):
        noise_seed = self._seed(step, Purpose.G_NOISE, per_replica=True)

        def g_pass(images, labels, rows, noise):
            def make_loss_of():
                latents, reals, part_labels = self._inputs(
                    images,
                    labels,
                    step,
                    global_batch,
                    rows,
                    Purpose.G_LATENTS,
                    Purpose.G_MIRROR,
                )
                G, D, _ = self.views(self.G, self.D, reals)
                augment = self._augmenter(step, Purpose.G_AUGMENT, global_batch, rows)

                def loss_of():
                    # G's forward pass under the tape: the fakes carry its gradient.
                    fakes = G(latents, part_labels, training=True, **noise)
                    ctx = StepContext(D, reals, fakes, part_labels, augment=augment)
                    return self.loss.g_loss(ctx)

                return loss_of

            return make_loss_of

        passes = [
            g_pass(*part) for part in self._parts(images, labels, rows, noise_seed)
        ]
        weights, scaler = self.G.trainable_weights, self.g_scaler
        terms = self._accumulate(self.g_opt, weights, scaler, passes, global_batch)
        return _sum([self._shares(part, global_batch) for part in terms])

    def _run(self, fn, batch, step):
        images, labels = batch
        global_batch = int(images.shape[0])
        n = global_batch // self.strategy.num_replicas_in_sync

        def replica_fn(images, labels, step):
            # Each replica trains on its rows of the global batch.
            rows = _replica_rows(n)
            images, labels = _rows_of(images, rows), _rows_of(labels, rows)
            return fn(images, labels, step, global_batch, rows)

        per_replica = self.strategy.run(replica_fn, args=(images, labels, step))
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    def _d_step(self, batch, step, regularize):
        replica_fn = functools.partial(self._d_replica, regularize=regularize)
        terms = self._run(replica_fn, batch, step)
        return self.augmentation.after_d_step(terms, int(batch[0].shape[0]))

    def _g_step(self, batch, step):
        return self._run(self._g_replica, batch, step)

    def d_step(self, batch, step):
        """One D step on the global `batch` (uint8 images, labels).

        `step` is the D step's index (an int64 scalar, eager); with lazy
        regularization, the steps it says are due (`Regularization.due`) add
        the penalties' update (and their terms).

        Returns:
            `{term name: global mean}` over the batch's images, and for each
            per-image term `{name + stats.SQUARES: global mean of squares}`.
        """
        # A Python bool: one trace with the penalties' update, one without.
        regularize = self.regularization.due(int(step))
        return self._d_function(batch, step, regularize)

    def g_step(self, batch, step):
        """One G step (same arguments as `d_step`)."""
        return self._g_function(batch, step)
