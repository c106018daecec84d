"""What D sees, as one object the state, the steps, the loop and the checkpoint
ask: no augmentation, DiffAugment or ADA (`choices.AUGMENTS`), built from the
config by `make_augmentation`. The operations and ADA's p are `augment.py`'s.

Draws are keyed by role: in one pass of a step, the images of each `Role`
(reals, fakes, a penalty's mixes) get the draw seeded by `(pass seed, role)`,
made for the global batch and sliced to a replica's rows, so they depend
neither on the number of replicas nor on how often D was called before.
"""

import tensorflow as tf

from msg_stylegan_tf2.choices import AUGMENTS, load
from msg_stylegan_tf2.training.augment import (
    AdaptiveProbability,
    augment_pyramid,
    draw,
    rows_of_draw,
)

_fold_in = tf.random.experimental.stateless_fold_in


class Augmentation:
    """Base of the augmentations: its answers are those of no augmentation.

    Subclasses build from a TrainingConfig (`from_config`), under the
    strategy's scope where they hold variables.
    """

    @classmethod
    def from_config(cls, config):
        return cls()

    def augmenter(self, seed, global_batch, rows):
        """What D sees in one pass of a step, on one replica (replica context).

        Args:
            seed: the pass's stateless seed `[2]`.
            global_batch: the images of the step on all replicas.
            rows: int `[n]`, the indices of the pass's images (a replica's,
                or a micro-batch's) in the global batch.

        Returns:
            `augment(role, pyramid) -> pyramid` (the role's draw, applied to
            every level of each image's pyramid), or None: the images as they are.
        """
        return None

    def replica_sums(self, terms):
        """Sums a replica adds to a D step's terms, from its loss terms `[n]`."""
        return {}

    def after_d_step(self, terms, global_batch):
        """Takes up a D step's global terms (cross-replica); returns the terms
        to log."""
        return terms

    def checkpoint_objects(self):
        """`{name: trackable}` a checkpoint holds (names as older runs wrote them)."""
        return {}

    def progress(self):
        """Scalars for the tick line and TensorBoard (`Progress/<name>`)."""
        return {}

    def description(self):
        """The start-up line's part."""
        return ""


class NoAugmentation(Augmentation):
    """`augment="none"`: D sees the images as they are."""


class DiffAugment(Augmentation):
    """`augment="diffaug"`: DiffAugment, every operation on every image."""

    def probability(self):
        """Each operation's probability (a float or a scalar variable)."""
        return 1.0

    def augmenter(self, seed, global_batch, rows):
        p = self.probability()

        def augment(role, pyramid):
            params = draw(_fold_in(seed, int(role)), global_batch, p)
            return augment_pyramid(list(pyramid), rows_of_draw(params, rows))

        return augment

    def description(self):
        return ", augment diffaug"


class AdaptiveAugment(DiffAugment):
    """`augment="ada"`: each operation with ADA's adaptive probability p, which
    every D step's signs of the real scores move (`AdaptiveProbability`).

    Args:
        adaptive: the `AdaptiveProbability` (made under the strategy's scope).
    """

    def __init__(self, adaptive):
        self.adaptive = adaptive

    @classmethod
    def from_config(cls, config):
        return cls(AdaptiveProbability(config.ada_target, ada_kimg=config.ada_kimg))

    def probability(self):
        return self.adaptive.p

    def replica_sums(self, terms):
        # A whole number: replicas' sums add up exactly.
        return {"Augment/sign_sum": tf.reduce_sum(terms["Loss/signs/real"])}

    def after_d_step(self, terms, global_batch):
        terms = dict(terms)
        signs = terms.pop("Augment/sign_sum")
        terms["Augment/rt"] = self.adaptive.accumulate(signs, global_batch)
        return terms

    def checkpoint_objects(self):
        return {"ada": tf.train.Checkpoint(**self.adaptive.variables())}

    def progress(self):
        # stylegan2-ada's `Progress/augment`.
        return {"augment": float(self.adaptive.p.numpy())}

    def description(self):
        adaptive = self.adaptive
        return (
            f", augment ada (target {adaptive.ada_target:g}, "
            f"ada_kimg {adaptive.ada_kimg:g})"
        )


def make_augmentation(config):
    """The augmentation of a TrainingConfig (`augment`); call it under the
    strategy's scope.

    Raises:
        ValueError: an unknown `augment`.
    """
    return load(AUGMENTS, config.augment, "augment").from_config(config)
