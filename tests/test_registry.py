"""The metrics registry on plain image callables (no generator), and the rule
that `metrics/` imports nothing from `msg_stylegan_tf2`."""

import ast
import inspect
import pathlib

import numpy as np
import pytest
import scipy.linalg

from metrics import registry
from metrics.inception import InceptionNetwork
from metrics.kid import kernel_inception_distance
from metrics.ms_ssim import ms_ssim
from metrics.names import FAMILIES, MetricSpec, load, parse_metric
from metrics.registry import METRICS, MetricOptions, evaluate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def images(seed, count, side=16):
    """uint8 `[count, side, side, 3]`: a coloured square on noise."""
    rng = np.random.RandomState(seed)
    out = rng.randint(0, 64, [count, side, side, 3]).astype(np.uint8)
    out[:, 4:12, 4:12] = rng.randint(0, 256, [count, 1, 1, 3])
    return out


FAKES, REALS = images(1, 64), images(2, 64)


def generate(count, batch):
    assert count <= len(FAKES)
    for start in range(0, count, batch):
        yield FAKES[start : min(start + batch, count)]


def real_batches():
    while True:
        yield from np.split(REALS, 8)


@pytest.fixture(scope="module")
def network():
    from test_inception import small_graph_def

    return InceptionNetwork(small_graph_def())


def imported_modules(path):
    """Top-level names of the modules a file imports (`a` for `a.b.c`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_metrics_import_neither_the_model_nor_the_datasets():
    # Arrows point down: msg_stylegan_tf2 -> metrics -> dnnlib. (datasets is a
    # peer that imports msg_stylegan_tf2, so it would close a cycle.)
    files = sorted((ROOT / "metrics").glob("*.py"))
    assert len(files) >= 9
    for path in files:
        forbidden = imported_modules(path) & {"msg_stylegan_tf2", "datasets"}
        assert not forbidden, f"{path.name} imports {forbidden}"


def test_imported_modules_sees_nested_and_dotted_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from msg_stylegan_tf2.training import x\n")
    assert imported_modules(path) == {"msg_stylegan_tf2"}


def test_each_family_is_one_function_taking_one_options_object():
    assert list(METRICS) == list(FAMILIES)
    assert len({id(fn) for fn in METRICS.values()}) == len(FAMILIES)
    for kind, fn in METRICS.items():
        assert fn is load(kind) and fn.__module__ == "metrics.registry", kind
        (parameter,) = inspect.signature(fn).parameters.values()
        assert parameter.annotation is MetricOptions
    with pytest.raises(ValueError, match="Unknown metric family 'lpips': available"):
        load("lpips")


def test_every_family_is_named_by_its_metrics():
    counts = {"swd": 16 * 1024, "msssim": 16 * 1024}
    for kind in FAMILIES:
        name = {"fid_full": "fid16k_full", "pr": "pr16k3"}.get(kind, f"{kind}16k")
        assert parse_metric(name) == MetricSpec(name, kind, counts.get(kind, 16000))
    for wrong in ("fid16k3", "pr16k", "xfid16k", "fid16k_fulll", "ppl_x16k"):
        with pytest.raises(ValueError, match=f"Unknown metric '{wrong}'"):
            parse_metric(wrong)


def test_options_reject_a_count_or_batch_below_one():
    with pytest.raises(ValueError, match="`count` must be >= 1. Received: 0"):
        MetricOptions(generate, real_batches, count=0)
    with pytest.raises(ValueError, match="`batch` must be >= 1. Received: 0"):
        MetricOptions(generate, real_batches, batch=0)


def test_evaluate_runs_the_family_with_the_spec_count():
    template = MetricOptions(generate, real_batches, batch=5, seed=3)
    result = evaluate(MetricSpec("msssim16", "msssim", 16), template)
    options = MetricOptions(generate, real_batches, count=16, batch=5, seed=3)
    assert result == registry.ms_ssim(options)
    # ProGAN's pairs: consecutive generated images (0 and 1, 2 and 3, ...).
    pairs = ms_ssim(FAKES[0:32:2], FAKES[1:32:2])
    assert result == {"msssim": pytest.approx(float(np.mean(pairs)), rel=1e-6)}


def test_swd_takes_the_side_and_channels_from_the_reals():
    options = MetricOptions(generate, real_batches, count=20, batch=7)
    result = registry.swd(options)
    assert set(result) == {"swd_16", "swd_avg"} and result["swd_16"] > 0

    def reals_as_fakes(count, batch):
        yield REALS[:count]

    options = MetricOptions(reals_as_fakes, real_batches, count=20)
    assert registry.swd(options)["swd_16"] < result["swd_16"]


def fid_oracle(real, fake):
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_inception_metrics_against_a_direct_computation(network, tmp_path):
    from test_inception import reference

    real, _ = reference(REALS[:24])
    fake, fake_logits = reference(FAKES[:24])
    options = MetricOptions(
        generate,
        real_batches,
        count=24,
        batch=5,
        inception=network,
        stats_dir=tmp_path,
        reals_key="reals-0123",
    )
    assert registry.fid(options)["fid"] == pytest.approx(fid_oracle(real, fake), 1e-3)
    (cached,) = tmp_path.glob("*.npz")
    assert cached.name == f"reals-0123-{network.identity}-24.npz"
    kid = registry.kid(options)["kid"]
    assert kid == pytest.approx(kernel_inception_distance(real, fake), 1e-3)
    z = fake_logits.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(10):  # Ten consecutive splits, of 2 or 3 rows.
        part = p[i * 24 // 10 : (i + 1) * 24 // 10]
        kl = (part * (np.log(part) - np.log(part.mean(0)))).sum(1)
        scores.append(np.exp(kl.mean()))
    result = registry.inception_score(options)
    assert result["is_mean"] == pytest.approx(np.mean(scores), 1e-4)
    assert result["is_std"] == pytest.approx(np.std(scores), 1e-3, abs=1e-6)
