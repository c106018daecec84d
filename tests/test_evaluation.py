"""evaluation.generate_uint8: a metric's images do not depend on the batch."""

import gc
import weakref

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.inference.evaluation import _forward, generate_uint8
from msg_stylegan_tf2.networks.build import build_networks


def assert_images_equal(a, b):
    # Different batch sizes may round a pixel differently (float kernels).
    difference = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
    assert difference.max() <= 1 and difference.mean() < 0.05


@pytest.mark.parametrize("label_size", [0, 3])
def test_images_are_the_same_in_any_batch(label_size):
    G, _ = build_networks("tiny", label_size=label_size)
    for epilogue in G.synthesis.epilogues:  # Noise counts.
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    labels = np.eye(3, dtype=np.float32) if label_size else None

    def images(batch):
        batches = list(generate_uint8(G, 7, batch, seed=5, labels=labels))
        assert [len(b) for b in batches] == [batch] * (7 // batch) + (
            [7 % batch] if 7 % batch else []
        )
        return np.concatenate(batches)

    whole = images(7)
    assert_images_equal(images(3), whole)  # Batches of 3, 3 and 1.
    # Image i: the latent stream of the seed, and noise drawn from [seed, i].
    latents = np.random.RandomState(5).randn(7, G.latent_size).astype(np.float32)
    y = None
    if label_size:
        y = labels[np.random.RandomState([5, 1]).randint(0, 3, 7)]
    for i in (0, 6):
        row = None if y is None else y[i : i + 1]
        seed = tf.constant([[5, i]], tf.int64)
        alone = G(latents[i : i + 1], row, truncation_psi=1.0, noise_seed=seed)[-1]
        alone = np.clip(np.rint((np.asarray(alone) + 1) * 127.5), 0, 255)
        assert_images_equal(whole[i], alone[0])


def test_a_generator_is_traced_once_for_every_metric_that_measures_it():
    # The trainer measures the same Gs at every snapshot: one trace per shape.
    G, _ = build_networks("tiny")
    for _ in range(3):
        list(generate_uint8(G, 4, 4, seed=1))
    forward = _forward(G, 1.0)
    assert forward.experimental_get_tracing_count() == 1
    assert _forward(G, 0.7) is not forward
    # The cache does not keep a generator alive.
    gone = weakref.ref(G)
    del G, forward
    gc.collect()
    assert gone() is None
