"""Schedules as pure functions of the number of real images shown (`cur_nimg`)."""


def learning_rate(cur_nimg, base_lr, rampup_kimg=0.0):
    """Official schedule: `base_lr`, ramped up linearly over `rampup_kimg`."""
    if rampup_kimg > 0:
        return base_lr * min(cur_nimg / (rampup_kimg * 1000.0), 1.0)
    return base_lr


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
