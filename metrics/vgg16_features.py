"""VGG16 fc2 features of images, as stylegan2-ada's precision/recall detector
returns them (`vgg16.pt`, `return_features=True`), from torchvision's weights.

The images are resized to 224x224 with TensorFlow 1's bilinear resize (corners
not aligned, no half-pixel centres), normalised with ImageNet's mean and std,
and run through VGG16's convs, pool5 and fc1/fc2, each followed by its ReLU:
4096 non-negative features. torch-fidelity's tests found NVIDIA's detector
equal to this on torchvision's weights to 1e-4.
"""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from metrics.vgg16_weights import vgg16_conv_stages, vgg16_fc_layers

SIZE = 224
# torchvision's ImageNet normalisation, for images in [0, 1].
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class VGG16Features(tf.Module):
    """`features(images) -> [N, 4096]`: VGG16's post-ReLU fc2 activations.

    Channel and fc widths come from the weights, so a slim stand-in with
    torchvision's names works too.
    """

    def __init__(self, state_dict: Mapping[str, np.ndarray], name="vgg16_features"):
        """Builds the network from a torchvision `vgg16` state dict.

        Args:
            state_dict: `features.<i>.weight/bias` (OIHW convs) and
                `classifier.0/3.weight/bias` (torch's `[out, in]` linears);
                `classifier.6` (the logits) is ignored.

        Raises:
            ValueError: a missing name, or shapes that do not chain (fc1 must
                take the 7x7 pool5 map of the last conv's width).
        """
        super().__init__(name=name)
        stages = vgg16_conv_stages(state_dict)
        width = stages[-1][-1][0].shape[-1]
        fcs = vgg16_fc_layers(state_dict, width)
        self.num_features = fcs[-1][0].shape[1]
        with self.name_scope:
            self.convs = [
                (tf.Variable(k, trainable=False), tf.Variable(b, trainable=False))
                for convs in stages
                for k, b in convs
            ]
            self.stage_sizes = [len(convs) for convs in stages]
            self.fcs = [
                (tf.Variable(w, trainable=False), tf.Variable(b, trainable=False))
                for w, b in fcs
            ]
        self._features = tf.function(self._forward, reduce_retracing=True)

    def _forward(self, images):
        x = tf.cast(images, tf.float32)
        x = tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x
        # TensorFlow 1's resize_bilinear (no half-pixel centres).
        x = tf.raw_ops.ResizeBilinear(
            images=x, size=[SIZE, SIZE], align_corners=False, half_pixel_centers=False
        )
        x = (x / 255.0 - tf.constant(MEAN)) / tf.constant(STD)
        convs = iter(self.convs)
        for size in self.stage_sizes:
            for kernel, bias in [next(convs) for _ in range(size)]:
                x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
            x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        for weight, bias in self.fcs:
            x = tf.nn.relu(tf.matmul(x, weight) + bias)
        return x

    def __call__(self, images) -> np.ndarray:
        """Features of uint8 images.

        Args:
            images: uint8 `[N, H, W, C]`, C 1 (repeated to RGB) or 3.

        Returns:
            float32 `[N, num_features]` (4096 for the real VGG16).

        Raises:
            ValueError: images that are not `[N, H, W, 1 or 3]`.
        """
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                "VGG16 features need images [N, H, W, 1 or 3]. Received shape: "
                f"{images.shape}"
            )
        return self._features(tf.convert_to_tensor(images)).numpy()


def vgg16_features_of(network, batches, count) -> np.ndarray:
    """Features `[n, F]` of the first `count` images (fewer if `batches` ends
    first) of an iterator of uint8 `[b, R, R, C]` batches."""
    features, seen = [], 0
    for images in batches:
        if seen >= count:
            break
        features.append(network(images[: count - seen]))
        seen += len(features[-1])
    if not features:
        return np.zeros([0, network.num_features], np.float32)
    return np.concatenate(features)
