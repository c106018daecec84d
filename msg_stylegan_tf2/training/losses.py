"""GAN losses, each written once against the image pyramid, and R1/R2.

A loss reads one `StepContext` (`step_context.py`) and returns one value per
image (`[N]`) plus named terms for logging; the training step sums them and
divides by the global batch. Real images arrive as the full-resolution float
batch `[N, R, R, C]`; the loss builds their pyramid by 2x2 pooling itself, so
that R1 differentiates through the pooling exactly as the official
`D_logistic_simplegp` does.
"""

import abc

import tensorflow as tf

from msg_stylegan_tf2.choices import LOSSES, load
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid
from msg_stylegan_tf2.training.step_context import Role


def _scores(D, images, labels):
    return tf.reshape(tf.cast(D(images, labels), tf.float32), [-1])


def gradient_penalty_terms(
    D, images, labels, scale=1.0, num_levels=None, input_gradient_scale=1.0
):
    """Scores and per-level input gradients of D.

    Args:
        D: discriminator, `D(pyramid, labels) -> [N, 1]`.
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


# The logged name of each role's penalty: R1 on reals, R2 on fakes.
PENALTY_TERMS = {Role.REALS: "Loss/r1_penalty", Role.FAKES: "Loss/r2_penalty"}


def penalized_scores(ctx, scores_needed=True):
    """D's scores of the reals and the fakes, and R1 and R2 where their gamma
    in `ctx` is > 0: the one place the penalties are computed.

    R1 differentiates through the pooling of the real pyramid (as the official
    `D_logistic_simplegp`), R2 through the fake levels as given.

    Args:
        ctx: a `StepContext` (its fakes without G's gradient).
        scores_needed: compute the scores of a role without a penalty too.

    Returns:
        `(scores, penalties)`: `{role: [N]}` each, unweighted penalties.
    """
    scores, penalties = {}, {}
    num_levels = len(ctx.fakes)
    for role, images in ((Role.REALS, ctx.reals), (Role.FAKES, ctx.fakes)):
        D = ctx.discriminator(role)
        if ctx.gamma(role) > 0:
            scores[role], grads = gradient_penalty_terms(
                D,
                images,
                ctx.labels,
                ctx.loss_scale,
                num_levels,
                ctx.input_gradient_scale,
            )
            penalties[role] = squared_norm_per_level(grads)
        elif scores_needed:
            if role == Role.REALS:
                images = downsample_pyramid(images, num_levels)
            scores[role] = _scores(D, images, ctx.labels)
    return scores, penalties


def add_penalties(loss, penalties, ctx):
    """`loss` plus each penalty times half its gamma, and the penalties' terms.

    Returns:
        `(loss [N], {PENALTY_TERMS[role]: unweighted penalty [N]})`.
    """
    terms = {}
    for role, penalty in penalties.items():
        loss += penalty * (ctx.gamma(role) * 0.5)
        terms[PENALTY_TERMS[role]] = penalty
    return loss, terms


class Loss(abc.ABC):
    """Base class: a GAN loss on the scores of D, with the R1 and R2 penalties
    that the step context asks for.

    Subclasses define `d_value(real, fake)` and `g_value(real, fake)` on scores
    `[N]` (`real` is None when a G loss does not need it), and may add terms.

    Attributes:
        default_r1_gamma: R1's weight when `r1_gamma` is not given (official:
            10 for the logistic losses; `Regularization.from_config`).
    """

    default_r1_gamma = 0.0
    needs_real_scores_in_g = False

    def d_loss(self, ctx):
        """Discriminator loss, with R1 and R2 as `ctx`'s gammas ask; a loss's
        own gradient penalty (`d_extra`) is always included.

        Args:
            ctx: a `StepContext`; its fakes get no gradient here.

        Returns:
            `(loss [N], terms)`: terms maps names to `[N]` values for logging.
        """
        ctx = ctx.replace(fakes=[tf.stop_gradient(f) for f in ctx.fakes])
        scores, penalties = penalized_scores(ctx)
        real_scores, fake_scores = scores[Role.REALS], scores[Role.FAKES]
        loss = self.d_value(real_scores, fake_scores)
        terms = {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores}
        # stylegan2-ada's statistics: the loss without penalties, score signs.
        terms["Loss/D/loss"] = loss
        terms["Loss/signs/real"] = tf.sign(real_scores)
        terms["Loss/signs/fake"] = tf.sign(fake_scores)
        loss, penalty_terms = add_penalties(loss, penalties, ctx)
        terms.update(penalty_terms)
        loss, extra = self.d_extra(ctx, loss)
        terms.update(extra)
        terms["Loss/D/total"] = loss
        return loss, terms

    def d_penalties(self, ctx):
        """R1 and R2 alone, weighted by `ctx`'s gammas: the loss of lazy
        regularization's pass (StyleGAN2).

        Returns:
            `(loss [N], terms)`; terms: the penalties (as in `d_loss`) and
            `Loss/D/reg`, the loss.

        Raises:
            ValueError: neither gamma of `ctx` is > 0.
        """
        if not (ctx.r1_gamma > 0 or ctx.r2_gamma > 0):
            raise ValueError("`d_penalties` needs `r1_gamma` or `r2_gamma` > 0.")
        ctx = ctx.replace(fakes=[tf.stop_gradient(f) for f in ctx.fakes])
        _, penalties = penalized_scores(ctx, scores_needed=False)
        loss, terms = add_penalties(0.0, penalties, ctx)
        terms["Loss/D/reg"] = loss
        return loss, terms

    def g_loss(self, ctx):
        """Generator loss `[N]` and its terms; `ctx.fakes` carry G's gradient."""
        real_scores = None
        if self.needs_real_scores_in_g:
            reals = downsample_pyramid(ctx.reals, len(ctx.fakes))
            real_scores = _scores(ctx.discriminator(Role.REALS), reals, ctx.labels)
        fake_scores = _scores(ctx.discriminator(Role.FAKES), ctx.fakes, ctx.labels)
        loss = self.g_value(real_scores, fake_scores)
        return loss, {"Loss/G/total": loss}

    def d_extra(self, ctx, loss):
        """A loss's own additions to D's loss: `(loss, terms)`."""
        return loss, {}

    @abc.abstractmethod
    def d_value(self, real, fake):
        """D's loss per image from real and fake scores `[N]`."""

    @abc.abstractmethod
    def g_value(self, real, fake):
        """G's loss per image (`real` is None unless `needs_real_scores_in_g`)."""


class Logistic(Loss):
    """Non-saturating logistic (official default): D softplus(f) + softplus(-r),
    with R1 of gamma 10 unless told (official `D_logistic_simplegp`)."""

    default_r1_gamma = 10.0

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

    def __init__(self, wgan_epsilon=0.001):
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

    def d_extra(self, ctx, loss):
        reals, fakes = ctx.reals, ctx.fakes
        real_levels = downsample_pyramid(reals, len(fakes))
        mix_factors = ctx.mix_factors
        if mix_factors is None:
            mix_factors = tf.random.uniform([tf.shape(reals)[0]])
        alpha = tf.reshape(tf.cast(mix_factors, reals.dtype), [-1, 1, 1, 1])
        mixed = [r + (f - r) * alpha for r, f in zip(real_levels, fakes, strict=True)]
        _, grads = gradient_penalty_terms(
            ctx.discriminator(Role.PENALTY),
            mixed,
            ctx.labels,
            input_gradient_scale=ctx.input_gradient_scale,
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


def make_loss(name):
    """Builds a loss by name (`choices.LOSSES`); its R1 and R2 come from the
    step context (`Regularization`)."""
    return load(LOSSES, name, "loss")()
