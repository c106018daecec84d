"""Projection of images into W: stylegan2-ada's projector (Karras et al. 2020,
`projector.py`) for MSG-StyleGAN generators.

From the W average (of `w_avg_samples` mapped latents), one w per target
(broadcast to every layer; one per layer with `w_plus`) and the noise maps of
every layer are optimised with Adam (betas 0.9/0.999, eps 1e-8, as torch's):
the learning rate ramps up over the first `lr_rampup_length` of the steps and
down (cosine) over the last `lr_rampdown_length`; Gaussian noise of
`w_std * initial_noise_factor * max(0, 1 - t / noise_ramp_length)**2` is added
to w at step t (as a fraction of the steps); the noise maps are regularised
(the squared mean autocorrelation at one pixel shift, over a pyramid of 2x2
means down to 8x8, weight `regularize_noise_weight`) and renormalised to zero
mean and unit variance after every step. MSG-StyleGAN's generator emits a
pyramid; the distance (`Distance`) may add the lower levels.

Shapes: targets uint8 `[N, R, R, C]` at the generator's resolution R; w
`[N, num_layers, dlatent_size]`; noise maps `[N, r, r, 1]` per layer.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from msg_stylegan_tf2.choices import ProjectionOptions
from msg_stylegan_tf2.networks.pyramid import (
    downsample_pyramid,
    float_to_uint8,
    uint8_to_float,
)

W_AVG_SEED = 123  # stylegan2-ada's seed of the latents for the W statistics.


def learning_rate(step, options):
    """The learning rate of `step` (0-based): ramped up linearly, down by a
    half cosine."""
    t = step / options.num_steps
    ramp = min(1.0, (1.0 - t) / options.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp *= min(1.0, t / options.lr_rampup_length)
    return options.initial_learning_rate * ramp


def w_noise_scale(step, w_std, options):
    """The standard deviation of the noise added to w at `step`."""
    t = step / options.num_steps
    return (
        w_std
        * options.initial_noise_factor
        * max(0.0, 1.0 - t / options.noise_ramp_length) ** 2
    )


def w_statistics(G, samples, labels=None, batch=1000):
    """`(w_avg [1, 1, dlatent_size], w_std)` of `samples` mapped latents
    (seed `W_AVG_SEED`); w_std is the root mean squared distance to w_avg.

    Args:
        labels: None, or one label row `[1, label_size]` for every sample.
    """
    z = np.random.RandomState(W_AVG_SEED).randn(samples, G.latent_size)
    ws = []
    for start in range(0, samples, batch):
        part = z[start : start + batch].astype(np.float32)
        rows = None if labels is None else np.repeat(labels, len(part), axis=0)
        ws.append(G.mapping(tf.constant(part), rows)[:, :1].numpy().astype(np.float64))
    ws = np.concatenate(ws)
    w_avg = ws.mean(axis=0, keepdims=True)
    w_std = float(np.sqrt(np.sum((ws - w_avg) ** 2) / samples))
    return w_avg.astype(np.float32), w_std


def noise_regularization(maps):
    """`[N]`: for each image, the sum over its noise maps, and over their 2x2
    mean pyramids down to 8x8, of the squared mean products of each map with
    itself shifted (cyclically) by one pixel along the width and the height.

    Args:
        maps: list of `[N, r, r, 1]`.
    """
    total = 0.0
    for noise in maps:
        while True:
            for axis in (1, 2):
                shifted = tf.roll(noise, shift=1, axis=axis)
                total += tf.square(tf.reduce_mean(noise * shifted, axis=[1, 2, 3]))
            if noise.shape[1] <= 8:
                break
            noise = tf.nn.avg_pool2d(noise, ksize=2, strides=2, padding="VALID")
    return total


def normalized(noise):
    """Each image's map with zero mean and unit mean square: `[N, r, r, 1]`."""
    noise = noise - tf.reduce_mean(noise, axis=[1, 2, 3], keepdims=True)
    return noise * tf.math.rsqrt(
        tf.reduce_mean(tf.square(noise), axis=[1, 2, 3], keepdims=True)
    )


class Adam:
    """torch.optim.Adam's update (`eps` added to the bias-corrected root of
    the second moment), with a learning rate given at every step."""

    def __init__(self, variables, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.variables = list(variables)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        self.step = tf.Variable(0.0)

    def apply(self, grads, lr):
        self.step.assign_add(1.0)
        correction1 = 1.0 - self.beta1**self.step
        correction2 = 1.0 - self.beta2**self.step
        for variable, grad, m, v in zip(
            self.variables, grads, self.m, self.v, strict=True
        ):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * grad)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(grad))
            denominator = tf.sqrt(v) / tf.sqrt(correction2) + self.epsilon
            variable.assign_sub(lr / correction1 * m / denominator)


class PyramidDistance:
    """Pixel mean squared error over the MSG pyramid: the top level, plus
    `pyramid_weight` times each lower level's. No downloads; weaker than
    LPIPS for real photos (it matches colours, not structure).

    Call: synthesised and target pyramids (lists of `[N, r, r, C]` in
    [-1, 1], 4x4 first) -> `[N]`.
    """

    def __init__(self, pyramid_weight=1.0):
        self.pyramid_weight = pyramid_weight

    def top(self, synth, target):
        return tf.reduce_mean(tf.square(synth - target), axis=[1, 2, 3])

    def __call__(self, synth, target):
        total = self.top(synth[-1], target[-1])
        if self.pyramid_weight:
            for s, t in zip(synth[:-1], target[:-1], strict=True):
                total += self.pyramid_weight * tf.reduce_mean(
                    tf.square(s - t), axis=[1, 2, 3]
                )
        return total


class LPIPSDistance(PyramidDistance):
    """LPIPS (VGG) at the top level, the images first reduced to 256x256 by
    area averaging where larger (as stylegan2-ada's projector), plus
    `pyramid_weight` times each lower level's pixel mean squared error.

    Args:
        lpips: `lpips(x, y) -> [N]` on `[N, H, W, 3]` images in [-1, 1].
    """

    def __init__(self, lpips, pyramid_weight=0.0):
        super().__init__(pyramid_weight)
        self.lpips = lpips

    def top(self, synth, target):
        if synth.shape[1] > 256:
            synth = tf.image.resize(synth, [256, 256], method="area")
            target = tf.image.resize(target, [256, 256], method="area")
        return self.lpips(synth, target)


@dataclasses.dataclass
class Projection:
    """What a projection gives: `w` `[N, num_layers, dlatent_size]`, the
    optimised noise maps (one `[N, r, r, 1]` per layer) and the last step's
    distances `[N]`."""

    w: np.ndarray
    noise: list
    distance: np.ndarray


class Projector:
    """Projects a batch of targets into W of `G` (an MSG-StyleGAN generator).

    Args:
        G: the generator (its `mapping`, `synthesis` and `num_layers`).
        distance: a `PyramidDistance` or `LPIPSDistance`.
        options: `ProjectionOptions` (default: stylegan2-ada's).
        labels: None, or one label row `[1, label_size]` (conditional G).
    """

    def __init__(self, G, distance, options=None, labels=None):
        options = options or ProjectionOptions()
        self.G, self.distance, self.options = G, distance, options
        self.w_avg, self.w_std = w_statistics(G, options.w_avg_samples, labels)

    def steps(self, targets):
        """Runs the optimisation on uint8 `targets` `[N, R, R, C]`, yielding
        after each step `(step, distances [N], top images uint8 [N, R, R, C])`;
        then `self.result` is the `Projection`."""
        G, options = self.G, self.options
        n = len(targets)
        levels = G.synthesis.resolution_log2 - 1
        target = downsample_pyramid(uint8_to_float(targets), levels)
        layers = G.num_layers if options.w_plus else 1
        w = tf.Variable(np.repeat(np.repeat(self.w_avg, n, 0), layers, 1))
        rng = np.random.RandomState(options.seed)
        noise = [
            tf.Variable(rng.randn(n, *shape[1:]).astype(np.float32))
            for shape in G.synthesis.noise_shapes
        ]
        adam = Adam([w, *noise])
        weight = options.regularize_noise_weight

        @tf.function
        def step_fn(lr, scale, step):
            draw = tf.random.stateless_normal(tf.shape(w), [options.seed, step])
            with tf.GradientTape() as tape:
                ws = w + draw * scale
                ws = tf.tile(ws, [1, G.num_layers // layers, 1])
                synth = G.synthesis(ws, randomize_noise=False, noise=noise or None)
                synth = [tf.cast(image, tf.float32) for image in synth]
                distances = self.distance(synth, target)
                loss = tf.reduce_sum(distances)
                loss += tf.reduce_sum(noise_regularization(noise)) * weight
            grads = tape.gradient(loss, [w, *noise])
            adam.apply(grads, lr)
            for variable in noise:
                variable.assign(normalized(variable))
            return distances, float_to_uint8(synth[-1])

        distances = None
        for step in range(options.num_steps):
            distances, images = step_fn(
                tf.constant(learning_rate(step, options), tf.float32),
                tf.constant(w_noise_scale(step, self.w_std, options), tf.float32),
                tf.constant(step, tf.int32),
            )
            yield step, distances.numpy(), images.numpy()
        ws = np.repeat(w.numpy(), G.num_layers // layers, axis=1)
        self.result = Projection(
            w=ws,
            noise=[variable.numpy() for variable in noise],
            distance=None if distances is None else distances.numpy(),
        )

    def project(self, targets):
        """`Projection` of uint8 `targets` `[N, R, R, C]`."""
        for _ in self.steps(targets):
            pass
        return self.result


def synthesize(G, w, noise=None):
    """The top image, uint8 `[N, R, R, C]`, of `G.synthesis` at `w`
    `[N, num_layers, dlatent_size]` with the given noise maps (else the
    network's stored noise)."""
    images = G.synthesis(tf.constant(w), randomize_noise=False, noise=noise or None)
    return float_to_uint8(images[-1]).numpy()
