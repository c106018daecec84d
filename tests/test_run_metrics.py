"""run_metrics: SWD and MS-SSIM on a short training run, jsonl records, errors."""

import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from metrics.names import parse_metric
from msg_stylegan_tf2.inference.evaluation import make_evaluator, run_metrics
from msg_stylegan_tf2.training import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    rng = np.random.RandomState(0)
    (tmp / "images").mkdir()
    for i in range(32):
        image = np.full([16, 16, 3], 255, np.uint8)
        image[4:12, 4:12] = rng.randint(0, 256, 3)
        PIL.Image.fromarray(image).save(tmp / "images" / f"{i}.png")
    parser_defaults = dict(
        dataset=str(tmp / "images"),
        preset="tiny",
        resolution=None,
        combine=None,
        loss="logistic",
        r1_gamma=None,
        r2_gamma=0.0,
        batch=8,
        total_kimg=0.016,
        lr=0.003,
        lrate_rampup_kimg=0.0,
        D_repeats=1,
        G_smoothing_kimg=None,
        ema_rampup=None,
        mirror_augment=False,
        tick_kimg=0.016,
        image_snapshot_ticks=1,
        network_snapshot_ticks=1,
        keep_checkpoints=2,
        grid_images=4,
        outdir=str(tmp / "results"),
        resume=None,
        seed=0,
        strategy="one_device",
        mixed_precision="off",
        jit=False,
        max_images=None,
        data_percentage=None,
        cache_dir=str(tmp / "cache"),
        deterministic=False,
        dry_run=False,
    )
    assert cli.run(parser_defaults) == 0
    return next((tmp / "results").iterdir())


def test_parse_metric_names():
    assert parse_metric("swd16k").count == 16384
    assert parse_metric("msssim10k").kind == "msssim"
    with pytest.raises(ValueError, match="Unknown metric 'lpips50k'"):
        parse_metric("lpips50k")


def test_run_metrics_records_results(run_dir):
    lines = []
    results = run_metrics(
        run_dir, ["swd16k", "msssim10k"], num_images=16, batch=8, log=lines.append
    )
    assert set(results["swd16k"]) == {"swd_16", "swd_avg"}
    assert all(np.isfinite(v) and v > 0 for v in results["swd16k"].values())
    assert 0 < results["msssim10k"]["msssim"] <= 1
    record = json.loads((run_dir / "metric-swd16k.jsonl").read_text().splitlines()[-1])
    assert record["num_images"] == 16 and record["results"] == results["swd16k"]
    assert record["checkpoint"].endswith("ckpt-16")
    assert len(lines) == 2 and lines[0].startswith("swd16k")


def test_cli_rejects_unknown_metrics_before_starting_tensorflow(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "run_metrics.py",
            f"--network={tmp_path}",
            "--metrics=lpips50k",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("run_metrics.py: error: --metrics: Unknown metric")


def test_a_graph_that_is_not_the_pinned_one_needs_the_opt_out(tmp_path):
    from test_inception import small_graph_def

    graph = tmp_path / "inception.pb"
    graph.write_bytes(small_graph_def().SerializeToString())
    # Refused before the generator is loaded (so no run directory is needed).
    pattern = f"^{re.escape(str(graph))}: sha256 of .*`inception_unverified=True`"
    with pytest.raises(ValueError, match=pattern):
        run_metrics(tmp_path / "no-run", ["fid1k"], inception=str(graph))


def test_cli_checks_the_inception_flags_before_starting_tensorflow(tmp_path):
    def run(*flags):
        command = [sys.executable, "run_metrics.py", f"--network={tmp_path}", *flags]
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1
        return result.stderr

    assert run("--metrics=fid1k", "--inception_unverified").startswith(
        "run_metrics.py: error: --inception_unverified needs --inception=PATH"
    )
    assert run("--metrics=fid1k", f"--inception={tmp_path}/nope.pb").startswith(
        f"run_metrics.py: error: --inception: {tmp_path}/nope.pb is not a file"
    )


def test_fid_kid_is_with_an_inception_graph_file(run_dir, tmp_path):
    from test_inception import small_graph_def

    graph = tmp_path / "inception.pb"
    graph.write_bytes(small_graph_def().SerializeToString())
    results = run_metrics(
        run_dir,
        ["fid1k", "kid1k", "is1k"],
        num_images=24,
        batch=8,
        inception=str(graph),
        inception_unverified=True,
        log=lambda line: None,
    )
    assert results["fid1k"]["fid"] > 0
    assert np.isfinite(results["kid1k"]["kid"])
    assert 1 <= results["is1k"]["is_mean"] <= 5
    assert parse_metric("fid50k").count == 50000


def test_fid_real_statistics_are_cached(run_dir, tmp_path, monkeypatch):
    from test_inception import small_graph_def

    monkeypatch.setenv("MSG_STYLEGAN_CACHE", str(tmp_path / "cache"))
    graph = tmp_path / "inception.pb"
    graph.write_bytes(small_graph_def().SerializeToString())
    kwargs = dict(
        num_images=16,
        batch=8,
        inception=str(graph),
        inception_unverified=True,
        log=lambda line: None,
    )
    first = run_metrics(run_dir, ["fid1k"], **kwargs)
    (stats,) = (tmp_path / "cache" / "stats").glob("*.npz")
    assert stats.name.endswith("-16.npz")
    second = run_metrics(run_dir, ["fid1k"], **kwargs)
    assert second == first
    with np.load(stats) as cached:
        assert cached["mu"].shape == (6,) and cached["sigma"].shape == (6, 6)


def test_the_trainers_evaluator_measures_as_run_metrics_does(run_dir):
    from msg_stylegan_tf2.formats.network_run import load_generator
    from msg_stylegan_tf2.training.config import TrainingConfig

    config = TrainingConfig.load(run_dir)
    Gs, _, checkpoint = load_generator(run_dir)
    assert make_evaluator(config, run_dir)(Gs, checkpoint) == {}
    config = dataclasses.replace(config, metrics=("msssim1k",), batch=256)
    lines = []
    results = make_evaluator(config, run_dir, lines.append)(Gs, checkpoint)
    assert len(lines) == 1 and lines[0].startswith("msssim1k     time ")
    record = json.loads(
        (run_dir / "metric-msssim1k.jsonl").read_text().splitlines()[-1]
    )
    assert record["results"] == results["msssim1k"] and record["num_images"] == 1024
    expected = run_metrics(run_dir, ["msssim1k"], batch=256, log=lambda line: None)
    assert results == expected


def test_cli_checks_the_vgg16_flags_before_starting_tensorflow(tmp_path):
    def run(*flags):
        command = [sys.executable, "run_metrics.py", f"--network={tmp_path}", *flags]
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1 and result.stderr.count("\n") == 1
        return result.stderr

    assert run("--metrics=pr1k3", "--vgg16_unverified").startswith(
        "run_metrics.py: error: --vgg16_unverified needs --vgg16=PATH"
    )
    assert run("--metrics=ppl_wend1k", f"--vgg16={tmp_path}/nope.pth").startswith(
        f"run_metrics.py: error: --vgg16: {tmp_path}/nope.pth is not a file"
    )
