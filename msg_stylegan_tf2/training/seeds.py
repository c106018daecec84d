"""The stateless seeds of a training step: one per (run seed, step, purpose),
and per replica where a draw is not shared, so a resumed run draws again
exactly what it drew."""

import enum

import tensorflow as tf

_fold_in = tf.random.experimental.stateless_fold_in


class Purpose(enum.IntEnum):
    """What a step's draw is for. The values seed the draws: renumbering one
    changes every run's random numbers."""

    D_LATENTS = 0
    D_MIRROR = 1
    D_NOISE = 2
    # WGAN-GP's mixing factors between reals and fakes.
    D_MIX = 3
    # What D sees in its main pass, and in lazy regularization's pass.
    D_AUGMENT = 4
    D_REG_AUGMENT = 5
    G_LATENTS = 10
    G_MIRROR = 11
    G_NOISE = 12
    G_AUGMENT = 13


def step_seed(run_seed, step, purpose, per_replica=False):
    """The stateless seed `[2]` of one purpose in one step.

    Args:
        run_seed: the run's seed (an int).
        step: the step's index (int64 scalar).
        purpose: a `Purpose`.
        per_replica: fold in the replica's index (replica context): for draws
            made per replica rather than for the global batch.
    """
    seed = tf.stack([tf.constant(run_seed, tf.int64), tf.cast(step, tf.int64)])
    seed = _fold_in(seed, int(purpose))
    if per_replica:
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = _fold_in(seed, replica)
    return seed
