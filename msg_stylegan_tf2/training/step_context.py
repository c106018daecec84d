"""What a loss sees of one pass of a training step: one frozen `StepContext`.

The steps build it (`steps.py`) for one replica's images, the losses read it
(`losses.py`). D sees the images of each `Role` through that role's own
augmentation draw (`augmentation.py`), so a draw depends on what the images
are, never on how often D was called before.
"""

import dataclasses
import enum
from collections.abc import Callable

import tensorflow as tf


class Role(enum.IntEnum):
    """What images D is shown; each role's augmentation draw is its own.

    The values seed the draws (`augmentation.py`): do not renumber.
    """

    REALS = 0
    FAKES = 1
    # The points between reals and fakes of WGAN-GP's penalty.
    PENALTY = 2


@dataclasses.dataclass(frozen=True, eq=False)
class StepContext:
    """One pass of a step on one replica's images, as the losses see it.

    Attributes:
        D: the discriminator as the losses call it, `D(pyramid, labels) ->
            [N, 1]` (a growth view of it, `growth.py`).
        reals: float `[N, R, R, C]` full-resolution real images in [-1, 1].
        fakes: the generated pyramid, list of `[N, r, r, C]`, 4x4 first.
        labels: `[N, label_size]` or None.
        augment: `augment(role, pyramid) -> pyramid`, what D sees of each
            role's images (`Augmentation.augmenter`); None: the images as they
            are.
        r1_gamma, r2_gamma: the weights of R1 (on reals) and R2 (on fakes)
            in this pass (`Regularization`): 0 leaves a penalty out.
        loss_scale: float16 loss scale for a penalty's inner gradient.
        mix_factors: `[N]` in [0, 1], one per image, for gradient penalties at
            points between reals and fakes (None: uniform random).
        input_gradient_scale: multiplies the input gradients of every penalty
            (progressive growing's, see `growth.py`).
    """

    D: Callable
    reals: tf.Tensor
    fakes: list
    labels: tf.Tensor | None = None
    augment: Callable | None = None
    r1_gamma: float = 0.0
    r2_gamma: float = 0.0
    loss_scale: float | tf.Tensor = 1.0
    mix_factors: tf.Tensor | None = None
    input_gradient_scale: float | tf.Tensor = 1.0

    def discriminator(self, role):
        """D as it sees the images of `role`: `D(pyramid, labels) -> [N, 1]`
        on that role's augmentation draw."""
        if self.augment is None:
            return self.D
        return lambda pyramid, labels=None: self.D(self.augment(role, pyramid), labels)

    def gamma(self, role):
        """The penalty weight of `role`'s images: R1's for reals, R2's for fakes."""
        return {Role.REALS: self.r1_gamma, Role.FAKES: self.r2_gamma}[role]

    def replace(self, **changes):
        """A copy with `changes` (e.g. another pass's gammas)."""
        return dataclasses.replace(self, **changes)
