"""GAN losses, each written once against the image pyramid.

Every loss returns one value per image (`[N]`) plus named terms for logging;
the training step sums them and divides by the global batch. Real images arrive
as the full-resolution float batch `[N, R, R, C]`; the loss builds their pyramid
by 2x2 pooling itself, so that R1 differentiates through the pooling exactly
as the official `D_logistic_simplegp` does.
"""

import abc

import tensorflow as tf

from msg_stylegan_tf2.choices import LOSSES, load
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid


def _scores(D, images, labels):
    return tf.reshape(tf.cast(D(images, labels), tf.float32), [-1])


def gradient_penalty_terms(
    D, images, labels, scale=1.0, num_levels=None, input_gradient_scale=1.0
):
    """Scores and per-level input gradients of D.

    Args:
        D: discriminator.
        images: pyramid (list, 4x4 first) or a full-resolution batch (then the
            pyramid is pooled from it inside the tape, so each level's gradient
            includes the paths through the pooled levels below it).
        labels: `[N, label_size]` or None.
        scale: multiplies the differentiated sum (loss scaling for float16).
        num_levels: levels of the pyramid pooled from a full-resolution batch
            (default: all of D's).
        input_gradient_scale: multiplies the gradients (progressive growing's
            equivalence to full-resolution inputs, see `fade.py`).

    Returns:
        `(scores [N], grads)` where grads is a list of float32 `[N, r, r, C]`.
    """
    with tf.GradientTape() as tape:
        if isinstance(images, (list, tuple)):
            levels = list(images)
            for level in levels:
                tape.watch(level)
        else:
            tape.watch(images)
            levels = downsample_pyramid(images, num_levels or D.resolution_log2 - 1)
        scores = _scores(D, levels, labels)
        total = tf.reduce_sum(scores) * scale
    grads = tape.gradient(total, levels)
    factor = input_gradient_scale / scale
    return scores, [tf.cast(g, tf.float32) * factor for g in grads]


def squared_norm_per_level(grads):
    """Official R1/R2 norm: per image, sum of squares of each level, mean over levels.

    Returns:
        `[N]`.
    """
    per_level = [tf.reduce_sum(tf.square(g), axis=[1, 2, 3]) for g in grads]
    return tf.add_n(per_level) / len(per_level)


class Loss(abc.ABC):
    """Base class: R1 (on reals) and R2 (on fakes) penalties for any loss.

    Subclasses define `d_value(real, fake)` and `g_value(real, fake)` on scores
    `[N]` (`real` is None when a G loss does not need it), and may add terms.
    """

    needs_real_scores_in_g = False

    def __init__(self, r1_gamma=0.0, r2_gamma=0.0):
        for name, value in (("r1_gamma", r1_gamma), ("r2_gamma", r2_gamma)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a number >= 0. Received: {value!r}")
        self.r1_gamma, self.r2_gamma = float(r1_gamma), float(r2_gamma)

    def d_loss(
        self,
        D,
        reals,
        fakes,
        labels,
        loss_scale=1.0,
        mix_factors=None,
        input_gradient_scale=1.0,
        penalties=True,
    ):
        """Discriminator loss.

        Args:
            D: discriminator.
            reals: float `[N, R, R, C]` full-resolution real images in [-1, 1].
            fakes: generated pyramid, list of `[N, r, r, C]`, 4x4 first.
            labels: `[N, label_size]` or None.
            loss_scale: float16 loss scale for the penalty's inner gradient.
            mix_factors: `[N]` in [0, 1] for gradient penalties at points
                between reals and fakes (default: uniform random).
            input_gradient_scale: multiplies the input gradients of every
                penalty (see `gradient_penalty_terms`).
            penalties: include R1 and R2 (False: lazy regularization adds
                them in a step of their own, `d_penalties`); a loss's own
                gradient penalty (`d_extra`) is always included.

        Returns:
            `(loss [N], terms)`: terms maps names to `[N]` values for logging.
        """
        fakes = [tf.stop_gradient(f) for f in fakes]
        r1_gamma, r2_gamma = (self.r1_gamma, self.r2_gamma) if penalties else (0, 0)
        if r1_gamma > 0:
            real_scores, grads = gradient_penalty_terms(
                D, reals, labels, loss_scale, len(fakes), input_gradient_scale
            )
        else:
            real_scores = _scores(D, downsample_pyramid(reals, len(fakes)), labels)
        if r2_gamma > 0:
            fake_scores, fake_grads = gradient_penalty_terms(
                D, fakes, labels, loss_scale, None, input_gradient_scale
            )
        else:
            fake_scores = _scores(D, fakes, labels)
        loss = self.d_value(real_scores, fake_scores)
        terms = {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores}
        # stylegan2-ada's statistics: the loss without penalties, score signs.
        terms["Loss/D/loss"] = loss
        terms["Loss/signs/real"] = tf.sign(real_scores)
        terms["Loss/signs/fake"] = tf.sign(fake_scores)
        if r1_gamma > 0:
            r1 = squared_norm_per_level(grads)
            loss += r1 * (self.r1_gamma * 0.5)
            terms["Loss/r1_penalty"] = r1
        if r2_gamma > 0:
            r2 = squared_norm_per_level(fake_grads)
            loss += r2 * (self.r2_gamma * 0.5)
            terms["Loss/r2_penalty"] = r2
        loss, extra = self.d_extra(
            D, reals, fakes, labels, loss, mix_factors, input_gradient_scale
        )
        terms.update(extra)
        terms["Loss/D/total"] = loss
        return loss, terms

    def d_penalties(
        self, D, reals, fakes, labels, weight, loss_scale=1.0, input_gradient_scale=1.0
    ):
        """R1 and R2 alone, their gammas times `weight`: the loss of lazy
        regularization's step (StyleGAN2), with `weight` its interval.

        Args:
            D, reals, fakes, labels, loss_scale, input_gradient_scale: as in
                `d_loss`.
            weight: multiplies both gammas (the interval N of the step).

        Returns:
            `(loss [N], terms)`; terms: the penalties (as in `d_loss`) and
            `Loss/D/reg`, the loss.

        Raises:
            ValueError: neither penalty is on.
        """
        if not (self.r1_gamma > 0 or self.r2_gamma > 0):
            raise ValueError("`d_penalties` needs `r1_gamma` or `r2_gamma` > 0.")
        loss, terms = 0.0, {}
        if self.r1_gamma > 0:
            _, grads = gradient_penalty_terms(
                D, reals, labels, loss_scale, len(fakes), input_gradient_scale
            )
            terms["Loss/r1_penalty"] = squared_norm_per_level(grads)
            loss += terms["Loss/r1_penalty"] * (self.r1_gamma * 0.5 * weight)
        if self.r2_gamma > 0:
            fakes = [tf.stop_gradient(f) for f in fakes]
            _, grads = gradient_penalty_terms(
                D, fakes, labels, loss_scale, None, input_gradient_scale
            )
            terms["Loss/r2_penalty"] = squared_norm_per_level(grads)
            loss += terms["Loss/r2_penalty"] * (self.r2_gamma * 0.5 * weight)
        terms["Loss/D/reg"] = loss
        return loss, terms

    def g_loss(self, D, reals, fakes, labels):
        """Generator loss `[N]` and its terms (same arguments as `d_loss`)."""
        real_scores = None
        if self.needs_real_scores_in_g:
            real_scores = _scores(D, downsample_pyramid(reals, len(fakes)), labels)
        loss = self.g_value(real_scores, _scores(D, fakes, labels))
        return loss, {"Loss/G/total": loss}

    def d_extra(self, D, reals, fakes, labels, loss, mix_factors, gradient_scale):
        return loss, {}

    @abc.abstractmethod
    def d_value(self, real, fake):
        """D's loss per image from real and fake scores `[N]`."""

    @abc.abstractmethod
    def g_value(self, real, fake):
        """G's loss per image (`real` is None unless `needs_real_scores_in_g`)."""


class Logistic(Loss):
    """Non-saturating logistic (official default): D softplus(f) + softplus(-r)."""

    def __init__(self, r1_gamma=10.0, r2_gamma=0.0):
        super().__init__(r1_gamma, r2_gamma)

    def d_value(self, real, fake):
        return tf.nn.softplus(fake) + tf.nn.softplus(-real)

    def g_value(self, real, fake):
        return tf.nn.softplus(-fake)


class LogisticSaturating(Logistic):
    """Saturating logistic: G minimises log(1 - sigmoid(f)) = -softplus(f)."""

    def g_value(self, real, fake):
        return -tf.nn.softplus(fake)


class WGAN(Loss):
    """WGAN with the epsilon drift term eps * r^2 (official `D_wgan`)."""

    def __init__(self, wgan_epsilon=0.001, r1_gamma=0.0, r2_gamma=0.0):
        super().__init__(r1_gamma, r2_gamma)
        self.wgan_epsilon = float(wgan_epsilon)

    def d_value(self, real, fake):
        return fake - real + self.wgan_epsilon * tf.square(real)

    def g_value(self, real, fake):
        return -fake


class _GradientPenaltyMixin:
    """WGAN-GP penalty at random points between real and fake pyramids.

    One mixing factor per image is used at every level, so the mixed pyramid
    is consistent; the gradient norm is taken over the whole pyramid.
    """

    wgan_lambda, wgan_target = 10.0, 1.0

    def d_extra(self, D, reals, fakes, labels, loss, mix_factors, gradient_scale):
        real_levels = downsample_pyramid(reals, len(fakes))
        if mix_factors is None:
            mix_factors = tf.random.uniform([tf.shape(reals)[0]])
        alpha = tf.reshape(tf.cast(mix_factors, reals.dtype), [-1, 1, 1, 1])
        mixed = [r + (f - r) * alpha for r, f in zip(real_levels, fakes, strict=True)]
        _, grads = gradient_penalty_terms(
            D, mixed, labels, input_gradient_scale=gradient_scale
        )
        norms = tf.sqrt(
            tf.add_n([tf.reduce_sum(tf.square(g), [1, 2, 3]) for g in grads])
        )
        penalty = tf.square(norms - self.wgan_target)
        loss += penalty * (self.wgan_lambda / self.wgan_target**2)
        return loss, {"Loss/gradient_penalty": penalty}


class WGANGP(_GradientPenaltyMixin, WGAN):
    """WGAN-GP (official `D_wgan_gp`, lambda 10, target 1, epsilon 0.001)."""


class Hinge(Loss):
    """Hinge: D relu(1 + f) + relu(1 - r); G -f (official `D_hinge`)."""

    def d_value(self, real, fake):
        return tf.nn.relu(1.0 + fake) + tf.nn.relu(1.0 - real)

    def g_value(self, real, fake):
        return -fake


class HingeGP(_GradientPenaltyMixin, Hinge):
    """Hinge with the WGAN-GP penalty (official `D_hinge_gp`)."""


class RelativisticHinge(Loss):
    """Relativistic average hinge (BMSG-GAN's default).

    The averages are over the replica's batch. D: relu(1 - (r - mean f)) +
    relu(1 + (f - mean r)); G swaps the roles.
    """

    needs_real_scores_in_g = True

    def d_value(self, real, fake):
        return tf.nn.relu(1.0 - (real - tf.reduce_mean(fake))) + tf.nn.relu(
            1.0 + (fake - tf.reduce_mean(real))
        )

    def g_value(self, real, fake):
        return tf.nn.relu(1.0 + (real - tf.reduce_mean(fake))) + tf.nn.relu(
            1.0 - (fake - tf.reduce_mean(real))
        )


class LSGAN(Loss):
    """Least squares: D ((r - 1)^2 + f^2) / 2; G (f - 1)^2 / 2."""

    def d_value(self, real, fake):
        return 0.5 * (tf.square(real - 1.0) + tf.square(fake))

    def g_value(self, real, fake):
        return 0.5 * tf.square(fake - 1.0)


def make_loss(name, r1_gamma=None, r2_gamma=0.0):
    """Builds a loss by name; `r1_gamma=None` keeps the loss's default."""
    cls = load(LOSSES, name, "loss")
    kwargs = {"r2_gamma": r2_gamma}
    if r1_gamma is not None:
        kwargs["r1_gamma"] = r1_gamma
    return cls(**kwargs)
