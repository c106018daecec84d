"""Named network presets: the paper's models, the demo and a tiny test network.

Each preset holds the official keyword arguments of G (`G_style` or ProGAN's
`G_paper`) and of D (the MSG `D_basic`, or ProGAN's `D_paper` for "progan"),
and training defaults that differ from train.py's.
"""

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

ARCHS = ("msg_stylegan", "msg_progan", "progan")

# ProGAN's `preset-v2-1gpu` schedule (official config.py), and its training
# defaults: WGAN-GP, lr 0.001, Gs decay 0.999 per step, 12M images.
PROGAN_SCHED = types.MappingProxyType(
    {
        "lod_initial_resolution": 4,
        "lod_training_kimg": 600,
        "lod_transition_kimg": 600,
        "minibatch_base": 4,
        "minibatch_dict": {
            4: 128,
            8: 128,
            16: 128,
            32: 64,
            64: 32,
            128: 16,
            256: 8,
            512: 4,
        },
        "G_lrate_dict": {1024: 0.0015},
        "D_lrate_dict": {1024: 0.0015},
    }
)
PROGAN_TRAIN = types.MappingProxyType(
    {
        "loss": "wgan_gp",
        "lr": 0.001,
        "ema_decay": 0.999,
        "total_kimg": 12000,
        "sched": PROGAN_SCHED,
    }
)


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
    elif arch == "progan":
        g, d = {**shared, "progressive": True}, dict(shared)
        train = {**PROGAN_TRAIN, **dict(train)}
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
    "progan_1024": _preset("progan", 1024, "ProGAN baseline: CelebA-HQ."),
    "progan_256": _preset("progan", 256, "ProGAN baseline at 256."),
    "progan_128": _preset("progan", 128, "ProGAN baseline at 128."),
    "progan_32": _preset("progan", 32, "ProGAN baseline: CIFAR-10."),
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
    "progan_demo_32": _preset(
        "progan",
        32,
        "Small ProGAN for the emoji demo on a CPU: grows 4x4 to 32x32 in 24 kimg.",
        G={"fmap_max": 64, "latent_size": 128},
        D={"fmap_max": 64},
        train={
            "total_kimg": 40,
            "tick_kimg": 2,
            "network_snapshot_ticks": 4,
            "ema_decay": None,
            "ema_rampup": 0.05,
            "sched": {
                "lod_initial_resolution": 4,
                "lod_training_kimg": 4,
                "lod_transition_kimg": 4,
                "minibatch_base": 16,
            },
        },
    ),
    "msg_progan_demo_32": _preset(
        "msg_progan",
        32,
        "progan_demo_32's G, loss and lr with multi-scale gradients instead of "
        "growing: the paper's comparison on the emoji demo.",
        G={"fmap_max": 64, "latent_size": 128},
        D={"fmap_max": 64},
        train={
            "loss": "wgan_gp",
            "lr": 0.001,
            "total_kimg": 40,
            "tick_kimg": 2,
            "network_snapshot_ticks": 4,
            "ema_rampup": 0.05,
        },
    ),
    "tiny_progan": _preset(
        "progan",
        16,
        "Tiny ProGAN for tests.",
        G={"fmap_base": 64, "fmap_max": 16, "latent_size": 16},
        D={"fmap_base": 64, "fmap_max": 16, "mbstd_group_size": 2},
        train={"ema_decay": None},
    ),
    "small_32": _preset(
        "msg_stylegan",
        32,
        "Your own 32x32 (and smaller) images on a CPU: demo_32's widths.",
        G={**_SMALL_STYLE, "mapping_fmaps": 128},
        D={"fmap_max": 64},
        train={"ema_rampup": 0.05},
    ),
    "small_64": _preset(
        "msg_stylegan",
        64,
        "Your own 64x64 images on a CPU: demo_32's widths.",
        G={**_SMALL_STYLE, "mapping_fmaps": 128},
        D={"fmap_max": 64},
        train={"ema_rampup": 0.05},
    ),
    "small_128": _preset(
        "msg_stylegan",
        128,
        "Your own 128x128 (and larger) images on a CPU: demo_32's widths.",
        G={**_SMALL_STYLE, "mapping_fmaps": 128},
        D={"fmap_max": 64},
        train={"ema_rampup": 0.05},
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


# The preset train.py uses for an `--arch` given without `--preset`.
DEFAULT_PRESETS = {
    "msg_stylegan": "demo_32",
    "msg_progan": "msg_progan_demo_32",
    "progan": "progan_demo_32",
}


def auto_preset(resolution, on_gpu):
    """The MSG-StyleGAN preset `--preset=auto` picks for a dataset.

    The networks train at the dataset's own resolution whatever the preset's;
    the preset gives the widths: the paper's on a GPU, small ones on a CPU.

    Args:
        resolution: the dataset's side.
        on_gpu: whether a GPU trains.

    Returns:
        `(name, reason)`: the preset and one line saying why.
    """
    side = f"{resolution}x{resolution}"
    if on_gpu:
        return "msg_stylegan_256", f"{side} images on a GPU: the paper's widths"
    name = "small_32" if resolution <= 32 else "small_64"
    if resolution >= 128:
        name = "small_128"
    return name, f"{side} images on a CPU: small widths; a GPU would get the paper's"
