"""The distributed D and G training steps and the Gs update, as tf.functions.

All randomness of a step is drawn statelessly from `(seed, step)`, so a resumed
run continues exactly. Latents and mirror flips are drawn for the global batch
and sliced per replica, so they do not depend on the number of replicas; noise
inputs are drawn per replica. Each replica's loss is summed over its images and
divided by the global batch; the optimizers sum the replicas' gradients.
"""

import tensorflow as tf

from msg_stylegan_tf2.fade import input_gradient_scale
from msg_stylegan_tf2.pyramid import uint8_to_float
from msg_stylegan_tf2.training.ema import pair_weights, update_ema

_fold_in = tf.random.experimental.stateless_fold_in


class _GrowingG:
    """G as the losses see it while growing: a one-level pyramid `[image]`."""

    def __init__(self, G, resolution, alpha):
        self.G, self.resolution, self.alpha = G, resolution, alpha

    def __call__(self, latents, labels=None, training=False, noise_seed=None):
        return [self.G.grow(latents, labels, self.resolution, self.alpha)]


class _GrowingD:
    """D as the losses see it while growing: scores of a one-level pyramid.

    Gradient penalties scale their input gradients by `input_gradient_scale`,
    so they equal the official ones taken at full resolution.
    """

    def __init__(self, D, alpha, image):
        self.D, self.alpha = D, alpha
        self.input_gradient_scale = input_gradient_scale(D.resolution_log2, image)

    def __call__(self, images, labels=None):
        return self.D.grow(images[-1], self.alpha)


class TrainSteps:
    """D step, G step and Gs update for one G/D pair under a strategy.

    A step's global batch is the batch it gets (divisible by the number of
    replicas); each replica slices its rows, so the data iterator is an
    ordinary, checkpointable one, and ProGAN's phases may change the size.

    Args:
        strategy: the tf.distribute strategy the networks were built under.
        G, D, Gs: generator, discriminator, moving-average generator.
        loss: a `losses.Loss`.
        g_opt, d_opt: Keras optimizers.
        latent_size: G's latent width.
        label_size: 0 for unconditional models.
        mirror_augment: flip reals left-right with probability 1/2.
        seed: base seed of the run.
        jit: compile the steps with XLA.
        loss_scales: `(G, D)` DynamicLossScale for float16, else None.
        progressive: ProGAN's growing: G and D run at the resolution of the
            batch, faded by the `alpha` each step gets (see `fade.py`).
    """

    def __init__(
        self,
        strategy,
        G,
        D,
        Gs,
        loss,
        g_opt,
        d_opt,
        latent_size,
        label_size=0,
        mirror_augment=False,
        seed=0,
        jit=False,
        loss_scales=(None, None),
        progressive=False,
    ):
        self.strategy, self.G, self.D, self.Gs, self.loss = strategy, G, D, Gs, loss
        self.g_opt, self.d_opt = g_opt, d_opt
        self.latent_size, self.progressive = latent_size, progressive
        self.label_size, self.mirror_augment = label_size, mirror_augment
        self.seed = int(seed)
        self.g_scaler, self.d_scaler = loss_scales
        self.ema_pairs = pair_weights(Gs, G)
        self._d_function = tf.function(self._d_step, jit_compile=jit or None)
        self._g_function = tf.function(self._g_step, jit_compile=jit or None)
        self.update_gs = tf.function(lambda beta: update_ema(self.ema_pairs, beta))

    def _seed(self, step, purpose, per_replica=False):
        # Seed of one purpose in one step (and replica).
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        seed = _fold_in(seed, purpose)
        if per_replica:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            seed = _fold_in(seed, replica)
        return seed

    def _global_slice(self, draw, n):
        # This replica's rows of a draw made for the whole global batch.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return draw[replica * n : (replica + 1) * n]

    def _inputs(self, images, labels, step, purpose, global_batch):
        # Latents, real images in [-1, 1] (optionally mirrored) and labels.
        n = tf.shape(images)[0]
        latents = tf.random.stateless_normal(
            [global_batch, self.latent_size], self._seed(step, purpose)
        )
        latents = self._global_slice(latents, n)
        reals = uint8_to_float(images)
        if self.mirror_augment:
            draw = tf.random.stateless_uniform(
                [global_batch], self._seed(step, purpose + 1)
            )
            flip = self._global_slice(draw, n) < 0.5
            reals = tf.where(flip[:, None, None, None], tf.reverse(reals, [2]), reals)
        labels = tf.cast(labels, tf.float32) if self.label_size else None
        return latents, reals, labels

    def _per_replica_share(self, terms, global_batch):
        # This replica's share of each global-batch mean.
        return {k: tf.reduce_sum(v) / global_batch for k, v in terms.items()}

    def _apply(self, optimizer, tape, total, weights, scaler):
        if scaler is None:
            grads = tape.gradient(total, weights)
        else:
            grads, finite = scaler.gradients(tape, total, weights)
            scaler.update(finite)
        # Layers that a growing network does not use yet have no gradient.
        pairs = [(g, w) for g, w in zip(grads, weights, strict=True) if g is not None]
        optimizer.apply_gradients(pairs)

    def _loss_scale(self, scaler):
        return 1.0 if scaler is None else tf.identity(scaler.scale)

    def _networks(self, reals, alpha):
        # G and D as the losses call them: whole pyramids, or growing views.
        if not self.progressive:
            return self.G, self.D
        side = int(reals.shape[1])
        return _GrowingG(self.G, side, alpha), _GrowingD(self.D, alpha, reals)

    def _d_replica(self, images, labels, step, alpha, global_batch):
        latents, reals, labels = self._inputs(images, labels, step, 0, global_batch)
        G, D = self._networks(reals, alpha)
        fakes = G(latents, labels, training=True, noise_seed=self._seed(step, 2, True))
        draw = tf.random.stateless_uniform([global_batch], self._seed(step, 3))
        mix_factors = self._global_slice(draw, tf.shape(images)[0])
        with tf.GradientTape() as tape:
            loss, terms = self.loss.d_loss(
                D,
                reals,
                fakes,
                labels,
                self._loss_scale(self.d_scaler),
                mix_factors,
            )
            total = tf.reduce_sum(loss) / global_batch
        self._apply(self.d_opt, tape, total, self.D.trainable_weights, self.d_scaler)
        return self._per_replica_share(terms, global_batch)

    def _g_replica(self, images, labels, step, alpha, global_batch):
        latents, reals, labels = self._inputs(images, labels, step, 10, global_batch)
        G, D = self._networks(reals, alpha)
        with tf.GradientTape() as tape:
            fakes = G(
                latents, labels, training=True, noise_seed=self._seed(step, 12, True)
            )
            loss, terms = self.loss.g_loss(D, reals, fakes, labels)
            total = tf.reduce_sum(loss) / global_batch
        self._apply(self.g_opt, tape, total, self.G.trainable_weights, self.g_scaler)
        return self._per_replica_share(terms, global_batch)

    def _run(self, fn, batch, step, alpha):
        images, labels = batch
        global_batch = int(images.shape[0])
        n = global_batch // self.strategy.num_replicas_in_sync

        def replica_fn(images, labels, step, alpha):
            # Each replica trains on its rows of the global batch.
            return fn(
                self._global_slice(images, n),
                self._global_slice(labels, n),
                step,
                alpha,
                global_batch,
            )

        per_replica = self.strategy.run(replica_fn, args=(images, labels, step, alpha))
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    def _d_step(self, batch, step, alpha):
        return self._run(self._d_replica, batch, step, alpha)

    def _g_step(self, batch, step, alpha):
        return self._run(self._g_replica, batch, step, alpha)

    def d_step(self, batch, step, alpha=0.0):
        """One D step on the global `batch`; `alpha` fades (progressive only).

        Returns:
            `{term name: global mean}`.
        """
        return self._d_function(batch, step, tf.constant(alpha, tf.float32))

    def g_step(self, batch, step, alpha=0.0):
        """One G step (same arguments as `d_step`)."""
        return self._g_function(batch, step, tf.constant(alpha, tf.float32))
