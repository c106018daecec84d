"""fid<N>k_full: every real image counted once (a set that is not a multiple of
the batch), streamed statistics, their cache; pr and ppl through run_metrics
(of a run and of a SavedModel) and the checks before anything is generated."""

import dataclasses
import json

import numpy as np
import pytest
from test_inception import reference, small_graph_def
from test_registry import fid_oracle
from torch_helpers import VGG16_WIDTHS, write_vgg16_stand_in

from datasets.export import write_arrays
from datasets.reader import describe
from metrics import registry
from metrics.feature_moments import FeatureMoments
from metrics.frechet import feature_statistics
from metrics.inception import InceptionNetwork
from metrics.registry import MetricOptions
from msg_stylegan_tf2.inference.evaluation import all_real_batches, run_metrics

NUM_REALS = 13  # Batches of 4: 4, 4, 4 and 1.


def square_images(seed, count):
    """uint8 `[count, 16, 16, 3]`: a coloured square on noise, each different."""
    rng = np.random.RandomState(seed)
    out = rng.randint(0, 64, [count, 16, 16, 3]).astype(np.uint8)
    out[:, 4:12, 4:12] = rng.randint(0, 256, [count, 1, 1, 3])
    return out


REALS = square_images(0, NUM_REALS)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("full") / "reals"
    write_arrays(path, REALS)  # In the official writer's shuffled order.
    return path


def sorted_rows(images):
    flat = np.asarray(images).reshape(len(images), -1)
    return flat[np.lexsort(flat.T[::-1])]


@pytest.mark.parametrize("fold_rows", [10, 1024])
def test_moments_equal_the_statistics_of_all_features_at_once(fold_rows):
    rng = np.random.RandomState(0)
    features = 1e3 + rng.randn(101, 7) * rng.rand(7)  # A large mean.
    moments = FeatureMoments(fold_rows)
    for part in np.array_split(features, [1, 4, 4, 50]):  # Sizes 1, 3, 0, 46, 51.
        moments.add(part)
    mu, sigma = moments.statistics()
    expected_mu, expected_sigma = feature_statistics(features)
    assert moments.count == 101
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-12)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-9, atol=1e-12)
    again = moments.statistics()
    np.testing.assert_array_equal(again[1], sigma)
    with pytest.raises(ValueError, match="at least 2 images. Received: 1"):
        one = FeatureMoments()
        one.add(features[:1])
        one.statistics()


def test_all_real_batches_yield_every_real_once(dataset):
    batches = all_real_batches(describe(dataset), 4)
    got = list(batches())
    assert [len(b) for b in got] == [4, 4, 4, 1]
    np.testing.assert_array_equal(sorted_rows(np.concatenate(got)), sorted_rows(REALS))
    assert len(np.concatenate(list(batches()))) == NUM_REALS  # Fresh each call.


class CountingNetwork:
    """An InceptionNetwork that records every image it sees."""

    def __init__(self, network):
        self.network, self.identity, self.seen = network, network.identity, []

    def __call__(self, images):
        self.seen.append(np.asarray(images))
        return self.network(images)


def test_fid_full_counts_every_real_once_and_caches_them(dataset, tmp_path):
    network = CountingNetwork(InceptionNetwork(small_graph_def()))
    fakes = square_images(1, 10)

    def generate(count, batch):
        for start in range(0, count, batch):
            yield fakes[start : min(start + batch, count)]

    def repeated():
        raise AssertionError("fid_full reads `all_reals`, not `real_batches`")

    options = MetricOptions(
        generate,
        repeated,
        count=10,
        batch=4,
        inception=network,
        all_reals=all_real_batches(describe(dataset), 4),
        stats_dir=tmp_path,
        all_reals_key="reals-all",
    )
    result = registry.fid_full(options)
    real_features, _ = reference(REALS)
    fake_features, _ = reference(fakes)
    assert result["fid"] == pytest.approx(
        fid_oracle(real_features, fake_features), 1e-3
    )
    seen_reals = np.concatenate(network.seen[3:])  # After 3 batches of fakes.
    np.testing.assert_array_equal(sorted_rows(seen_reals), sorted_rows(REALS))
    (cached,) = tmp_path.glob("*.npz")
    assert cached.name == f"reals-all-{network.identity}-all.npz"
    network.seen.clear()
    cached_only = dataclasses.replace(options, all_reals=repeated)
    assert registry.fid_full(cached_only) == result  # From the cache.
    assert sum(len(b) for b in network.seen) == 10
    with pytest.raises(ValueError, match="fid_full needs `all_reals`"):
        registry.fid_full(dataclasses.replace(options, all_reals=None))


@pytest.fixture(scope="module")
def run(tmp_path_factory, dataset):
    """A run directory of the tiny networks, on `dataset`, and its Gs."""
    from msg_stylegan_tf2.formats.network_run import write_network_run
    from msg_stylegan_tf2.networks.build import build_networks
    from msg_stylegan_tf2.training.config import TrainingConfig

    G, D = build_networks("tiny")
    Gs, _ = build_networks("tiny")
    Gs.set_weights(G.get_weights())
    out = tmp_path_factory.mktemp("run") / "run"
    write_network_run(G, D, Gs, out)
    dataclasses.replace(TrainingConfig.load(out), dataset=str(dataset)).save(out)
    return out, Gs


@pytest.fixture(scope="module")
def run_dir(run):
    return run[0]


def test_run_metrics_full_fid_and_pr(run_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MSG_STYLEGAN_CACHE", str(tmp_path / "cache"))
    graph = tmp_path / "inception.pb"
    graph.write_bytes(small_graph_def().SerializeToString())
    slim = tmp_path / "slim.pth"
    write_vgg16_stand_in(slim)
    lines = []
    results = run_metrics(
        run_dir,
        ["fid1k_full", "pr1k3"],
        num_images=8,
        batch=4,
        inception=str(graph),
        inception_unverified=True,
        vgg16=str(slim),
        vgg16_unverified=True,
        log=lines.append,
    )
    assert np.isfinite(results["fid1k_full"]["fid"])
    assert set(results["pr1k3"]) == {"precision", "recall"}
    (stats,) = (tmp_path / "cache" / "stats").glob("*-all.npz")
    with np.load(stats) as cached:  # Every real exactly once.
        expected_mu, expected_sigma = feature_statistics(reference(REALS)[0])
        np.testing.assert_allclose(cached["mu"], expected_mu, rtol=1e-5)
        np.testing.assert_allclose(cached["sigma"], expected_sigma, atol=1e-6)
    record = json.loads((run_dir / "metric-pr1k3.jsonl").read_text().splitlines()[-1])
    assert record["results"] == results["pr1k3"] and record["num_images"] == 8
    assert [line.split()[0] for line in lines] == ["fid1k_full", "pr1k3"]


@pytest.fixture(scope="module")
def wide_vgg16(tmp_path_factory):
    """A stand-in with torchvision's conv widths (LPIPS's heads need them)."""
    path = tmp_path_factory.mktemp("vgg16") / "wide.pth"
    write_vgg16_stand_in(path, VGG16_WIDTHS, hidden=4, classes=2)
    return path


def test_run_metrics_ppl_of_a_run_and_of_a_saved_model(
    run, dataset, wide_vgg16, tmp_path
):
    from test_ppl import StyleModule

    run_dir, Gs = run
    kwargs = dict(vgg16=str(wide_vgg16), vgg16_unverified=True, log=lambda line: None)
    results = run_metrics(run_dir, ["ppl_wend1k"], num_images=3, **kwargs)
    assert results["ppl_wend1k"]["ppl"] > 0
    assert (run_dir / "metric-ppl_wend1k.jsonl").is_file()
    # A SavedModel: images through serving_default, PPL through its signatures.
    saved = StyleModule(Gs).save(tmp_path / "saved", ("mapping", "synthesis"))
    results = run_metrics(
        saved, ["msssim1k", "ppl_zfull1k"], dataset=str(dataset), num_images=2, **kwargs
    )
    assert 0 <= results["msssim1k"]["msssim"] <= 1 and results["ppl_zfull1k"]["ppl"] > 0
    record = json.loads((tmp_path / "metric-ppl_zfull1k.jsonl").read_text())
    assert record["checkpoint"] == str(saved) and record["num_images"] == 2


def test_vgg16_is_checked_before_the_generator_is_loaded(tmp_path):
    # No run is needed: the file is refused before the generator is loaded.
    with pytest.raises(ValueError, match="^`vgg16`: .*nope.pth does not exist"):
        run_metrics(tmp_path / "no-run", ["pr1k3"], vgg16=str(tmp_path / "nope.pth"))
    slim = tmp_path / "slim.pth"
    write_vgg16_stand_in(slim)
    with pytest.raises(ValueError, match="slim.pth: 177292 bytes, not the 553433881"):
        run_metrics(tmp_path / "no-run", ["ppl_zend1k"], vgg16=str(slim))


def test_the_trainer_checks_vgg16_and_the_generator_at_start_up(run_dir, tmp_path):
    import dataclasses

    from msg_stylegan_tf2.inference.evaluation import load_metric_networks
    from msg_stylegan_tf2.training.config import TrainingConfig

    config = TrainingConfig.load(run_dir)
    missing = dataclasses.replace(
        config, metrics=("pr1k3",), vgg16=str(tmp_path / "nope.pth")
    )
    with pytest.raises(ValueError, match="^`vgg16`: .*nope.pth does not exist"):
        load_metric_networks(missing)
    progan = dataclasses.replace(config, metrics=("ppl_zfull1k",), arch="progan")
    with pytest.raises(ValueError, match="ppl_zfull1k needs a style-based"):
        load_metric_networks(progan)
