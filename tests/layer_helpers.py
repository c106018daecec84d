"""Shared helpers of the layer tests: random inputs and numpy references (NHWC),
which follow the official TF1 ops of training/networks_stylegan.py."""

import numpy as np

ATOL = 1e-5


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# Numpy references.
def np_correlate(x, w, stride=1):
    """'SAME' zero-padded cross-correlation, x `[N, H, W, C]`, w `[kh, kw, C, F]`."""
    n, h, wd, _ = x.shape
    kh, kw = w.shape[:2]
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, [(0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    out = np.zeros((n, oh, ow, w.shape[3]))
    for p in range(kh):
        for q in range(kw):
            patch = xp[:, p : p + stride * oh : stride, q : q + stride * ow : stride]
            out += np.einsum("nhwc,cf->nhwf", patch, w[p, q])
    return out


def np_up(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def np_down(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
