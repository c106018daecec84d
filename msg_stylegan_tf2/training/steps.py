"""The distributed D and G training steps and the Gs update, as tf.functions.

All randomness of a step is drawn statelessly from `(seed, step)`, so a resumed
run continues exactly. Latents and mirror flips are drawn for the global batch
and sliced per replica, so they do not depend on the number of replicas; noise
inputs are drawn per replica. Each replica's loss is summed over its images and
divided by the global batch; the optimizers sum the replicas' gradients.
"""

import functools

import tensorflow as tf

from msg_stylegan_tf2.choices import AUGMENTS
from msg_stylegan_tf2.networks.pyramid import uint8_to_float
from msg_stylegan_tf2.training.augment import AugmentedD, draw, slice_draw
from msg_stylegan_tf2.training.ema import pair_weights, update_ema
from msg_stylegan_tf2.training.stats import SQUARES

_fold_in = tf.random.experimental.stateless_fold_in


def trainable_weights_except(network, frozen_layers):
    """The network's trainable weights but those of `frozen_layers`."""
    frozen = {id(w) for layer in frozen_layers for w in layer.trainable_weights}
    return [w for w in network.trainable_weights if id(w) not in frozen]


class TrainSteps:
    """D step, G step and Gs update for one G/D pair under a strategy.

    A step's global batch is the batch it gets (divisible by the number of
    replicas); each replica slices its rows, so the data iterator is an
    ordinary one, and ProGAN's phases may change the size.

    Args:
        strategy: the tf.distribute strategy the networks were built under.
        state: TrainingState (networks, optimizers, loss scales).
        loss: a `losses.Loss`.
        views: how the losses see G and D, `views(G, D, reals) -> (G, D,
            input_gradient_scale)` (the growth policy's: `growth.py`).
        label_size: 0 for unconditional models.
        mirror_augment: flip reals left-right with probability 1/2.
        seed: base seed of the run.
        jit: compile the steps with XLA.
        freeze_d: D's first blocks (from the highest resolution) that keep
            their weights (Freeze-D).
        augment: "none", "diffaug" or "ada": what D sees in both steps
            (`augment.py`); draws are made for the global batch and sliced.
        ada: the `AdaptiveProbability` for "ada" (its p gates each operation;
            every D step adds its real scores' signs).
        r1_interval: lazy regularization (StyleGAN2) every N D steps: for
            N > 1 the D step leaves R1 and R2 out, and on the D steps whose
            index is a multiple of N a second D update follows, on the same
            reals and fakes, whose loss is R1 and R2 with N times their
            gammas (`Loss.d_penalties`). 1: R1 and R2 in every D step.

    Raises:
        ValueError: `r1_interval` < 1, or > 1 with neither R1 nor R2 on.
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
        augment="none",
        ada=None,
        r1_interval=1,
    ):
        if augment not in AUGMENTS:
            raise ValueError(
                f"`augment` must be one of {AUGMENTS}. Received: {augment!r}"
            )
        if (augment == "ada") != (ada is not None):
            raise ValueError("`ada` is given exactly when `augment` is 'ada'.")
        if not isinstance(r1_interval, int) or r1_interval < 1:
            raise ValueError(
                f"`r1_interval` must be an integer >= 1. Received: {r1_interval!r}"
            )
        if r1_interval > 1 and not (loss.r1_gamma > 0 or loss.r2_gamma > 0):
            raise ValueError(
                f"`r1_interval={r1_interval}` regularizes lazily, but the loss has "
                "no R1 or R2 penalty (`r1_gamma` and `r2_gamma` are 0)."
            )
        self.strategy, self.loss, self.views = strategy, loss, views
        self.G, self.D, self.Gs = state.G, state.D, state.Gs
        self.g_opt, self.d_opt = state.g_opt, state.d_opt
        self.g_scaler, self.d_scaler = state.loss_scales
        self.latent_size = state.G.latent_size
        self.label_size, self.mirror_augment = label_size, mirror_augment
        self.seed = int(seed)
        self.augment, self.ada = augment, ada
        self.r1_interval = r1_interval
        self.d_weights = trainable_weights_except(self.D, self.D.blocks[:freeze_d])
        self.ema_pairs = pair_weights(self.Gs, self.G)
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

    def _augmented(self, D, step, purpose, global_batch, n):
        # D seeing augmented pyramids: each call in the step draws anew, for
        # the global batch, and this replica takes its rows.
        if self.augment == "none":
            return D
        p = 1.0 if self.ada is None else self.ada.p
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group

        def draw_for_call(index):
            seed = _fold_in(self._seed(step, purpose), index)
            return slice_draw(draw(seed, global_batch, p), replica * n, n)

        return AugmentedD(D, draw_for_call)

    def _per_replica_share(self, terms, global_batch):
        # This replica's share of each global-batch mean, and of the mean of
        # its squares (`stats.SQUARES`: a tick's standard deviation over images).
        shares = {}
        for name, value in terms.items():
            shares[name] = tf.reduce_sum(value) / global_batch
            shares[name + SQUARES] = tf.reduce_sum(tf.square(value)) / global_batch
        return shares

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

    def _d_replica(self, images, labels, step, global_batch, regularize=False):
        latents, reals, labels = self._inputs(images, labels, step, 0, global_batch)
        n = tf.shape(images)[0]
        G, D_view, gradient_scale = self.views(self.G, self.D, reals)
        D = self._augmented(D_view, step, 4, global_batch, n)
        fakes = G(latents, labels, training=True, noise_seed=self._seed(step, 2, True))
        mixes = tf.random.stateless_uniform([global_batch], self._seed(step, 3))
        mix_factors = self._global_slice(mixes, n)
        with tf.GradientTape() as tape:
            loss, terms = self.loss.d_loss(
                D,
                reals,
                fakes,
                labels,
                self._loss_scale(self.d_scaler),
                mix_factors,
                gradient_scale,
                penalties=self.r1_interval == 1,
            )
            total = tf.reduce_sum(loss) / global_batch
        self._apply(self.d_opt, tape, total, self.d_weights, self.d_scaler)
        shares = self._per_replica_share(terms, global_batch)
        if self.ada is not None:
            # A whole number: replicas' sums add up exactly.
            signs = tf.sign(terms["Loss/scores/real"])
            shares["Augment/sign_sum"] = tf.reduce_sum(signs)
        if regularize:
            # Lazy regularization: D as the main step saw it, after its
            # update, with an augmentation draw of its own.
            D = self._augmented(D_view, step, 5, global_batch, n)
            with tf.GradientTape() as tape:
                loss, terms = self.loss.d_penalties(
                    D,
                    reals,
                    fakes,
                    labels,
                    self.r1_interval,
                    self._loss_scale(self.d_scaler),
                    gradient_scale,
                )
                total = tf.reduce_sum(loss) / global_batch
            self._apply(self.d_opt, tape, total, self.d_weights, self.d_scaler)
            shares.update(self._per_replica_share(terms, global_batch))
        return shares

    def _g_replica(self, images, labels, step, global_batch):
        latents, reals, labels = self._inputs(images, labels, step, 10, global_batch)
        G, D, _ = self.views(self.G, self.D, reals)
        D = self._augmented(D, step, 13, global_batch, tf.shape(images)[0])
        with tf.GradientTape() as tape:
            fakes = G(
                latents, labels, training=True, noise_seed=self._seed(step, 12, True)
            )
            loss, terms = self.loss.g_loss(D, reals, fakes, labels)
            total = tf.reduce_sum(loss) / global_batch
        self._apply(self.g_opt, tape, total, self.G.trainable_weights, self.g_scaler)
        return self._per_replica_share(terms, global_batch)

    def _run(self, fn, batch, step):
        images, labels = batch
        global_batch = int(images.shape[0])
        n = global_batch // self.strategy.num_replicas_in_sync

        def replica_fn(images, labels, step):
            # Each replica trains on its rows of the global batch.
            return fn(
                self._global_slice(images, n),
                self._global_slice(labels, n),
                step,
                global_batch,
            )

        per_replica = self.strategy.run(replica_fn, args=(images, labels, step))
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    def _d_step(self, batch, step, regularize):
        replica_fn = functools.partial(self._d_replica, regularize=regularize)
        terms = self._run(replica_fn, batch, step)
        if self.ada is not None:
            signs = terms.pop("Augment/sign_sum")
            global_batch = int(batch[0].shape[0])
            terms["Augment/rt"] = self.ada.accumulate(signs, global_batch)
        return terms

    def _g_step(self, batch, step):
        return self._run(self._g_replica, batch, step)

    def d_step(self, batch, step):
        """One D step on the global `batch` (uint8 images, labels).

        `step` is the D step's index (an int64 scalar, eager); with lazy
        regularization, the steps whose index is a multiple of `r1_interval`
        add the penalties' update (and their terms).

        Returns:
            `{term name: global mean}` over the batch's images, and for each
            per-image term `{name + stats.SQUARES: global mean of squares}`.
        """
        # A Python bool: one trace with the penalties' update, one without.
        regularize = self.r1_interval > 1 and int(step) % self.r1_interval == 0
        return self._d_function(batch, step, regularize)

    def g_step(self, batch, step):
        """One G step (same arguments as `d_step`)."""
        return self._g_function(batch, step)
