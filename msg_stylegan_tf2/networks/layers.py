"""Keras 3 layers with the semantics of the official msg-stylegan-tf networks
(NHWC), each reproducing one op of `training/networks_stylegan.py` (the plain
ops are in `ops.py`). Which file holds what:

- `equalized.py`: equalized-learning-rate `EqualizedDense` and `EqualizedConv2D`
  (fused 2x up/down resampling, optional spectral normalisation) and `Bias`.
- `resample.py`: `Blur`, `Upscale2D`, `Downscale2D`.
- `normalization.py`: `PixelNorm`, `InstanceNorm`, `MinibatchStdDev`.
- `style.py`: `StyleMod` (AdaIN), `NoiseInput` and `fold_in_seed`.
- `spectral_norm.py`: `enable_spectral_norm` for a whole network.

This module imports them all, so that every layer is registered for Keras
deserialisation (`msg_stylegan_tf2>EqualizedDense`, ...), and re-exports them
for the callers that import them from here.
"""

from msg_stylegan_tf2.networks.equalized import (
    Bias,
    EqualizedConv2D,
    EqualizedDense,
)
from msg_stylegan_tf2.networks.normalization import (
    InstanceNorm,
    MinibatchStdDev,
    PixelNorm,
)
from msg_stylegan_tf2.networks.resample import Blur, Downscale2D, Upscale2D
from msg_stylegan_tf2.networks.spectral_norm import enable_spectral_norm
from msg_stylegan_tf2.networks.style import NoiseInput, StyleMod, fold_in_seed

__all__ = [
    "Bias",
    "Blur",
    "Downscale2D",
    "EqualizedConv2D",
    "EqualizedDense",
    "InstanceNorm",
    "MinibatchStdDev",
    "NoiseInput",
    "PixelNorm",
    "StyleMod",
    "Upscale2D",
    "enable_spectral_norm",
    "fold_in_seed",
]
