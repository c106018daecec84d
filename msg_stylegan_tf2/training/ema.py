"""The moving average Gs of the generator (official `setup_as_moving_average_of`)."""

import tensorflow as tf


def pair_weights(Gs, G):
    """Pairs Gs's weights with G's (same architecture, same order)."""
    if len(Gs.weights) != len(G.weights):
        raise ValueError("Gs and G must have the same architecture.")
    pairs = list(zip(Gs.weights, G.weights, strict=True))
    for target, source in pairs:
        if target.shape != source.shape or target.trainable != source.trainable:
            raise ValueError(f"Gs weight {target.path} does not match G {source.path}.")
    return pairs


def update_ema(pairs, beta):
    """Gs = G + (Gs - G) * beta for trainable weights; copies the others.

    The non-trainable weights (noise inputs, the W average) are copied, as the
    official code does with `beta_nontrainable=0`.

    Args:
        pairs: from `pair_weights`.
        beta: scalar float tensor.
    """
    for target, source in pairs:
        if source.trainable:
            target.assign(source + (target - source) * tf.cast(beta, target.dtype))
        else:
            target.assign(source)
