"""R1 and R2 and when they apply, as one object the state, the steps and the
loop ask: `Regularization`, built from the config once.

Lazy regularization (StyleGAN2): with an interval N > 1, R1 and R2 leave D's
main pass and get a pass and an update of their own every N D steps, weighted
by N; D's Adam is adjusted by N / (N + 1) for it (its learning rate times the
ratio, its betas to its power).
"""

import dataclasses

from msg_stylegan_tf2.choices import LOSSES, load


@dataclasses.dataclass(frozen=True)
class Regularization:
    """R1 (on reals), R2 (on fakes), their interval and D's Adam adjustment.

    Attributes:
        r1_gamma, r2_gamma: the penalties' weights (0: off).
        interval: D steps between the penalties' passes (`r1_interval`); 1:
            R1 and R2 inside every D step (MSG-StyleGAN).

    Raises:
        ValueError: a gamma that is not a number >= 0, an interval that is not
            an integer >= 1, or an interval > 1 with neither penalty on.
    """

    r1_gamma: float = 0.0
    r2_gamma: float = 0.0
    interval: int = 1

    def __post_init__(self):
        for name in ("r1_gamma", "r2_gamma"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or value < 0:
                raise ValueError(f"`{name}` must be a number >= 0. Received: {value!r}")
            object.__setattr__(self, name, float(value))
        interval = self.interval
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f"`r1_interval` must be an integer >= 1. Received: {interval!r}"
            )
        if interval > 1 and not (self.r1_gamma > 0 or self.r2_gamma > 0):
            raise ValueError(
                f"`r1_interval={interval}` applies R1 and R2 lazily, but neither is "
                f"on (`r1_gamma={self.r1_gamma:g}`, `r2_gamma={self.r2_gamma:g}`); "
                "give `r1_gamma` or `r2_gamma` > 0, or `r1_interval=1`."
            )

    @classmethod
    def from_config(cls, config):
        """The run's: `r1_gamma` (else the loss's default, e.g. 10 for the
        logistic losses), `r2_gamma` and `r1_interval` of a TrainingConfig."""
        r1_gamma = config.r1_gamma
        if r1_gamma is None:
            r1_gamma = load(LOSSES, config.loss, "loss").default_r1_gamma
        return cls(r1_gamma, config.r2_gamma, config.r1_interval)

    @property
    def lazy(self):
        """Whether R1 and R2 have a pass of their own."""
        return self.interval > 1

    def main_gammas(self):
        """`(r1_gamma, r2_gamma)` inside D's main pass: (0, 0) when lazy."""
        return (0.0, 0.0) if self.lazy else (self.r1_gamma, self.r2_gamma)

    def lazy_gammas(self):
        """`(r1_gamma, r2_gamma)` of the penalties' own pass: N times theirs."""
        return self.r1_gamma * self.interval, self.r2_gamma * self.interval

    def due(self, d_step):
        """Whether D step `d_step` (an int) adds the penalties' pass: lazy, at
        each multiple of the interval."""
        return self.lazy and d_step % self.interval == 0

    @property
    def adam_ratio(self):
        """D's Adam adjustment N / (N + 1) (1 for N = 1: no change)."""
        return 1.0 if self.interval == 1 else self.interval / (self.interval + 1)

    def d_betas(self, beta_1, beta_2):
        """D's Adam betas: each to the power `adam_ratio`."""
        ratio = self.adam_ratio
        return beta_1**ratio, beta_2**ratio

    def description(self):
        """The start-up line's part (empty unless lazy)."""
        if not self.lazy:
            return ""
        ratio = self.adam_ratio
        return (
            f", lazy R1/R2 every {self.interval} D steps (D's Adam: lr x{ratio:.4g}, "
            f"betas ^{ratio:.4g})"
        )
