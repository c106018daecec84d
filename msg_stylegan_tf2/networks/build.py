"""The networks of msg-stylegan-tf2 and how to build them.

Conventions. Tensors are NHWC. An image pyramid is a Python list ordered 4x4
first: `images[i]` has shape `[N, 4 * 2**i, 4 * 2**i, C]`, up to the full
resolution. Generators return a pyramid; the MSG discriminator takes one.
ProGAN (arch "progan") grows progressively: its G's pyramid is its one faded
image and that image's 2x2 means, and its D takes the full-resolution image.
Every network is a list of blocks (`blocks.py`) walked once.
Weights keep official TF1 names: `official_variables(model)` and
`assign_official_variables(model, arrays)` convert to and from the official
(NCHW-era) layouts.
"""

import numpy as np

from msg_stylegan_tf2.networks.blocks import COMBINE_FUNCTIONS
from msg_stylegan_tf2.networks.discriminator import Discriminator
from msg_stylegan_tf2.networks.generator import Generator
from msg_stylegan_tf2.networks.official import (
    assign_official_variables,
    official_variables,
)
from msg_stylegan_tf2.networks.presets import PRESETS, NetworkPreset, get_preset
from msg_stylegan_tf2.networks.progan import ProGANGenerator
from msg_stylegan_tf2.networks.progan_discriminator import ProGANDiscriminator
from msg_stylegan_tf2.networks.synthesis import Mapping, Synthesis

__all__ = [
    "COMBINE_FUNCTIONS",
    "PRESETS",
    "Discriminator",
    "Generator",
    "Mapping",
    "NetworkPreset",
    "ProGANDiscriminator",
    "ProGANGenerator",
    "Synthesis",
    "assign_official_variables",
    "build_networks",
    "count_params",
    "official_variables",
]

GENERATORS = {
    "msg_stylegan": Generator,
    "msg_progan": ProGANGenerator,
    "progan": ProGANGenerator,
}
DISCRIMINATORS = {
    "msg_stylegan": Discriminator,
    "msg_progan": Discriminator,
    "progan": ProGANDiscriminator,
}


def build_networks(preset, **overrides):
    """Builds G and D (variables created) from a preset.

    Args:
        preset: a preset name (see `PRESETS`) or a `NetworkPreset`.
        **overrides: official kwargs applied to both networks where they apply
            (`resolution`, `num_channels`, `label_size`, ...).

    Returns:
        `(G, D)`, built.

    Raises:
        ValueError: unknown preset or an override neither network takes.
    """
    if isinstance(preset, str):
        preset = get_preset(preset)
    g_cls, d_cls = GENERATORS[preset.arch], DISCRIMINATORS[preset.arch]
    g_kwargs, d_kwargs = dict(preset.G), dict(preset.D)
    g_names, d_names = g_cls.option_names(), d_cls.option_names()
    for key, value in overrides.items():
        if key not in g_names and key not in d_names:
            raise ValueError(f"Unknown network option {key!r}.")
        if key in g_names:
            g_kwargs[key] = value
        if key in d_names:
            d_kwargs[key] = value
    G, D = g_cls(**g_kwargs), d_cls(**d_kwargs)
    G.build()
    D.build()
    return G, D


def count_params(model, trainable_only=True):
    """Number of scalars in a built model's (trainable) weights."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(np.prod(w.shape) for w in weights))
