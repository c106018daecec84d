"""Spectral normalisation switched on across a network (the original MSG-GAN
post's option): every equalized dense/conv layer, style modulations included.
The power iteration itself is part of the equalized layers (equalized.py)."""

from msg_stylegan_tf2.networks.equalized import _EqualizedBase
from msg_stylegan_tf2.networks.style import StyleMod


def enable_spectral_norm(model):
    """Turns on spectral normalisation in every equalized dense/conv layer of a
    network whose layers exist but are not built yet (`--spectral_norm=both`).

    Raises:
        ValueError: a layer is already built (its variables exist).
    """
    # Keras has no public recursive layer walk; `_flatten_layers` is what
    # `Model.summary` uses.
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (_EqualizedBase, StyleMod)):
            if layer.built:
                raise ValueError(f"{layer.name}: built; enable spectral norm first.")
            layer.spectral_norm = True
