"""Named network presets: the paper's models, the demo and a tiny test network.

Each preset holds the official keyword arguments of G (`G_style` or ProGAN's
`G_paper`) and of the MSG discriminator (`D_basic`).
"""

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

ARCHS = ("msg_stylegan", "msg_progan")


@dataclasses.dataclass(frozen=True)
class NetworkPreset:
    """Architecture and official kwargs of one G/D pair."""

    arch: str
    G: Mapping[str, Any]
    D: Mapping[str, Any]
    description: str = ""
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _preset(arch, resolution, description, G=(), D=(), train=()):
    shared = {"resolution": resolution, "num_channels": 3}
    if arch == "msg_progan":
        g = {**shared, "latent_size": 512, "fused_scale": False}
        d = {**shared, "blur_filter": None, "combine": "simple"}
    else:
        g, d = dict(shared), {**shared, "combine": "cat_lin"}
    return NetworkPreset(
        arch=arch,
        G=types.MappingProxyType({**g, **dict(G)}),
        D=types.MappingProxyType({**d, **dict(D)}),
        description=description,
        train=types.MappingProxyType(dict(train)),
    )


_SMALL_STYLE = {"fmap_max": 64, "latent_size": 128, "dlatent_size": 128}
_TINY_STYLE = {"fmap_base": 64, "fmap_max": 16, "latent_size": 16, "dlatent_size": 16}

PRESETS = {
    "msg_stylegan_1024": _preset(
        "msg_stylegan", 1024, "Paper: FFHQ, CelebA-HQ (official defaults)."
    ),
    "msg_stylegan_256": _preset(
        "msg_stylegan", 256, "Paper: LSUN Churches, Oxford Flowers, Indian Celebs."
    ),
    "msg_progan_1024": _preset("msg_progan", 1024, "Paper: CelebA-HQ."),
    "msg_progan_256": _preset(
        "msg_progan", 256, "Paper: LSUN Churches, Oxford Flowers, Indian Celebs."
    ),
    "msg_progan_128": _preset("msg_progan", 128, "Paper: Oxford Flowers at 128."),
    "msg_progan_32": _preset("msg_progan", 32, "Paper: CIFAR-10."),
    "demo_32": _preset(
        "msg_stylegan",
        32,
        "Small MSG-StyleGAN for the emoji demo on a CPU.",
        G={**_SMALL_STYLE, "mapping_fmaps": 128},
        D={"fmap_max": 64},
        train={
            "total_kimg": 40,
            "tick_kimg": 4,
            "network_snapshot_ticks": 2,
            "ema_rampup": 0.05,
        },
    ),
    "tiny": _preset(
        "msg_stylegan",
        16,
        "Tiny MSG-StyleGAN for tests.",
        G={**_TINY_STYLE, "mapping_fmaps": 16, "mapping_layers": 2},
        D={"fmap_base": 64, "fmap_max": 16, "mbstd_group_size": 2},
    ),
}


def get_preset(name):
    """Returns the preset called `name`; raises ValueError naming the choices."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Choose one of {sorted(PRESETS)}.")
    return PRESETS[name]
