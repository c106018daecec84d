"""Metric names (`fid50k`, `fid50k_full`, `pr50k3`, `ppl_wend50k`, `swd16k`, ...)
and their image counts.

Importing this module does not start TensorFlow, so command lines can check
`--metrics` first.
"""

import dataclasses
import re

PPL_KINDS = ("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend")
# The families `metrics.registry.METRICS` holds (tests check the two agree).
FAMILIES = ("fid", "kid", "is", "swd", "msssim", "fid_full", "pr", *PPL_KINDS)
INCEPTION_KINDS = ("fid", "kid", "is", "fid_full")
# Families that need torchvision's VGG16 weights (metrics/vgg16.py).
VGG16_KINDS = ("pr", *PPL_KINDS)
# Families that need the generator's mapping and synthesis, not only images.
GENERATOR_KINDS = PPL_KINDS
# Families counted in units of 1024 (ProGAN's); the others in 1000 (StyleGAN's).
KILO_1024 = ("swd", "msssim")
_PATTERNS = (
    (re.compile(r"^(fid|kid|is|swd|msssim)(\d+)k$"), None),
    (re.compile(r"^fid(\d+)k_full$"), "fid_full"),
    (re.compile(r"^pr(\d+)k3$"), "pr"),
    (re.compile(r"^(ppl_[zw](?:full|end))(\d+)k$"), None),
)


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
    for pattern, kind in _PATTERNS:
        match = pattern.match(name)
        if match:
            groups = match.groups()
            kind = kind or groups[0]
            unit = 1024 if kind in KILO_1024 else 1000
            return MetricSpec(name, kind, int(groups[-1]) * unit)
    raise ValueError(
        f"Unknown metric {name!r}: available are fid<N>k, kid<N>k, is<N>k (e.g. "
        "fid50k), fid<N>k_full, pr<N>k3, ppl_zfull<N>k, ppl_wfull<N>k, "
        "ppl_zend<N>k, ppl_wend<N>k (e.g. pr50k3, ppl_wend50k), swd<N>k (e.g. "
        "swd16k) and msssim<N>k (e.g. msssim10k)."
    )
