"""LPIPS (Zhang et al. 2018), VGG variant v0.1: a learned perceptual image distance.

Computes the function of the `lpips` package's `LPIPS(net='vgg')` with its default
options (inputs in [-1, 1], linear heads on, one distance per image pair).
"""

import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from metrics.vgg16_weights import vgg16_conv_stages

# The `lpips` package's ScalingLayer: ImageNet mean and std in [-1, 1] units.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# Added to each feature's channel norm before dividing (lpips.normalize_tensor).
EPSILON = 1e-10
STAGE_NAMES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
# Side below which relu5_3 (after four pools) would be empty.
MIN_SIZE = 16
LIN_WEIGHTS_PATH = pathlib.Path(__file__).parent / "data" / "lpips_vgg_v0.1.npz"


def load_lin_weights(path=LIN_WEIGHTS_PATH) -> dict[str, np.ndarray]:
    """Reads the learned linear heads of LPIPS v0.1 (VGG).

    Args:
        path: an `.npz` holding `lin0` ... `lin4`; by default the shipped file,
            converted from the `lpips` package's `weights/v0.1/vgg.pth`.

    Returns:
        `{"lin0": [64], "lin1": [128], "lin2": [256], "lin3": [512], "lin4": [512]}`,
        float32, one non-negative weight per channel of each stage.
    """
    with np.load(path, allow_pickle=False) as data:
        return {f"lin{i}": data[f"lin{i}"].astype(np.float32) for i in range(5)}


class LPIPS(tf.Module):
    """LPIPS v0.1 on VGG16 features: one distance per image pair (lower: more alike).

    For each of VGG16's ReLU stages relu1_2 ... relu5_3, each feature vector is
    divided by its channel norm (+1e-10); the squared difference between the two
    images is weighted per channel by the learned linear head (no bias), averaged
    over space and summed over the stages. Channel widths come from the weights,
    so a slim stand-in VGG16 with the same layer names works too. Weights are
    non-trainable variables; the distance is differentiable w.r.t. its inputs and
    works eagerly and inside `tf.function`.
    """

    def __init__(
        self,
        stages: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
        lin_weights: Sequence[np.ndarray],
        name: str = "lpips",
    ):
        """Builds the metric from HWIO weights; most callers use `from_state_dicts`.

        Args:
            stages: 5 sequences of `(kernel [3, 3, C_in, C_out], bias [C_out])`,
                VGG16's convs up to relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
            lin_weights: 5 arrays `[C]` (or torch's `[1, C, 1, 1]`), C being the
                width of the matching stage.
            name: the module's name scope.

        Raises:
            ValueError: on a wrong number of stages or heads, or mismatched widths.
        """
        super().__init__(name=name)
        if len(stages) != 5 or len(lin_weights) != 5:
            raise ValueError(
                f"LPIPS needs 5 VGG stages and 5 linear heads. Received: "
                f"{len(stages)} stages, {len(lin_weights)} heads"
            )
        self.stages, self.lins = [], []
        with self.name_scope:
            for k, (convs, lin) in enumerate(zip(stages, lin_weights, strict=True)):
                variables = []
                for i, (kernel, bias) in enumerate(convs):
                    kernel = np.asarray(kernel, np.float32)
                    bias = np.asarray(bias, np.float32)
                    variables.append(
                        (
                            tf.Variable(kernel, trainable=False, name=f"conv{k}_{i}"),
                            tf.Variable(bias, trainable=False, name=f"bias{k}_{i}"),
                        )
                    )
                self.stages.append(variables)
                width = variables[-1][0].shape[-1]
                lin = np.asarray(lin, np.float32)
                if lin.size != width or lin.shape not in ((width,), (1, width, 1, 1)):
                    raise ValueError(
                        f"`lin{k}` must have shape [{width}] (or [1, {width}, 1, 1]) "
                        f"to match {STAGE_NAMES[k]}. Received: {lin.shape}"
                    )
                self.lins.append(
                    tf.Variable(lin.reshape(width), trainable=False, name=f"lin{k}")
                )

    @classmethod
    def from_state_dicts(
        cls,
        vgg_state_dict: Mapping[str, np.ndarray],
        lin_weights: Mapping[str, np.ndarray],
    ) -> "LPIPS":
        """Builds LPIPS from torchvision VGG16 weights and the linear heads.

        Args:
            vgg_state_dict: torchvision `vgg16` names to numpy arrays:
                `features.<i>.weight` OIHW `[C_out, C_in, 3, 3]` and
                `features.<i>.bias` `[C_out]` for i in 0, 2, 5, ..., 28; other keys
                (`classifier.*`) are ignored.
            lin_weights: `{"lin0": [C0], ..., "lin4": [C4]}`, e.g.
                `load_lin_weights()`.

        Raises:
            ValueError: on a missing key or a shape that does not chain.
        """
        missing = [f"lin{k}" for k in range(5) if f"lin{k}" not in lin_weights]
        if missing:
            raise ValueError(
                f"`lin_weights` must hold lin0 ... lin4. Missing: {missing}"
            )
        return cls(
            vgg16_conv_stages(vgg_state_dict),
            [lin_weights[f"lin{k}"] for k in range(5)],
        )

    def features(self, images: tf.Tensor) -> list[tf.Tensor]:
        """VGG16's five ReLU stages of images in [-1, 1].

        Args:
            images: `[N, H, W, 3]`, float in [-1, 1].

        Returns:
            5 tensors `[N, H / 2**k, W / 2**k, C_k]` (sizes floored), relu1_2 first.
        """
        shift = tf.constant(SHIFT, tf.float32)
        scale = tf.constant(SCALE, tf.float32)
        x = (tf.cast(images, tf.float32) - shift) / scale
        outputs = []
        for k, convs in enumerate(self.stages):
            if k:
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            for kernel, bias in convs:
                x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
            outputs.append(x)
        return outputs

    def stage_distances(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Each stage's share of the distance; `__call__` is their sum.

        Args:
            x, y: `[N, H, W, 3]`, float in [-1, 1], H and W >= 16.

        Returns:
            `[N, 5]` float32, relu1_2 first.

        Raises:
            ValueError: on shapes that are not `[N, H, W, 3]` alike, or H or W < 16.
            TypeError: on non-float images.
        """
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        _check_pair(x, y)
        batch = tf.shape(x)[0]
        x, y = tf.cast(x, tf.float32), tf.cast(y, tf.float32)
        shares = []
        for features, lin in zip(
            self.features(tf.concat([x, y], 0)), self.lins, strict=True
        ):
            unit = _unit_normalize(features)
            difference = tf.square(unit[:batch] - unit[batch:])
            weighted = tf.tensordot(difference, lin, axes=[[3], [0]])
            shares.append(tf.reduce_mean(weighted, axis=[1, 2]))
        return tf.stack(shares, axis=1)

    def __call__(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """LPIPS distance of each image pair.

        Args:
            x, y: `[N, H, W, 3]`, float in [-1, 1], H and W >= 16.

        Returns:
            `[N]` float32 distances (0 for identical images).

        Raises:
            ValueError: on shapes that are not `[N, H, W, 3]` alike, or H or W < 16.
            TypeError: on non-float images.
        """
        shares = self.stage_distances(x, y)
        # Add the stages in order, as the `lpips` package does.
        total = shares[:, 0]
        for k in range(1, 5):
            total = total + shares[:, k]
        return total


def _unit_normalize(features):
    """Divides `[N, H, W, C]` by its norm over C (+EPSILON), as lpips does.

    Where every channel is 0 the norm is 0 and so is its gradient: a plain sqrt's
    gradient there is 0 * inf = NaN, which only the ReLU's gradient mask hides.
    """
    squares = tf.reduce_sum(tf.square(features), axis=-1, keepdims=True)
    positive = squares > 0
    norm = tf.where(positive, tf.sqrt(tf.where(positive, squares, 1.0)), 0.0)
    return features / (norm + EPSILON)


def _check_pair(x, y):
    for name, images in (("x", x), ("y", y)):
        if not images.dtype.is_floating:
            raise TypeError(
                f"`{name}` must be float images in [-1, 1]. Received dtype: "
                f"{images.dtype.name}"
            )
        shape = images.shape
        if shape.rank != 4 or shape[-1] not in (3, None):
            raise ValueError(
                f"`{name}` must be NHWC [N, H, W, 3]. Received shape: {shape}"
            )
        if any(side is not None and side < MIN_SIZE for side in shape[1:3]):
            raise ValueError(
                f"`{name}` must be at least {MIN_SIZE}x{MIN_SIZE} (relu5_3 comes "
                f"after four 2x2 pools). Received shape: {shape}"
            )
    if not x.shape.is_compatible_with(y.shape):
        raise ValueError(
            f"`x` and `y` must have the same shape. Received: {x.shape} and {y.shape}"
        )


def lpips_from_files(vgg16_path, lin_path=LIN_WEIGHTS_PATH) -> LPIPS:
    """LPIPS from torchvision's VGG16 checkpoint and the shipped linear heads.

    Args:
        vgg16_path: torchvision's `vgg16-397923af.pth` (ImageNet weights), read
            without running code from it.
        lin_path: the linear heads' `.npz` (default: the shipped v0.1 heads).

    The file's provenance (its pinned sha256) is `metrics.vgg16.vgg16_file`'s
    to check, where the path comes from.

    Raises:
        ValueError: on an unreadable, corrupt or unexpected file, in one line.
    """
    # Import the torch reader lazily: only this entry point reads .pth files.
    from dnnlib import torch_checkpoint

    state_dict = torch_checkpoint.load_state_dict(vgg16_path)
    return LPIPS.from_state_dicts(state_dict, load_lin_weights(lin_path))
