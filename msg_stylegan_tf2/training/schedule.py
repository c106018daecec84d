"""Schedules as pure functions of the number of real images shown (`cur_nimg`)."""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class LearningRates:
    """G's and D's learning rates: the one place they are computed.

    Attributes:
        G_lrate, D_lrate: the base rates (`g_lr`, `d_lr`, else `lr`).
        rampup_kimg: thousands of images to ramp them up linearly from 0
            (official `lrate_rampup_kimg`; 0: off).
        D_factor: multiplies D's (lazy regularization's N / (N + 1),
            `Regularization.adam_ratio`).
    """

    G_lrate: float
    D_lrate: float
    rampup_kimg: float = 0.0
    D_factor: float = 1.0

    @classmethod
    def from_config(cls, config, D_factor=1.0):
        return cls(
            config.g_lr or config.lr,
            config.d_lr or config.lr,
            config.lrate_rampup_kimg,
            D_factor,
        )

    def at(self, cur_nimg, G_lrate=None, D_lrate=None):
        """`(G_lr, D_lr)` at `cur_nimg`.

        Args:
            cur_nimg: real images shown so far.
            G_lrate, D_lrate: a phase's base rates instead of the run's
                (ProGAN's per resolution, `progressive_phase`).
        """
        G_lrate = self.G_lrate if G_lrate is None else G_lrate
        D_lrate = self.D_lrate if D_lrate is None else D_lrate
        if self.rampup_kimg > 0:
            ramp = min(cur_nimg / (self.rampup_kimg * 1000.0), 1.0)
            G_lrate, D_lrate = G_lrate * ramp, D_lrate * ramp
        return G_lrate, D_lrate * self.D_factor


def ema_beta(cur_nimg, batch, half_life_kimg=10.0, rampup=None):
    """Decay of the generator's moving average per step of `batch` images.

    beta = 0.5 ** (batch / half_life_images) (official `Gs_beta`). With `rampup`
    (stylegan2-ada's `ema_rampup`), the half-life is at most `rampup * cur_nimg`,
    so a short run's average is not dominated by its initialisation.

    Returns:
        A float in [0, 1); 0 when the half-life is 0 (Gs = G).
    """
    half_life = half_life_kimg * 1000.0
    if rampup is not None:
        half_life = min(half_life, cur_nimg * rampup)
    if half_life <= 0:
        return 0.0
    return 0.5 ** (batch / half_life)


@dataclasses.dataclass(frozen=True)
class ProgressivePhase:
    """ProGAN's training parameters at one point of the run (`TrainingSchedule`)."""

    lod: float
    resolution: int
    minibatch: int
    G_lrate: float
    D_lrate: float


def _by_resolution(mapping):
    # JSON turns int keys into strings; accept both.
    return {int(k): v for k, v in (mapping or {}).items()}


def progressive_phase(
    cur_nimg,
    resolution_log2,
    num_replicas=1,
    lod_initial_resolution=4,
    lod_training_kimg=600,
    lod_transition_kimg=600,
    minibatch_base=16,
    minibatch_dict=None,
    G_lrate_base=0.001,
    G_lrate_dict=None,
    D_lrate_base=0.001,
    D_lrate_dict=None,
):
    """Official ProGAN schedule (train.py `TrainingSchedule`) at `cur_nimg`.

    Each phase trains `lod_training_kimg` at one resolution, then fades the
    next one in over `lod_transition_kimg` (lod falls linearly by 1).

    Returns:
        ProgressivePhase; `minibatch` is rounded down to a multiple of
        `num_replicas`.
    """
    kimg = cur_nimg / 1000.0
    phase_dur = lod_training_kimg + lod_transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = resolution_log2 - math.floor(math.log2(lod_initial_resolution)) - phase_idx
    if lod_transition_kimg > 0:
        lod -= max(phase_kimg - lod_training_kimg, 0.0) / lod_transition_kimg
    lod = max(lod, 0.0)
    resolution = 2 ** (resolution_log2 - int(math.floor(lod)))
    minibatch = _by_resolution(minibatch_dict).get(resolution, minibatch_base)
    minibatch -= minibatch % num_replicas
    if minibatch < 1:
        raise ValueError(
            f"The minibatch at {resolution}x{resolution} is smaller than the "
            f"number of replicas ({num_replicas}); raise it in the schedule."
        )
    return ProgressivePhase(
        lod=float(lod),
        resolution=resolution,
        minibatch=minibatch,
        G_lrate=_by_resolution(G_lrate_dict).get(resolution, G_lrate_base),
        D_lrate=_by_resolution(D_lrate_dict).get(resolution, D_lrate_base),
    )
