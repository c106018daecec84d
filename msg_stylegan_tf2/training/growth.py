"""Growth policies: what varies between MSG-GAN and ProGAN's progressive growing.

MSG-GAN trains every resolution at once with fixed options (`FixedGrowth`).
ProGAN grows (`ProgressiveGrowth`): a level of detail `lod` (see `fade.py`)
follows the official `TrainingSchedule`, with per-resolution minibatch and
learning rates, optimizer resets when layers are added, and G and D seen by
the losses at the current resolution. The trainer and the steps ask the policy
and never branch on the architecture.
"""

import math

import tensorflow as tf

from msg_stylegan_tf2.networks.fade import input_gradient_scale, split_lod
from msg_stylegan_tf2.training.schedule import progressive_phase


class FixedGrowth:
    """MSG-GAN: whole pyramids at the full resolution, the options' batch and
    learning rates at every step.

    Args:
        config: TrainingConfig.
        resolution: the dataset's (and the networks') resolution.
        rates: the run's `schedule.LearningRates`.
    """

    def __init__(self, config, resolution, rates):
        self.config, self.resolution, self.rates = config, resolution, rates

    @property
    def batch(self):
        """The global minibatch of the current step."""
        return self.config.batch

    def update(self, cur_nimg, log):
        """Moves to the step at `cur_nimg`; returns its `(G_lr, D_lr)`."""
        return self.rates.at(cur_nimg)

    def restored(self, cur_nimg):
        """Takes up a run restored at `cur_nimg` (nothing to do here)."""

    @property
    def views(self):
        """How the losses see G and D (see `whole_pyramids`)."""
        return whole_pyramids

    def progress(self):
        """Scalars for the tick line and TensorBoard (`Progress/<name>`)."""
        return {}


def whole_pyramids(G, D, reals):
    """MSG-GAN's views: G and D themselves, gradient penalties unscaled.

    Returns:
        `(G, D, input_gradient_scale)` as the losses call them.
    """
    return G, D, 1.0


class GrowingViews:
    """Progressive growing's views: G and D at the resolution of the reals,
    faded by `alpha` (a variable the compiled steps read; see `fade.py`).

    Args:
        resolution_log2: log2 of the networks' full resolution.
        alpha: the initial fade.
    """

    def __init__(self, resolution_log2, alpha=0.0):
        self.resolution_log2 = resolution_log2
        self.alpha = tf.Variable(alpha, trainable=False, name="alpha")

    def __call__(self, G, D, reals):
        """`(G, D, input_gradient_scale)` for `reals` `[N, r, r, C]`: the
        factor makes gradient penalties equal the official full-resolution ones."""
        side = int(reals.shape[1])
        scale = input_gradient_scale(self.resolution_log2, reals)
        return _GrowingG(G, side, self.alpha), _GrowingD(D, self.alpha), scale


class _GrowingG:
    """G as the losses see it while growing: a one-level pyramid `[image]`."""

    def __init__(self, G, resolution, alpha):
        self.G, self.resolution, self.alpha = G, resolution, alpha

    def __call__(self, latents, labels=None, training=False, **noise):
        del noise  # ProGAN has no noise inputs.
        return [self.G.grow(latents, labels, self.resolution, self.alpha)]


class _GrowingD:
    """D as the losses see it while growing: scores of a one-level pyramid."""

    def __init__(self, D, alpha):
        self.D, self.alpha = D, alpha

    def __call__(self, images, labels=None):
        return self.D.grow(images[-1], self.alpha)


class ProgressiveGrowth:
    """ProGAN's progressive growing (official `TrainingSchedule`).

    Owns the phase (resolution, lod, minibatch, learning rates), sets the
    networks' `lod` variables, resets the optimizers when layers are added, and
    gives the losses G and D at the current resolution, faded by `alpha`.

    Args:
        config: TrainingConfig with `sched` (TrainingSchedule options).
        resolution_log2: log2 of the full resolution.
        num_replicas: replicas in sync (minibatches are rounded to them).
        networks: `(G, Gs, D)`, each with a `lod` variable.
        optimizers: `(G_opt, D_opt)`.
        label_size: the dataset's; progressive growing is unconditional.
        rates: the run's `schedule.LearningRates` (their base rates are
            the schedule's outside `G_lrate_dict` and `D_lrate_dict`).

    Raises:
        ValueError: a labelled dataset.
    """

    def __init__(
        self,
        config,
        resolution_log2,
        num_replicas,
        networks,
        optimizers,
        label_size,
        rates,
    ):
        if label_size:
            raise ValueError(
                f"{config.dataset}: has labels, but progressive growing trains "
                "unconditional models only (ProGAN's AC-GAN terms are not built)."
            )
        self.config, self.resolution_log2 = config, resolution_log2
        self.rates = rates
        self.num_replicas = num_replicas
        self.networks, self.optimizers = networks, optimizers
        self.views = GrowingViews(resolution_log2)
        self.prev_lod = -1.0  # Official: the optimizers reset on the first step.
        self.phase = self._phase(0)
        self._set_lod(self.phase.lod)

    def _phase(self, cur_nimg):
        return progressive_phase(
            cur_nimg,
            self.resolution_log2,
            self.num_replicas,
            G_lrate_base=self.rates.G_lrate,
            D_lrate_base=self.rates.D_lrate,
            **self.config.sched,
        )

    @property
    def resolution(self):
        """The resolution trained now (the data level read)."""
        return self.phase.resolution

    @property
    def batch(self):
        return self.phase.minibatch

    def _set_lod(self, lod):
        for network in self.networks:
            network.lod.assign(lod)

    def update(self, cur_nimg, log):
        """Moves to the step at `cur_nimg`: phase, lod, optimizer resets.

        Returns:
            `(G_lr, D_lr)` of this step (the resolution's base rates).
        """
        phase = self._phase(cur_nimg)
        if phase.resolution != self.phase.resolution:
            side = phase.resolution
            log(
                f"Growing to {side}x{side} at kimg {cur_nimg / 1000:.1f} "
                f"(minibatch {phase.minibatch})."
            )
        self.phase = phase
        if phase.lod != self.prev_lod:  # Constant while a resolution trains.
            if self.config.reset_opt_for_new_lod and _lod_changed(
                phase.lod, self.prev_lod
            ):
                for optimizer in self.optimizers:
                    reset_optimizer_state(optimizer)
            self._set_lod(phase.lod)
            self.prev_lod = phase.lod
        self.views.alpha.assign(split_lod(phase.lod)[1])
        return self.rates.at(cur_nimg, phase.G_lrate, phase.D_lrate)

    def restored(self, cur_nimg):
        """Takes up a run restored at `cur_nimg` (its lod came with it)."""
        self.phase = self._phase(cur_nimg)
        self.prev_lod = float(self.networks[0].lod.numpy())

    def progress(self):
        return {"lod": self.phase.lod}


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


def make_growth(config, info, num_replicas, networks, optimizers, rates):
    """The policy of `config`: progressive when it has a schedule (`sched`)."""
    if config.sched is None:
        return FixedGrowth(config, info.resolution, rates)
    return ProgressiveGrowth(
        config,
        info.resolution_log2,
        num_replicas,
        networks,
        optimizers,
        info.label_size,
        rates,
    )
