"""Metric names (`fid50k`, `fid50k_full`, `pr50k3`, `ppl_wend50k`, `swd16k`, ...)
and their image counts.

Importing this module does not start TensorFlow, so command lines can check
`--metrics` first.
"""

import dataclasses
import importlib
import re

# Each metric family, written once, beside the function that measures it:
# "module:attribute" of `fn(MetricOptions) -> {result name: value}`, imported
# only by `load` (`metrics.registry.METRICS` holds them all).
FAMILIES = {
    "fid": "metrics.registry:fid",
    "kid": "metrics.registry:kid",
    "is": "metrics.registry:inception_score",
    "swd": "metrics.registry:swd",
    "msssim": "metrics.registry:ms_ssim",
    "fid_full": "metrics.registry:fid_full",
    "pr": "metrics.registry:pr",
    "ppl_zfull": "metrics.registry:ppl_zfull",
    "ppl_wfull": "metrics.registry:ppl_wfull",
    "ppl_zend": "metrics.registry:ppl_zend",
    "ppl_wend": "metrics.registry:ppl_wend",
}
PPL_KINDS = tuple(kind for kind in FAMILIES if kind.startswith("ppl_"))
INCEPTION_KINDS = ("fid", "kid", "is", "fid_full")
# Families that need torchvision's VGG16 weights (metrics/vgg16.py).
VGG16_KINDS = ("pr", *PPL_KINDS)
# Families that need the generator's mapping and synthesis, not only images.
GENERATOR_KINDS = PPL_KINDS
# Families counted in units of 1024 (ProGAN's); the others in 1000 (StyleGAN's).
KILO_1024 = ("swd", "msssim")
# How a family's metrics are named, with their count N: `<family><N>k` but
# for these.
_SPELLED = {"fid_full": r"fid(\d+)k_full", "pr": r"pr(\d+)k3"}
_PATTERNS = {
    kind: re.compile(_SPELLED.get(kind, re.escape(kind) + r"(\d+)k") + "$")
    for kind in FAMILIES
}


def load(kind):
    """The function measuring family `kind` (`FAMILIES[kind]`), imported now.

    Raises:
        ValueError: `kind` is not a family, naming the families.
    """
    if kind not in FAMILIES:
        raise ValueError(
            f"Unknown metric family {kind!r}: available are {sorted(FAMILIES)}."
        )
    module, attribute = FAMILIES[kind].split(":")
    return getattr(importlib.import_module(module), attribute)


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A metric family and its image (or pair, or path) count."""

    name: str
    kind: str
    count: int


def parse_metric(name):
    """`swd16k` -> MetricSpec("swd16k", "swd", 16384); raises ValueError otherwise.

    `<N>k` means N * 1024 images for swd (ProGAN's `swd16k` is 16,384) and
    msssim pairs, and N * 1000 for the others (StyleGAN's `fid50k`): generated
    images for fid, kid, is, `fid<N>k_full` (against every real image) and
    `pr<N>k3` (k = 3 neighbours; at most N reals), and sampled paths for
    `ppl_{z,w}{full,end}<N>k`.
    """
    for kind, pattern in _PATTERNS.items():
        match = pattern.match(name)
        if match:
            unit = 1024 if kind in KILO_1024 else 1000
            return MetricSpec(name, kind, int(match.group(1)) * unit)
    raise ValueError(
        f"Unknown metric {name!r}: available are fid<N>k, kid<N>k, is<N>k (e.g. "
        "fid50k), fid<N>k_full, pr<N>k3, ppl_zfull<N>k, ppl_wfull<N>k, "
        "ppl_zend<N>k, ppl_wend<N>k (e.g. pr50k3, ppl_wend50k), swd<N>k (e.g. "
        "swd16k) and msssim<N>k (e.g. msssim10k)."
    )
