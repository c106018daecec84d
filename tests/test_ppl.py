"""Perceptual path length: sampling, scaling, crop, downsampling and the
percentile filter against a numpy reference on a tiny numpy generator and pixel
MSE; `ppl_*` through the registry with LPIPS; the generator adapters."""

import numpy as np
import pytest
import tensorflow as tf
from torch_helpers import VGG16_WIDTHS, vgg16_arrays

from metrics import ppl as ppl_math
from metrics import registry
from metrics.lpips import LPIPS, load_lin_weights
from metrics.ppl import StyleGenerator, filtered_mean, path_lengths, slerp
from metrics.registry import MetricOptions

LATENT, LAYERS, DLATENT = 6, 3, 5


def tiny_generator(resolution, channels=3, label_size=0, seed=0):
    """A numpy StyleGenerator: w = tanh(z A + y B) per layer; the image a
    smooth function of w plus high-frequency noise from its seed row."""
    rng = np.random.RandomState(seed)
    a = rng.randn(LATENT, DLATENT)
    b = rng.randn(max(label_size, 1), DLATENT)
    p = rng.randn(LAYERS * DLATENT, 8 * 8 * channels) / 4
    calls = []

    def mapping(z, y):
        x = z @ a + (0 if y is None else y @ b)
        return np.repeat(np.tanh(x)[:, None], LAYERS, axis=1) * [[[1], [0.5], [2]]]

    def synthesis(w, seeds):
        calls.append(np.array(seeds))
        low = (np.reshape(w, [len(w), -1]) @ p).reshape(-1, 8, 8, channels)
        up = np.kron(low, np.ones([1, resolution // 8, resolution // 8, 1]))
        noise = np.stack(
            [np.random.RandomState(list(s)).randn(*up.shape[1:]) for s in seeds]
        )
        return np.tanh(up + 0.3 * noise)

    labels = np.eye(label_size, dtype=np.float32) if label_size else None
    generator = StyleGenerator(LATENT, resolution, mapping, synthesis, labels)
    return generator, calls


def mse(x, y):
    return np.mean((np.asarray(x) - np.asarray(y)) ** 2, axis=(1, 2, 3))


def classic_slerp(a, b, t):
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    theta = np.arccos(np.dot(a, b))
    return (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)


def reference(generator, count, space, sampling, crop=False, seed=0, eps=1e-4):
    """Path lengths one sample at a time, from the documented streams."""
    z = np.random.RandomState(seed).randn(count, 2, LATENT)
    t = np.random.RandomState([seed, 2]).rand(count)
    if sampling == "end":
        t = np.zeros(count)
    rows = None
    if generator.labels is not None:
        picks = np.random.RandomState([seed, 1]).randint(
            0, len(generator.labels), count
        )
        rows = generator.labels[picks]
    out = []
    for i in range(count):
        y = None if rows is None else np.stack([rows[i], rows[i]])
        if space == "w":
            w0, w1 = generator.mapping(z[i].astype(np.float32), y)
            w = np.stack([w0 + (w1 - w0) * t[i], w0 + (w1 - w0) * (t[i] + eps)])
        else:
            ends = [classic_slerp(z[i, 0], z[i, 1], s) for s in (t[i], t[i] + eps)]
            w = generator.mapping(np.stack(ends).astype(np.float32), y)
        images = generator.synthesis(w, [[seed, i], [seed, i]])
        r = generator.resolution
        if crop:
            images = images[:, 3 * r // 8 : 7 * r // 8, r // 4 : 3 * r // 4]
        f = max(r // 256, 1)
        images = sum(images[:, i::f, j::f] for i in range(f) for j in range(f)) / f**2
        out.append(mse(images[:1], images[1:])[0] / eps**2)
    return np.array(out)


def test_slerp_of_orthogonal_directions():
    a, b = np.array([[2.0, 0.0, 0.0]]), np.array([[0.0, 3.0, 0.0]])
    np.testing.assert_allclose(slerp(a, b, [[0.5]]), [[2**-0.5, 2**-0.5, 0]])
    np.testing.assert_allclose(slerp(a, b, [[1 / 3]]), [[0.75**0.5, 0.5, 0]])
    np.testing.assert_allclose(slerp(a, b, [[0.0]]), [[1, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("space", ["z", "w"])
@pytest.mark.parametrize("sampling", ["full", "end"])
def test_path_lengths_equal_a_sample_by_sample_reference(space, sampling):
    generator, calls = tiny_generator(32, label_size=3)
    lengths = path_lengths(generator, mse, 9, space, sampling, batch=6, seed=4)
    # Three samples (6 images) per call; both images of a sample get the seed
    # row [seed, i] (the same noise).
    assert [len(c) for c in calls] == [6, 6, 6]
    np.testing.assert_array_equal(calls[0], [[4, 0], [4, 1], [4, 2]] * 2)
    expected = reference(generator, 9, space, sampling, seed=4)
    np.testing.assert_allclose(lengths, expected, rtol=2e-3)


def test_crop_and_downsampling_to_256():
    generator, _ = tiny_generator(512, channels=1)
    lengths = path_lengths(generator, mse, 3, "w", "full", crop=True, batch=2)
    np.testing.assert_allclose(
        lengths, reference(generator, 3, "w", "full", crop=True), rtol=2e-3
    )
    images = ppl_math.prepare_images(np.zeros([1, 512, 512, 1]), 512, crop=True)
    assert images.shape == (1, 128, 128, 3)  # Cropped to 256, halved, RGB.
    assert ppl_math.prepared_side(512, crop=True) == 128
    assert ppl_math.prepared_side(16, crop=True) == 8
    assert ppl_math.prepared_side(1024) == 256


def test_a_sample_does_not_depend_on_the_batch():
    generator, _ = tiny_generator(16, label_size=2)
    whole = path_lengths(generator, mse, 7, "z", "full", batch=14, seed=1)
    np.testing.assert_allclose(
        path_lengths(generator, mse, 7, "z", "full", batch=5, seed=1), whole
    )
    assert not np.allclose(
        path_lengths(generator, mse, 7, "z", "full", batch=5, seed=2), whole
    )


def test_filtered_mean_drops_below_the_1st_and_above_the_99th_percentile():
    lengths = np.arange(201.0)
    lengths[0], lengths[200] = -1e6, 1e6
    np.random.RandomState(0).shuffle(lengths)
    # Sorted positions 2 (1%) and 198 (99%) are 2 and 198: 2..198 are kept.
    assert filtered_mean(lengths) == 100.0
    # With 100 samples the 1st percentile rounds down to the minimum: all kept.
    assert filtered_mean(np.arange(100.0)) == 49.5


def test_path_lengths_errors():
    generator, _ = tiny_generator(16)
    with pytest.raises(ValueError, match="`space` must be one of"):
        path_lengths(generator, mse, 2, "x", "full")
    with pytest.raises(ValueError, match="`sampling` must be one of"):
        path_lengths(generator, mse, 2, "z", "middle")
    with pytest.raises(ValueError, match="`epsilon` must be > 0"):
        path_lengths(generator, mse, 2, "z", "end", epsilon=0)


@pytest.fixture(scope="module")
def vgg16():
    """torchvision's VGG16 names and conv widths (LPIPS's heads need them)."""
    return vgg16_arrays(VGG16_WIDTHS, hidden=8, classes=2)


@pytest.fixture(scope="module")
def tiny_G():
    from msg_stylegan_tf2.networks.build import build_networks

    G, _ = build_networks("tiny")
    for epilogue in G.synthesis.epilogues:  # Noise counts.
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    return G


def never(*args):
    raise AssertionError("ppl generates through `generator` only")


def test_ppl_metric_is_lpips_path_lengths_filtered(vgg16, tiny_G):
    from msg_stylegan_tf2.inference.evaluation import ppl_generator

    generator = ppl_generator(tiny_G)
    options = MetricOptions(
        never, never, count=6, batch=4, seed=2, generator=generator, vgg16=lambda: vgg16
    )
    result = registry.METRICS["ppl_wfull"](options)
    lpips = LPIPS.from_state_dicts(vgg16, load_lin_weights())
    lengths = path_lengths(generator, lpips, 6, "w", "full", batch=4, seed=2)
    assert set(result) == {"ppl"} and result["ppl"] > 0
    assert result["ppl"] == pytest.approx(filtered_mean(lengths), rel=1e-4)


def test_ppl_metric_refusals(vgg16):
    generator, _ = tiny_generator(16)
    options = MetricOptions(
        never, never, count=2, generator=generator, vgg16=lambda: vgg16, ppl_crop=True
    )
    with pytest.raises(ValueError, match="ppl_zend: the images are 8x8 after the face"):
        registry.METRICS["ppl_zend"](options)
    options = MetricOptions(never, never, count=2, vgg16=lambda: vgg16)
    with pytest.raises(ValueError, match="ppl_wend needs the generator's mapping"):
        registry.METRICS["ppl_wend"](options)


def test_ppl_crop_names_its_result(vgg16):
    generator, _ = tiny_generator(128)
    options = MetricOptions(
        never, never, count=2, generator=generator, vgg16=lambda: vgg16, ppl_crop=True
    )
    result = registry.METRICS["ppl_zfull"](options)
    assert list(result) == ["ppl_crop"] and np.isfinite(result["ppl_crop"])


def test_ppl_generator_maps_truncates_and_synthesises_per_seed_row(tiny_G):
    from msg_stylegan_tf2.inference.evaluation import ppl_generator

    z = np.random.RandomState(0).randn(2, tiny_G.latent_size).astype(np.float32)
    w = np.asarray(tiny_G.mapping(z, None))
    generator = ppl_generator(tiny_G)
    np.testing.assert_allclose(generator.mapping(z, None), w, rtol=1e-5)
    truncated = ppl_generator(tiny_G, truncation_psi=0.5).mapping(z, None)
    expected = tiny_G.truncate(w, 0.5, tiny_G.truncation_cutoff)
    np.testing.assert_allclose(truncated, expected, rtol=1e-5, atol=1e-6)
    # The same seed row gives the same noise, another row other noise.
    same = np.stack([w[0], w[0], w[0]])
    images = generator.synthesis(same, np.array([[3, 1], [3, 1], [3, 2]]))
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[0], images[1], atol=1e-6)
    assert np.abs(images[0] - images[2]).max() > 1e-3
    seeds = tf.constant([[3, 1]], tf.int64)
    direct = tiny_G.synthesis(w[:1], randomize_noise=True, noise_seed=seeds)[-1]
    np.testing.assert_allclose(images[0], direct[0], atol=1e-5)


def test_ppl_runs_in_float32_for_a_mixed_precision_generator(tiny_G):
    from msg_stylegan_tf2.inference.evaluation import float32_generator, ppl_generator
    from msg_stylegan_tf2.networks.network_base import dtype_policy_scope

    config = {**tiny_G.get_config(), "dtype": "mixed_bfloat16"}
    with dtype_policy_scope("mixed_bfloat16"):
        G16 = type(tiny_G).from_config(config)
        G16.build()
    G16.set_weights(tiny_G.get_weights())
    assert G16.compute_dtype == "bfloat16"
    copy = float32_generator(G16)
    assert copy.compute_dtype == "float32" and float32_generator(tiny_G) is tiny_G
    z = np.random.RandomState(1).randn(2, tiny_G.latent_size).astype(np.float32)
    generator = ppl_generator(G16)
    np.testing.assert_allclose(
        generator.mapping(z, None), ppl_generator(tiny_G).mapping(z, None), rtol=1e-5
    )


def test_ppl_refuses_a_generator_without_mapping_and_synthesis():
    from msg_stylegan_tf2.inference.evaluation import (
        check_generator_metrics,
        ppl_generator,
    )
    from msg_stylegan_tf2.networks.build import build_networks

    G, _ = build_networks("tiny_progan")
    with pytest.raises(ValueError, match="this ProGANGenerator has none"):
        ppl_generator(G)
    with pytest.raises(ValueError, match="^ppl_wend1k needs a style-based .*`arch="):
        check_generator_metrics(["swd1k", "ppl_wend1k"], arch="progan")
    check_generator_metrics(["swd1k"], arch="progan")
    check_generator_metrics(["ppl_zfull1k"], arch="msg_stylegan")


class StyleModule(tf.Module):
    """A SavedModel of G with export.py's `mapping`, `synthesis` (with a
    noise mode) and `dlatent_avg` signatures, each optional."""

    def __init__(self, G):
        super().__init__()
        self.weights = [w.value for w in G.weights]
        z = tf.TensorSpec([None, G.latent_size], tf.float32, name="latents")
        w = tf.TensorSpec([None, G.num_layers, 16], tf.float32, name="dlatents")
        mode = tf.TensorSpec([], tf.string, name="noise_mode")

        def pyramid(images):
            return {f"images_{i.shape[1]:04d}": i for i in images}

        self.serve = tf.function(
            lambda latents, truncation_psi: pyramid(
                G(latents, truncation_psi=truncation_psi, randomize_noise=False)
            ),
            input_signature=[z, tf.TensorSpec([], tf.float32, name="truncation_psi")],
        )
        self.mapping = tf.function(
            lambda latents: {"dlatents": G.mapping(latents, None)}, input_signature=[z]
        )
        self.synthesis = tf.function(
            lambda dlatents, noise_mode: pyramid(
                G.synthesis(dlatents, randomize_noise=False)
            ),
            input_signature=[w, mode],
        )
        self.dlatent_avg = tf.function(
            lambda: {
                "dlatent_avg": tf.identity(G.dlatent_avg),
                "truncation_cutoff": tf.constant(G.truncation_cutoff, tf.int32),
            },
            input_signature=[],
        )

    def save(self, path, names):
        signatures = {"serving_default": self.serve}
        signatures.update({name: getattr(self, name) for name in names})
        tf.saved_model.save(self, str(path), signatures=signatures)
        return path


def test_a_saved_models_signatures_for_ppl(tiny_G, tmp_path):
    from msg_stylegan_tf2.inference.evaluation import SavedModelNetwork, ppl_generator

    tiny_G.dlatent_avg.assign(tf.fill(tiny_G.dlatent_avg.shape, 0.3))
    module = StyleModule(tiny_G)
    names = ("mapping", "synthesis", "dlatent_avg")
    saved = SavedModelNetwork(module.save(tmp_path / "style", names))
    z = np.random.RandomState(0).randn(2, tiny_G.latent_size).astype(np.float32)
    w = tiny_G.mapping(z, None)
    generator = ppl_generator(saved)
    np.testing.assert_allclose(generator.mapping(z, None), w, rtol=1e-5, atol=1e-6)
    truncated = ppl_generator(saved, truncation_psi=0.5).mapping(z, None)
    expected = tiny_G.truncate(w, 0.5, tiny_G.truncation_cutoff)
    np.testing.assert_allclose(truncated, expected, rtol=1e-5, atol=1e-6)
    images = generator.synthesis(np.asarray(w), None)  # The stored noise.
    expected = tiny_G.synthesis(w, randomize_noise=False)[-1]
    assert images.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(images, expected, atol=1e-5)
    # Without the signatures PPL needs: one line each.
    bare = SavedModelNetwork(module.save(tmp_path / "bare", ()))
    with pytest.raises(ValueError, match="bare: this SavedModel has no `mapping` "):
        ppl_generator(bare)
    untruncatable = SavedModelNetwork(module.save(tmp_path / "w", names[:2]))
    ppl_generator(untruncatable)
    with pytest.raises(ValueError, match="no `dlatent_avg` signature, which PPL with"):
        ppl_generator(untruncatable, truncation_psi=0.7)
