"""Networks: shapes at every level, official parameter counts, presets, configs,
invalid arguments, truncation and W-average semantics, and MirroredStrategy."""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.networks.build import (
    COMBINE_FUNCTIONS,
    PRESETS,
    Discriminator,
    Generator,
    ProGANGenerator,
    assign_official_variables,
    build_networks,
    count_params,
    official_variables,
)

DATA = pathlib.Path(__file__).parent / "data" / "official"
TINY_G = dict(fmap_base=64, fmap_max=16, latent_size=8, dlatent_size=8, mapping_fmaps=8)
TINY_G.update(mapping_layers=2, num_channels=3)
TINY_D = dict(fmap_base=64, fmap_max=16, num_channels=3, mbstd_group_size=2)


def pyramid_shapes(batch, resolution, channels=3):
    count = int(np.log2(resolution)) - 1
    return [(batch, 4 * 2**i, 4 * 2**i, channels) for i in range(count)]


@pytest.mark.parametrize("resolution", [8, 16, 32])
@pytest.mark.parametrize("fused_scale", [False, True])
def test_msg_stylegan_generator_shapes(resolution, fused_scale):
    G = Generator(resolution=resolution, fused_scale=fused_scale, **TINY_G)
    images = G(tf.random.normal([2, 8]))
    assert [tuple(x.shape) for x in images] == pyramid_shapes(2, resolution)
    assert G.synthesis.num_layers == 2 * int(np.log2(resolution)) - 2


@pytest.mark.parametrize("resolution", [8, 32])
def test_msg_progan_generator_shapes(resolution):
    G = ProGANGenerator(resolution=resolution, num_channels=3, latent_size=8)
    images = G(tf.random.normal([2, 8]))
    assert [tuple(x.shape) for x in images] == pyramid_shapes(2, resolution)


@pytest.mark.parametrize("combine", COMBINE_FUNCTIONS)
@pytest.mark.parametrize("resolution", [8, 32])
def test_discriminator_scores_shape(combine, resolution):
    D = Discriminator(resolution=resolution, combine=combine, **TINY_D)
    images = [tf.random.normal(s) for s in pyramid_shapes(4, resolution)]
    assert tuple(D(images).shape) == (4, 1)


def test_discriminator_label_switch_selects_the_class_score():
    D = Discriminator(resolution=8, label_size=3, **TINY_D)
    D.build()
    images = [tf.random.normal(s) for s in pyramid_shapes(2, 8)]
    labels = tf.constant([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    D_plain = Discriminator(resolution=8, label_size=3, **TINY_D)
    D_plain.build()
    D_plain.set_weights(D.get_weights())
    # Without the switch the head has label_size outputs; the switch picks one.
    head = _head(D, images)
    np.testing.assert_allclose(D(images, labels), [[head[0, 1]], [head[1, 2]]])
    with pytest.raises(ValueError, match="needs labels"):
        D(images)


def _head(D, images):
    # The blocks, full resolution first, up to the head's label_size outputs.
    x = None
    for block, image in zip(D.blocks, reversed(images), strict=True):
        x = block(x, image)
    return x


def test_discriminator_rejects_a_wrong_pyramid():
    D = Discriminator(resolution=16, **TINY_D)
    with pytest.raises(ValueError, match="pyramid of 3 images"):
        D([tf.zeros([2, 16, 16, 3])])
    with pytest.raises(ValueError, match=r"level 1 must be \[N, 8, 8, C\]"):
        D([tf.zeros([2, 4, 4, 3]), tf.zeros([2, 4, 4, 3]), tf.zeros([2, 16, 16, 3])])


def test_param_counts_equal_the_official_networks():
    counts = json.loads((DATA / "param_counts.json").read_text())
    for name, key in (("msg_stylegan_1024", "res1024"), ("msg_stylegan_256", "res256")):
        G, D = build_networks(name)
        official = counts[key]
        assert count_params(G) == official["G"]["trainable"]
        assert count_params(G, trainable_only=False) == official["G"]["all"]
        assert count_params(G.mapping) == official["G_mapping"]["trainable"]
        assert count_params(D) == official["D"]["trainable"]
        ours = {**official_variables(G), **official_variables(D)}
        theirs = {name: tuple(shape) for name, shape in official["variables"]}
        assert {k: v.shape for k, v in ours.items()} == theirs


def test_every_weight_has_an_official_name():
    for preset in ("tiny", "msg_progan_32"):
        G, D = build_networks(preset, label_size=2)
        for model in (G, D):
            named = {id(v) for v, _ in model.official_variable_map().values()}
            assert named == {id(w) for w in model.weights}


def test_assign_official_variables_rejects_bad_names_and_shapes():
    G, _ = build_networks("tiny")
    arrays = official_variables(G)
    with pytest.raises(ValueError, match="missing.*G/dlatent_avg"):
        assign_official_variables(
            G, {k: v for k, v in arrays.items() if "avg" not in k}
        )
    with pytest.raises(ValueError, match="unknown.*G/extra"):
        assign_official_variables(G, {**arrays, "G/extra": np.zeros(1)})
    bad = {**arrays, "G_synthesis/4x4/Const/const": np.zeros([1, 4, 4, 16])}
    with pytest.raises(
        ValueError, match=r"shape \(1, 16, 4, 4\). Received: \(1, 4, 4, 16\)"
    ):
        assign_official_variables(G, bad)


@pytest.mark.parametrize("cls, kwargs", [(Generator, TINY_G), (Discriminator, TINY_D)])
def test_network_config_round_trip(cls, kwargs):
    model = cls(resolution=8, **kwargs)
    clone = cls.from_config(model.get_config())
    assert clone.get_config() == model.get_config()


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (Generator, {"resolution": 12}, "power of two >= 4. Received: 12"),
        (Generator, {"fused_scale": "yes"}, "Received: 'yes'"),
        (Generator, {"nonlinearity": "tanh"}, "Received: 'tanh'"),
        (Generator, {"mapping_layers": -1}, "Received: -1"),
        (Discriminator, {"resolution": 4}, "power of two >= 8. Received: 4"),
        (Discriminator, {"combine": "sum"}, "Received: 'sum'"),
        (Discriminator, {"mbstd_num_features": 0}, "Received: 0"),
        (ProGANGenerator, {"resolution": 3}, "Received: 3"),
    ],
)
def test_invalid_network_arguments_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_build_networks_rejects_unknown_presets_and_options():
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        build_networks("nope")
    with pytest.raises(ValueError, match="Unknown network option 'colour'"):
        build_networks("tiny", colour=3)


def test_presets_build_and_name_their_arch():
    assert set(PRESETS) >= {"msg_stylegan_1024", "msg_stylegan_256", "msg_progan_32"}
    G, D = build_networks("tiny")
    assert isinstance(G, Generator) and D.combine == "cat_lin"
    G, D = build_networks("msg_progan_32", resolution=8)
    assert isinstance(G, ProGANGenerator) and D.combine == "simple"


def _random_dlatent_avg(G):
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape))


def test_truncation_defaults_and_training_semantics():
    G = Generator(resolution=8, **TINY_G)
    G.build()
    _random_dlatent_avg(G)
    z = tf.random.normal([4, 8])
    untruncated = G(z, truncation_psi=1.0, randomize_noise=False)
    default = G(z, randomize_noise=False)
    explicit = G(z, truncation_psi=0.7, truncation_cutoff=8, randomize_noise=False)
    tensor_psi = G(z, truncation_psi=tf.constant(0.7), randomize_noise=False)
    # Official semantics: None disables truncation, as psi 1 does.
    disabled = G(z, truncation_psi=None, randomize_noise=False)
    np.testing.assert_array_equal(disabled[-1], untruncated[-1])
    no_cutoff = G(z, truncation_cutoff=None, randomize_noise=False)
    np.testing.assert_array_equal(no_cutoff[-1], untruncated[-1])
    np.testing.assert_allclose(default[-1], explicit[-1], atol=1e-6)
    np.testing.assert_allclose(default[-1], tensor_psi[-1], atol=1e-6)
    assert np.abs(default[-1] - untruncated[-1]).max() > 1e-3
    # Truncation at psi 0 replaces w by the average on the truncated layers.
    dlatents = G.mapping(z)
    truncated = G.truncate(dlatents, 0.0, 1)
    np.testing.assert_allclose(truncated[:, 0], np.tile(G.dlatent_avg, [4, 1]))
    np.testing.assert_allclose(truncated[:, 1:], dlatents[:, 1:], atol=1e-6)
    # Training: no truncation, and the average moves by the official lerp.
    before = G.dlatent_avg.numpy()
    trained = G(z, randomize_noise=False, training=True)
    batch_avg = dlatents[:, 0].numpy().mean(axis=0)
    np.testing.assert_allclose(
        G.dlatent_avg, batch_avg + (before - batch_avg) * 0.995, atol=1e-6
    )
    G.dlatent_avg.assign(before)
    np.testing.assert_allclose(trained[-1], untruncated[-1], atol=1e-5)
    G(z)
    np.testing.assert_array_equal(G.dlatent_avg, before)


def test_randomize_noise_controls_determinism():
    G = Generator(resolution=8, **TINY_G)
    G.build()
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    z = tf.random.normal([2, 8])
    a, b = G(z, randomize_noise=False), G(z, randomize_noise=False)
    c = G(z)
    np.testing.assert_array_equal(a[-1], b[-1])
    assert np.abs(a[-1] - c[-1]).max() > 1e-3


def test_given_noise_maps_replace_the_stored_and_random_noise():
    G = Generator(resolution=8, **TINY_G)
    G.build()
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    w = G.mapping(tf.random.normal([2, 8]))
    shapes = G.synthesis.noise_shapes
    assert shapes == [(1, 4, 4, 1)] * 2 + [(1, 8, 8, 1)] * 2
    stored = [e.noise.noise for e in G.synthesis.epilogues]
    expected = G.synthesis(w, randomize_noise=False)
    given = G.synthesis(w, randomize_noise=True, noise=stored)
    np.testing.assert_array_equal(given[-1], expected[-1])
    # One map per image: image 1 with its own maps, image 0 with the stored.
    own = [tf.random.normal([1, *s[1:]]) for s in shapes]
    both = [tf.concat([a, b], axis=0) for a, b in zip(stored, own, strict=True)]
    mixed = G.synthesis(w, noise=both)
    np.testing.assert_array_equal(mixed[-1][0], expected[-1][0])
    assert np.abs(mixed[-1][1] - expected[-1][1]).max() > 1e-3


def test_mirrored_strategy_forward_equals_one_device():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    G0, D0 = build_networks("tiny", label_size=2)
    with strategy.scope():
        G1, D1 = build_networks("tiny", label_size=2)
    assign_official_variables(G1, official_variables(G0))
    assign_official_variables(D1, official_variables(D0))
    z = tf.random.normal([8, 16])
    labels = tf.one_hot(np.arange(8) % 2, 2)
    reference_images = G0(z, labels, randomize_noise=False)
    # Minibatch stddev groups images within a replica's shard, as the official
    # multi-GPU code does, so one device sees the same shards.
    reference_scores = tf.concat(
        [
            D0([x[i : i + 4] for x in reference_images], labels[i : i + 4])
            for i in (0, 4)
        ],
        axis=0,
    )
    before = G0.dlatent_avg.numpy()
    G0(z, labels, training=True)

    dataset = tf.data.Dataset.from_tensor_slices((z, labels)).batch(8)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(inputs):
        def replica_fn(z, labels):
            images = G1(z, labels, randomize_noise=False)
            G1(z, labels, training=True)
            return images[-1], D1(images, labels)

        return strategy.run(replica_fn, args=inputs)

    images, scores = step(batch)
    images = tf.concat(strategy.experimental_local_results(images), axis=0)
    scores = tf.concat(strategy.experimental_local_results(scores), axis=0)
    np.testing.assert_allclose(images, reference_images[-1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores, reference_scores, rtol=1e-5, atol=1e-5)
    # The W average is the same on both replicas and equals the global update.
    replicas = [v.numpy() for v in G1.dlatent_avg.value.values]
    np.testing.assert_array_equal(replicas[0], replicas[1])
    np.testing.assert_allclose(replicas[0], G0.dlatent_avg, atol=1e-6)
    assert np.abs(replicas[0] - before).max() > 1e-4


@pytest.mark.parametrize(
    "dtype, expected", [("float64", "float64"), ("mixed_bfloat16", "bfloat16")]
)
def test_the_dtype_option_reaches_every_layer(dtype, expected):
    G = Generator(resolution=8, dtype=dtype, **TINY_G)
    D = Discriminator(resolution=8, dtype=dtype, **TINY_D)
    P = ProGANGenerator(resolution=8, num_channels=3, latent_size=8, dtype=dtype)
    images = G(tf.random.normal([2, 8]))
    assert images[-1].dtype == expected and D(images).dtype == expected
    assert P(tf.random.normal([2, 8]))[-1].dtype == expected
    for model in (G, D, P):
        for layer in model._flatten_layers(include_self=False):
            assert layer.dtype_policy.name == dtype, layer.name


def test_drawn_noise_is_the_noise_a_seed_draws_and_rows_keep_their_noise():
    # Gradient accumulation splits a batch and passes each part its rows of the
    # noise the whole batch would have drawn.
    G, _ = build_networks("tiny")
    for epilogue in G.synthesis.epilogues:  # Noise weights start at zero.
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    z = tf.random.stateless_normal([4, G.latent_size], [1, 2])
    seed = tf.constant([5, 6], tf.int64)
    drawn = G(z, training=True, noise_seed=seed)
    maps = G.synthesis.draw_noise(4, seed)
    assert len(maps) == len(G.synthesis.noise_shapes) > 0
    given = G(z, training=True, noise=maps)
    for a, b in zip(drawn, given, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    rows = G(z[1::2], training=True, noise=[m[1::2] for m in maps])
    for a, b in zip(drawn, rows, strict=True):
        np.testing.assert_allclose(a.numpy()[1::2], b.numpy(), rtol=1e-5, atol=1e-5)
    other = G(z, training=True, noise_seed=seed + 1)
    assert not np.allclose(drawn[-1].numpy(), other[-1].numpy())
