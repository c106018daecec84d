"""Metric names (`fid50k`, `swd16k`, `msssim10k`, ...) and their image counts.

Importing this module does not start TensorFlow, so command lines can check
`--metrics` first.
"""

import dataclasses
import re

# The families `metrics.registry.METRICS` holds (tests check the two agree).
FAMILIES = ("fid", "kid", "is", "swd", "msssim")
INCEPTION_KINDS = ("fid", "kid", "is")
_PATTERN = re.compile(rf"^({'|'.join(FAMILIES)})(\d+)k$")


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A metric family and its image (or pair) count."""

    name: str
    kind: str
    count: int


def parse_metric(name):
    """`swd16k` -> MetricSpec("swd16k", "swd", 16384); raises ValueError otherwise.

    `<N>k` means N * 1024 images for swd (ProGAN's `swd16k` is 16,384) and
    msssim pairs, and N * 1000 for fid, kid and is (StyleGAN's `fid50k`).
    """
    match = _PATTERN.match(name)
    if not match:
        raise ValueError(
            f"Unknown metric {name!r}: available are fid<N>k, kid<N>k, is<N>k (e.g. "
            "fid50k), swd<N>k (e.g. swd16k) and msssim<N>k (e.g. msssim10k)."
        )
    kind = match.group(1)
    unit = 1000 if kind in INCEPTION_KINDS else 1024
    return MetricSpec(name, kind, int(match.group(2)) * unit)
