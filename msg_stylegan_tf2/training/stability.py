"""The paper's training-stability measure, recorded at every image snapshot."""

import numpy as np

from dnnlib.jsonl import JsonLines


class Stability:
    """Per resolution, the MSE between the fixed-latent images of a snapshot
    and those of the previous one (values clipped to [-1, 1]), appended to
    `<run>/stability.jsonl` as `{"kimg": k, "mse": {"<r>x<r>": mse}}`.

    Args:
        path: the jsonl file.
    """

    def __init__(self, path):
        self.file = JsonLines(path)
        self.previous = None

    def record(self, pyramid, number):
        """Records a snapshot's pyramid (list of `[N, r, r, C]`, 4x4 first).

        Returns:
            `{side: mse}`; empty for the first snapshot of a process.
        """
        current = [np.clip(level, -1.0, 1.0) for level in pyramid]
        previous, self.previous = self.previous, current
        if previous is None:
            return {}
        mse = {
            int(now.shape[1]): float(np.mean(np.square(now - before)))
            for now, before in zip(current, previous, strict=True)
        }
        self.file.append(
            {"kimg": number, "mse": {f"{k}x{k}": v for k, v in mse.items()}}
        )
        return mse
