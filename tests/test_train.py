"""train.py end to end: run directory, snapshots, resume, guards, bad flags."""

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf
from train_helpers import (
    ROOT,
    STEP_KIMG,
    cli_args,
    final_variables,
    options,
    run_train,
    wait_for_checkpoint,
)

from dnnlib import hardware
from dnnlib.hardware import Hardware
from msg_stylegan_tf2.formats.network_run import load_generator
from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.loop import Trainer, TrainingDiverged


def test_training_writes_the_run_directory(tmp_path, image_folder):
    assert cli.run(options(tmp_path, image_folder)) == 0
    (run,) = (tmp_path / "results").iterdir()
    assert run.name == f"00000-tiny-{image_folder.name}"
    saved = json.loads((run / "training_options.json").read_text())
    assert saved["batch"] == 8 and saved["G_kwargs"]["resolution"] == 16
    log = (run / "log.txt").read_text()
    ticks = [line for line in log.splitlines() if line.startswith("tick ")]
    assert len(ticks) == 2 and "sec/kimg" in ticks[0] and "peak_mem" in ticks[0]
    for side in (4, 8, 16):
        grid = PIL.Image.open(run / "fakes" / f"{side}x{side}" / "fakes000000.png")
        assert grid.size == (2 * side, 2 * side)
    assert PIL.Image.open(run / "reals.png").size == (32, 32)
    checkpoints = tf.train.get_checkpoint_state(str(run / "checkpoints"))
    assert len(checkpoints.all_model_checkpoint_paths) == 2
    events = list(run.glob("events.out.tfevents.*"))
    tags = {
        value.tag
        for event in tf.compat.v1.train.summary_iterator(str(events[0]))
        for value in event.summary.value
    }
    assert {"Loss/D/loss", "Loss/G/loss", "Loss/r1_penalty", "Progress/lr"} <= tags
    assert {"Timing/images_per_sec", "fakes/16x16", "Stability/mse_16x16"} <= tags
    # The stability measure: one record per snapshot after the first.
    records = [
        json.loads(x) for x in (run / "stability.jsonl").read_text().splitlines()
    ]
    assert len(records) == 2
    assert set(records[0]["mse"]) == {"4x4", "8x8", "16x16"}
    assert all(v > 0 for v in records[0]["mse"].values())


def test_dry_run_prints_the_options_and_creates_nothing(tmp_path, image_folder, capsys):
    assert cli.run(options(tmp_path, image_folder, dry_run=True)) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{") :])
    assert printed["preset"] == "tiny" and printed["D_kwargs"]["combine"] == "cat_lin"
    assert not (tmp_path / "results").exists()


def test_auto_precision_is_resolved_for_a_new_run_explicit_ones_kept(
    tmp_path, image_folder, monkeypatch
):
    found = Hardware("AMD EPYC", frozenset({"avx512f", "avx512_bf16"}), 2, (0, 0))
    monkeypatch.setattr(hardware, "detect", lambda: found)
    for flag in (None, "auto"):  # The default, or given.
        values = options(tmp_path, image_folder, mixed_precision=flag)
        config = cli.build_config(values)
        assert config.mixed_precision == "bf16"
        assert config.precision_reason == "CPU has AVX512-BF16, no AMX"
    plain = dataclasses.replace(found, cpu_flags=frozenset({"avx512f"}))
    monkeypatch.setattr(hardware, "detect", lambda: plain)
    config = cli.build_config(options(tmp_path, image_folder, mixed_precision=None))
    assert config.mixed_precision == "off"
    assert config.precision_reason.startswith("CPU lacks AMX and AVX512-BF16")

    def unused():
        raise AssertionError("an explicit --mixed_precision needs no detection")

    monkeypatch.setattr(hardware, "detect", unused)
    for choice in ("off", "bf16", "fp16"):
        values = options(tmp_path, image_folder, mixed_precision=choice)
        config = cli.build_config(values)
        assert (config.mixed_precision, config.precision_reason) == (choice, None)
    # A training_options.json written before precision_reason existed loads.
    older = json.loads(config.to_json())
    del older["precision_reason"]
    assert TrainingConfig.from_json(json.dumps(older)) == config


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, image_folder):
    config = cli.build_config(options(tmp_path, image_folder, total_kimg=8 * STEP_KIMG))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = []
    trainer = Trainer(config, run_dir, lines.append)
    real_g_step = trainer.steps.g_step

    def poisoned(batch, step):
        terms = real_g_step(batch, step)
        if int(step) >= 5:
            terms["Loss/G/total"] = tf.constant(float("nan"))
        return terms

    trainer.steps.g_step = poisoned
    with pytest.raises(TrainingDiverged, match="Loss/G/total is nan at kimg 0.048"):
        trainer.run()
    checkpoints = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    assert checkpoints.model_checkpoint_path.endswith("ckpt-32")


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGINT])
def test_resume_is_exact(tmp_path, image_folder, stop_signal):
    total = 12
    straight = run_train(*cli_args(tmp_path, image_folder, tmp_path / "a", total))
    assert straight.wait(timeout=600) == 0, straight.stdout.read()
    interrupted = run_train(*cli_args(tmp_path, image_folder, tmp_path / "b", total))
    wait_for_checkpoint(tmp_path / "b", interrupted)
    interrupted.send_signal(stop_signal)
    output = interrupted.communicate(timeout=600)[0]
    if stop_signal == signal.SIGINT:
        assert interrupted.returncode == 0, output
        assert "SIGINT: stopped at kimg" in output
    (run_b,) = (tmp_path / "b").iterdir()
    resumed = run_train(
        f"--resume={run_b}", f"--outdir={tmp_path / 'b'}", "--deterministic"
    )
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert "Resumed from" in output
    (run_a,) = (tmp_path / "a").iterdir()
    ours, theirs = final_variables(run_a), final_variables(run_b)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics=lpips50k"], "--metrics: Unknown metric 'lpips50k'"),
        (
            ["--arch=msg_progan", "--preset=demo_32"],
            "--arch=msg_progan but --preset=demo_32",
        ),
        (["--arch=progan", "--combine=simple"], "--combine applies to MSG"),
        (["--data_percentage=0"], "--data_percentage must be in"),
        (["--vgg16_unverified"], "--vgg16_unverified needs --vgg16=PATH"),
        (["--resume=/nonexistent/run"], "--resume: /nonexistent/run is neither"),
        (["--dataset=/nonexistent"], "--dataset: /nonexistent does not exist"),
        (["extra"], "unexpected arguments ['extra']"),
    ],
)
def test_bad_flags_fail_in_one_line(tmp_path, args, message):
    process = run_train(*args, f"--outdir={tmp_path}")
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 1
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("train.py:")]
    assert len(errors) == 1 and message in errors[0], output


@pytest.mark.slow
def test_two_local_workers_train_identically(tmp_path, image_folder):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        args = cli_args(tmp_path, image_folder, tmp_path / "mw", 4)
        args = [a for a in args if not a.startswith(("--strategy", "--mixed"))]
        # Auto makes the workers vote (both on this machine: they agree; the
        # disagreeing case is in test_strategy.py).
        args += ["--strategy=multi_worker", "--mixed_precision=auto"]
        processes.append(
            subprocess.Popen(
                [sys.executable, "train.py", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    chief = next((tmp_path / "mw").glob("0*"))
    other = next((tmp_path / "mw" / "worker1").glob("0*"))
    precisions = [
        [
            line
            for line in (run / "log.txt").read_text().splitlines()
            if "Precision" in line
        ]
        for run in (chief, other)
    ]
    assert precisions[0] == precisions[1] and len(precisions[0]) == 1, precisions
    ours, theirs = final_variables(chief), final_variables(other)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_switches_change_what_they_should_and_are_recorded(tmp_path, image_folder):
    values = options(
        tmp_path,
        image_folder,
        g_lr=0.001,
        d_lr=0.004,
        adam_beta1=0.5,
        adam_beta2=0.9,
        ema_decay=0.5,
        use_wscale=False,
        spectral_norm="both",
    )
    config = cli.build_config(values)
    saved = json.loads(config.to_json())
    assert saved["G_kwargs"]["use_wscale"] is False and saved["ema_decay"] == 0.5
    assert saved["G_kwargs"]["spectral_norm"] and saved["D_kwargs"]["spectral_norm"]
    d_only = cli.build_config({**values, "spectral_norm": "D"})
    assert "spectral_norm" not in d_only.G_kwargs and d_only.D_kwargs["spectral_norm"]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(config, run_dir, lambda line: None)
    # Plain initialisation: weights start at N(0, he_std) and run unscaled.
    conv = trainer.D.blocks[0].conv0  # 16x16/Conv0
    fan_in = 3 * 3 * conv.weight.shape[2]
    assert conv.runtime_coef == 1.0
    assert abs(np.std(conv.weight.numpy()) - np.sqrt(2 / fan_in)) < 0.2 * np.sqrt(
        2 / fan_in
    )
    assert trainer.g_opt.beta_1 == 0.5 and trainer.d_opt.beta_2 == 0.9
    G_before = [w.numpy() for w in trainer.G.trainable_weights]
    Gs_before = [w.numpy() for w in trainer.Gs.trainable_weights]
    trainer._iteration()
    assert np.isclose(float(trainer.g_opt.learning_rate), 0.001)
    assert np.isclose(float(trainer.d_opt.learning_rate), 0.004)
    # Gs = G + (Gs - G) * ema_decay with the fixed decay.
    for gs, g, gs0 in zip(
        trainer.Gs.trainable_weights,
        trainer.G.trainable_weights,
        Gs_before,
        strict=True,
    ):
        np.testing.assert_allclose(
            gs.numpy(), g.numpy() + (gs0 - g.numpy()) * 0.5, atol=1e-6
        )
    assert any(
        not np.array_equal(a, b.numpy())
        for a, b in zip(G_before, trainer.G.trainable_weights, strict=True)
    )


def progan_config(tmp_path, image_folder, steps):
    """tiny_progan on 16x16 images: 4x4 for 2 steps of 8 images, a 3-step fade
    to 8x8, 2 steps, a 3-step fade to 16x16, then 16x16."""
    values = options(
        tmp_path,
        image_folder,
        preset="tiny_progan",
        loss=None,
        lr=None,
        ema_rampup=None,
    )
    values.update(total_kimg=steps * STEP_KIMG, tick_kimg=STEP_KIMG)
    config = cli.build_config(values)
    assert config.loss == "wgan_gp" and config.lr == 0.001
    assert config.sched["minibatch_base"] == 8 and config.sched["minibatch_dict"] == {}
    sched = {**config.sched, "lod_training_kimg": 0.016, "lod_transition_kimg": 0.024}
    return dataclasses.replace(config, sched=sched, G_smoothing_kimg=0.0)


def test_progan_grows_with_fades_in_the_log_and_the_grids(tmp_path, image_folder):
    config = progan_config(tmp_path, image_folder, 11)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = []
    trainer = Trainer(config, run_dir, lines.append)
    # Before training (lod 2) the 16x16 grid is the 4x4 image, upscaled.
    grid = np.asarray(trainer.save_fakes(0)[16], np.int32)
    blocks = grid.reshape(8, 4, 8, 4, 3)
    assert np.all(blocks == blocks[:, :1, :, :1])
    trainer.run()
    lods = [float(x.split("lod ")[1].split()[0]) for x in lines if x.startswith("tick")]
    # Each tick line shows the lod of its last step (nimg before the step).
    assert lods == [2.0, 2.0, 2.0, 1.67, 1.33, 1.0, 1.0, 1.0, 0.67, 0.33, 0.0]
    assert any(x.startswith("Growing to 8x8 at kimg 0.0") for x in lines)
    assert any(x.startswith("Growing to 16x16") for x in lines)
    # Growing done: the grid has full-resolution detail; lod is checkpointed.
    grid = np.asarray(trainer.save_fakes(1)[16], np.int32)
    blocks = grid.reshape(8, 4, 8, 4, 3)
    assert not np.all(blocks == blocks[:, :1, :, :1])
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    assert reader.get_tensor("Gs/G..lod/.ATTRIBUTES/VARIABLE_VALUE") == 0.0


def test_progan_resumes_mid_fade_exactly(tmp_path, image_folder):
    straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
    for path in (straight_dir, resumed_dir):
        path.mkdir()
    total = 9
    Trainer(progan_config(tmp_path, image_folder, total), straight_dir).run()
    # Stop after 4 steps: the next step is the second of the 8x8 fade.
    short = progan_config(tmp_path, image_folder, 4)
    short.save(resumed_dir)
    Trainer(short, resumed_dir).run()
    # Tools see the image at the lod of the last step: 8x8 fading, upscaled.
    Gs, _, _ = load_generator(resumed_dir)
    assert float(Gs.lod.numpy()) == pytest.approx(5 / 3)
    image = Gs(tf.random.normal([2, 16]))[-1].numpy()
    # (Equal to rounding: the official linear structure lerps with t = 1.)
    np.testing.assert_allclose(image[:, ::2, ::2], image[:, 1::2, 1::2], atol=1e-5)
    assert np.abs(image[:, ::2] - image[:, 1::2]).max() < 1e-5
    lines = []
    trainer = Trainer(
        progan_config(tmp_path, image_folder, total), resumed_dir, lines.append
    )
    trainer.resume()
    assert trainer.phase.resolution == 8 and 1 < trainer.prev_lod < 2
    trainer.run()
    ours, theirs = final_variables(straight_dir), final_variables(resumed_dir)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


@pytest.mark.parametrize(
    "arch, preset, loss",
    [
        (None, "demo_32", "logistic"),
        ("msg_stylegan", "demo_32", "logistic"),
        ("msg_progan", "msg_progan_demo_32", "wgan_gp"),
        ("progan", "progan_demo_32", "wgan_gp"),
    ],
)
def test_arch_without_preset_picks_its_demo(tmp_path, image_folder, arch, preset, loss):
    # Without --dataset: the demo (with one, MSG-StyleGAN picks --preset=auto).
    values = options(tmp_path, None, preset=None, arch=arch, loss=None)
    config = cli.build_config(values)
    assert (config.preset, config.loss) == (preset, loss)
    assert (config.sched is not None) == (arch == "progan")


def test_dry_run_describes_an_image_folder_without_converting(
    tmp_path, image_folder, capsys
):
    values = options(tmp_path, image_folder, dry_run=True, resolution=8)
    assert cli.run(values) == 0
    out = capsys.readouterr().out
    assert f"{image_folder}: 40 images, to be converted at the first run" in out
    printed = json.loads(out[out.index("{") :])
    assert printed["G_kwargs"]["resolution"] == 8
    assert printed["G_kwargs"]["num_channels"] == 3
    assert not (tmp_path / "cache").exists()  # Nothing converted.


def test_a_folder_of_wide_images_trains_with_pad(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    for i in range(8):
        image = np.zeros([8, 16, 3], np.uint8)
        image[:, :, i % 3] = 200
        PIL.Image.fromarray(image).save(folder / f"{i}.png")
    values = options(tmp_path, folder, transform="pad", total_kimg=STEP_KIMG)
    assert cli.run(values) == 0
    (run,) = (tmp_path / "results").iterdir()
    reals = np.asarray(PIL.Image.open(run / "reals.png"))
    assert reals.shape == (32, 32, 3)
    assert np.all(reals[:4, :16] == 0)  # Black borders above and below.
    config = json.loads((run / "training_options.json").read_text())
    assert config["G_kwargs"]["resolution"] == 16


def read_stylegan2_ada_stats(path):
    """stats.jsonl as stylegan2-ada documents it: one JSON object a line, each
    entry but `timestamp` a statistic over the tick, `{"num", "mean", "std"}`
    (written as `dict(stats_collector.as_dict(), timestamp=...)`)."""
    records = []
    for line in pathlib.Path(path).read_text().splitlines():
        fields = json.loads(line)
        assert isinstance(fields.pop("timestamp"), float)
        for name, entry in fields.items():
            assert set(entry) == {"num", "mean", "std"}, name
            assert isinstance(entry["num"], int) and entry["num"] >= 1, name
            assert entry["std"] >= 0, name
        records.append(fields)
    return records


def test_startup_block_and_stats_jsonl(tmp_path, image_folder):
    assert cli.run(options(tmp_path, image_folder)) == 0
    (run,) = (tmp_path / "results").iterdir()
    log = (run / "log.txt").read_text().splitlines()
    devices = next(line for line in log if line.startswith("Devices: "))
    assert "1 replica, OneDeviceStrategy" in devices
    assert "Precision: float32 (mixed_precision off)" in log
    preset = next(line for line in log if line.startswith("Preset: tiny "))
    assert "G " in preset and "D " in preset and "parameters" in preset
    data = next(line for line in log if line.startswith("Dataset: "))
    assert "40 images, 16x16 RGB, no labels" in data
    records = read_stylegan2_ada_stats(run / "stats.jsonl")
    ticks = [line for line in log if line.startswith("tick ")]
    assert len(records) == len(ticks) == 2
    nvidia = {"Progress/tick", "Progress/kimg", "Timing/total_sec"}
    nvidia |= {"Timing/sec_per_tick", "Timing/sec_per_kimg"}
    nvidia |= {"Resources/peak_cpu_mem_gb", "Loss/G/loss", "Loss/D/loss"}
    nvidia |= {"Loss/r1_penalty", "Loss/scores/real", "Loss/scores/fake"}
    nvidia |= {"Loss/signs/real", "Loss/signs/fake"}
    ours = {"Progress/batch", "Progress/lr", "Progress/d_lr", "Loss/D/total"}
    assert nvidia | ours | {"Timing/images_per_sec"} <= set(records[0])
    kimg = [r["Progress/kimg"] for r in records]
    assert kimg == [{"num": 1, "mean": k * STEP_KIMG, "std": 0.0} for k in (2, 4)]
    # Per-image terms over the tick's two steps of 8 images.
    scores, signs = records[0]["Loss/scores/real"], records[0]["Loss/signs/real"]
    assert scores["num"] == signs["num"] == 16
    assert -1 <= signs["mean"] <= 1 and signs["std"] <= 1
    assert scores["std"] > 0  # Images score differently.
    # The logistic D loss is softplus(f) + softplus(-r) without R1.
    d_loss, total = records[0]["Loss/D/loss"], records[0]["Loss/D/total"]
    assert d_loss["mean"] > 0 and total["mean"] >= d_loss["mean"]


def test_startup_block_says_when_only_the_first_images_are_used(tmp_path, image_folder):
    values = options(tmp_path, image_folder, total_kimg=STEP_KIMG, max_images=24)
    assert cli.run(values) == 0
    (run,) = (tmp_path / "results").iterdir()
    log = (run / "log.txt").read_text().splitlines()
    data = next(line for line in log if line.startswith("Dataset: "))
    assert "40 images (training on the first 24), 16x16 RGB" in data


def test_auto_preset_trains_a_64x64_folder_at_64_with_small_widths(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(8):
        PIL.Image.fromarray(rng.randint(0, 256, [64, 64, 3]).astype(np.uint8)).save(
            folder / f"{i}.png"
        )
    values = options(tmp_path, folder, preset=None, total_kimg=STEP_KIMG)
    assert cli.run(values) == 0
    out = capsys.readouterr().out
    assert "Preset: auto chose small_64 (64x64 images on a CPU: small widths" in out
    (run,) = (tmp_path / "results").iterdir()
    config = json.loads((run / "training_options.json").read_text())
    assert config["preset"] == "small_64"
    assert config["G_kwargs"]["resolution"] == 64
    assert config["G_kwargs"]["fmap_max"] == 64


def test_auto_preset_by_resolution_and_device():
    from msg_stylegan_tf2.networks.presets import auto_preset

    assert auto_preset(16, False)[0] == "small_32"
    assert auto_preset(32, False)[0] == "small_32"
    assert auto_preset(64, False)[0] == "small_64"
    assert auto_preset(512, False)[0] == "small_128"
    name, reason = auto_preset(128, True)
    assert name == "msg_stylegan_256" and "GPU: the paper's widths" in reason
