"""Resume as a hostile or unlucky user meets it: flags given with --resume,
checkpoints without data, corrupt checkpoints, one trainer per run, NaN
weights, metrics that fail, SIGKILL at random moments."""

import dataclasses
import json
import random
import re
import shutil
import signal
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf
from train_helpers import (
    STEP_KIMG,
    cli_args,
    final_variables,
    options,
    run_train,
    straight_and_resumed,
)

from datasets.export import write_arrays
from dnnlib import hardware
from dnnlib.cli import as_flags
from dnnlib.hardware import Hardware
from msg_stylegan_tf2.formats.network_run import check_networks_fit, checkpoint_prefixes
from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.loop import Trainer, TrainingDiverged

TRAINING = {"outdir", "resume"}  # Flags a plain resume gives.


def first_run(tmp_path, image_folder, steps=2, **overrides):
    values = options(tmp_path, image_folder, total_kimg=steps * STEP_KIMG, **overrides)
    assert cli.run(values) == 0
    (run,) = (tmp_path / "results").iterdir()
    return run, values


def scalars(run_dir, tag):
    values = []
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.tag == tag:
                    values.append(float(tf.make_ndarray(value.tensor)))
    return values


def test_resume_applies_the_flags_given_and_records_them(tmp_path, image_folder):
    run, values = first_run(tmp_path, image_folder)
    resumed = {
        **values,
        "resume": "latest",
        "lr": 0.001,
        "total_kimg": 4 * STEP_KIMG,
        "r1_gamma": 5.0,
    }
    given = TRAINING | {"lr", "total_kimg", "r1_gamma"}
    assert cli.run(resumed, given) == 0
    saved = json.loads((run / "training_options.json").read_text())
    assert saved["lr"] == 0.001 and saved["r1_gamma"] == 5.0
    assert saved["total_kimg"] == pytest.approx(4 * STEP_KIMG)
    (change,) = saved["changes"]
    assert change["kimg"] == pytest.approx(2 * STEP_KIMG)
    assert change["options"]["lr"] == {"from": 0.003, "to": 0.001}
    assert change["options"]["r1_gamma"] == {"from": None, "to": 5.0}
    log = (run / "log.txt").read_text()
    assert "Changed at kimg 0.016: " in log and "lr 0.003 -> 0.001" in log
    # One tick (two steps) at 0.003, then one at 0.001.
    lrs = scalars(run, "Progress/lr")
    np.testing.assert_allclose(lrs, [0.003, 0.001])


def test_resume_without_flags_changes_nothing(tmp_path, image_folder):
    run, values = first_run(tmp_path, image_folder)
    before = json.loads((run / "training_options.json").read_text())
    assert cli.run({**values, "resume": str(run), "lr": 0.5}, TRAINING) == 0
    after = json.loads((run / "training_options.json").read_text())
    assert after == before and after["changes"] == []


def test_the_run_command_again_with_resume_latest_resumes(
    tmp_path, image_folder, monkeypatch
):
    # A folder dataset, a preset, a seed and auto precision, as a user types it.
    found = Hardware("AMD EPYC", frozenset({"avx512f"}), 2, (0, 0))
    monkeypatch.setattr(hardware, "detect", lambda: found)
    command = {"dataset", "preset", "seed", "mixed_precision", "batch", "total_kimg"}
    run, values = first_run(
        tmp_path, image_folder, steps=1, seed=7, mixed_precision="auto"
    )
    before = TrainingConfig.load(run)
    assert before.mixed_precision == "off" and before.precision_reason
    # The same folder spelled another way (relative, from another directory).
    monkeypatch.chdir(image_folder.parent)
    again = {**values, "dataset": f"./{image_folder.name}/", "resume": "latest"}
    assert cli.run(again, command | TRAINING) == 0
    after = TrainingConfig.load(run)
    assert after.changes == () and after.seed == 7
    assert "Resumed from " in (run / "log.txt").read_text()
    # A value that differs: one line naming it, the run's value and the given one.
    with pytest.raises(ValueError) as refused:
        cli.run({**again, "seed": 8}, command | TRAINING)
    message = as_flags(str(refused.value), values)
    assert "\n" not in message
    assert message.startswith("--resume: --seed=8 differs from the run's 7. ")


def test_resume_refuses_values_that_change_the_networks_or_data(tmp_path, image_folder):
    values = options(tmp_path, image_folder)
    config = cli.build_config(values)
    differ = {
        "preset": "demo_32",
        "resolution": 32,
        "seed": 1,
        "mixed_precision": "bf16",
        "augment": "ada",
        "transform": "pad",
        "use_wscale": False,
        "spectral_norm": "D",
    }
    for name, value in differ.items():
        with pytest.raises(ValueError, match=rf"`{name}={value}` differs from the run"):
            cli.resume_changes(config, {**values, name: value}, TRAINING | {name})
    # Each given value equal to the run's (or what leaving it out means) is taken.
    same = {"preset": "tiny", "resolution": 16, "seed": 0, "mixed_precision": "off"}
    same |= {"augment": "none", "transform": "center-crop", "use_wscale": True}
    same |= {"spectral_norm": "none", "combine": config.D_kwargs["combine"]}
    resumed, changes = cli.resume_changes(
        config, {**values, **same}, TRAINING | set(same) | {"dataset"}
    )
    assert resumed == config and changes == {}


def test_resume_refuses_another_dataset_or_changed_images(tmp_path, image_folder):
    values = options(tmp_path, image_folder)
    config = cli.build_config(values)
    other = tmp_path / "other"
    shutil.copytree(image_folder, other)
    with pytest.raises(ValueError, match=r"`dataset=.*other` differs from the run's "):
        cli.resume_changes(config, {**values, "dataset": str(other)}, {"dataset"})
    # The same folder with its images changed: the run trains on its conversion.
    changed = dataclasses.replace(
        config, requested={**config.requested, "dataset": str(other)}
    )
    (other / "000.png").write_bytes((image_folder / "001.png").read_bytes())
    with pytest.raises(ValueError, match=r"its images changed since the run"):
        cli.resume_changes(changed, {**values, "dataset": str(other)}, {"dataset"})


def test_resume_keeps_the_precision_auto_chose(tmp_path, image_folder, monkeypatch):
    found = Hardware("AMD EPYC", frozenset({"avx512f", "avx512_bf16"}), 2, (0, 0))
    monkeypatch.setattr(hardware, "detect", lambda: found)
    line = (
        "Precision: mixed_bfloat16 (mixed_precision auto -> bf16: CPU has "
        "AVX512-BF16, no AMX)"
    )
    try:
        run, values = first_run(tmp_path, image_folder, steps=1, mixed_precision=None)
        saved = json.loads((run / "training_options.json").read_text())
        assert saved["mixed_precision"] == "bf16"
        assert saved["precision_reason"] == "CPU has AVX512-BF16, no AMX"
        assert line in (run / "log.txt").read_text().splitlines()
        # Resumed where auto would choose off: the run keeps what it recorded.
        plain = dataclasses.replace(found, cpu_flags=frozenset({"avx512f"}))
        monkeypatch.setattr(hardware, "detect", lambda: plain)
        resumed = {**values, "resume": str(run), "total_kimg": 2 * STEP_KIMG}
        assert cli.run(resumed, TRAINING | {"total_kimg"}) == 0
        assert json.loads((run / "training_options.json").read_text())["changes"]
        assert (run / "log.txt").read_text().splitlines().count(line) == 2
    finally:
        keras.config.set_dtype_policy("float32")
    config = TrainingConfig.load(run)
    assert config.mixed_precision == "bf16"
    # `auto` given again is what it chose then, not what it would choose now.
    given = TRAINING | {"mixed_precision"}
    assert cli.resume_changes(config, {"mixed_precision": "auto"}, given)[1] == {}
    with pytest.raises(
        ValueError,
        match=r"`mixed_precision=off` differs from the "
        r"run's auto \(bf16: CPU has AVX512-BF16, no AMX\)",
    ):
        cli.resume_changes(config, {"mixed_precision": "off"}, given)


def test_resume_latest_continues_a_run_killed_before_its_first_checkpoint(
    tmp_path, image_folder
):
    config = cli.build_config(options(tmp_path, image_folder))
    run = tmp_path / "results" / "00000-killed"
    run.mkdir(parents=True)
    config.save(run)  # What a run killed during start-up leaves.
    values = options(tmp_path, image_folder, resume="latest")
    assert cli.run(values, TRAINING) == 0
    log = (run / "log.txt").read_text()
    assert "no checkpoint yet; training from kimg 0" in log
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-32")


def trained_run(tmp_path, image_folder, steps=4):
    config = cli.build_config(
        options(tmp_path, image_folder, total_kimg=steps * STEP_KIMG)
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    Trainer(config, run_dir, lambda line: None).run()
    return config, run_dir


def corrupt(checkpoint):
    for path in checkpoint.parent.glob(checkpoint.name + ".*"):
        path.write_bytes(b"\0" * 64)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(
    tmp_path, image_folder
):
    config, run_dir = trained_run(tmp_path, image_folder)
    checkpoints = run_dir / "checkpoints"
    corrupt(checkpoints / "ckpt-32")
    # train.py's check before building: one kept checkpoint that fits is enough.
    check_networks_fit(config, run_dir, checkpoint_prefixes(checkpoints))
    lines = []
    trainer = Trainer(config, run_dir, lines.append)
    assert trainer.resume().endswith("ckpt-16")
    assert trainer.nimg == 16
    assert any(line.startswith("Skipped ") and "ckpt-32" in line for line in lines)
    assert any("Fell back to the previous kept checkpoint" in line for line in lines)
    corrupt(checkpoints / "ckpt-16")
    with pytest.raises(ValueError, match="a truncated checkpoint"):
        check_networks_fit(config, run_dir, checkpoint_prefixes(checkpoints))
    trainer = Trainer(config, run_dir, lines.append)
    with pytest.raises(ValueError, match="no usable checkpoint") as error:
        trainer.resume()
    assert "ckpt-32, ckpt-16" in str(error.value)
    assert "\n" not in str(error.value)


def older_checkpoint(tmp_path, image_folder, old_parts):
    """A 2-step run, and a checkpoint of it as an earlier version wrote it:
    `old_parts(trainer, current)` gives what it held besides G, D, Gs and
    cur_nimg. Returns `(config, run_dir, path, G and D weights)`."""
    config, run_dir = trained_run(tmp_path, image_folder, steps=2)
    trainer = Trainer(config, run_dir, lambda line: None)
    trainer.resume()
    weights = [w.numpy() for w in (*trainer.G.weights, *trainer.D.weights)]
    current = trainer.checkpointer.checkpoint
    old = tf.train.Checkpoint(
        **{name: getattr(current, name) for name in ("G", "D", "Gs", "cur_nimg")},
        **old_parts(trainer, current),
    )
    return config, run_dir, old.save(str(tmp_path / "old" / "ckpt")), weights


def resume_from(config, run_dir, path, expected, lines):
    trainer = Trainer(config, run_dir, lines.append)
    assert trainer.resume(path) == path and trainer.nimg == 16
    restored = [w.numpy() for w in (*trainer.G.weights, *trainer.D.weights)]
    for ours, theirs in zip(restored, expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    return trainer


def test_checkpoints_of_older_versions_with_the_reader_state_restore(
    tmp_path, image_folder
):
    def reader_state(trainer, current):
        return {
            "iterator": iter(tf.data.Dataset.range(100).cache().shuffle(50, seed=1)),
            **{name: getattr(current, name) for name in ("g_opt", "d_opt", "step")},
        }

    config, run_dir, path, expected = older_checkpoint(
        tmp_path, image_folder, reader_state
    )
    assert any(n.startswith("iterator/") for n, _ in tf.train.list_variables(path))
    resume_from(config, run_dir, path, expected, [])


def test_checkpoints_with_optimizer_slots_by_position_restore_afresh(
    tmp_path, image_folder
):
    # Earlier versions saved Adam's slots by position, an order that changes
    # when a network's code does; such a run resumes with Adam's state reset.
    def positional_slots(trainer, current):
        return {
            "step": current.step,
            **{
                name: tf.train.Checkpoint(
                    **{f"variable{i:04d}": v for i, v in enumerate(opt.variables)}
                )
                for name, opt in (("g_opt", trainer.g_opt), ("d_opt", trainer.d_opt))
            },
        }

    config, run_dir, path, expected = older_checkpoint(
        tmp_path, image_folder, positional_slots
    )
    lines = []
    trainer = resume_from(config, run_dir, path, expected, lines)
    assert sum("its Adam state starts afresh" in line for line in lines) == 2
    assert int(trainer.g_opt.iterations.numpy()) == 0
    assert all(
        not np.any(v.numpy()) for v in trainer.d_opt.variables[2:]
    )  # Moments zero.


def test_a_checkpoint_holds_no_data(tmp_path):
    # A dataset ten times the size of the model's variables: a checkpoint that
    # held the reader's cache or shuffle buffer would be several times larger.
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [6000, 16, 16, 3]).astype(np.uint8)
    write_arrays(tmp_path / "big", images, None, shuffle=False)
    values = options(tmp_path, tmp_path / "big", total_kimg=2 * STEP_KIMG)
    config = cli.build_config(values)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(config, run_dir, lambda line: None)
    trainer.run()
    variables = [
        *trainer.G.weights, *trainer.D.weights, *trainer.Gs.weights,
        *trainer.g_opt.variables, *trainer.d_opt.variables,
    ]  # fmt: skip
    variable_bytes = sum(
        int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size for v in variables
    )
    assert images.nbytes >= 10 * variable_bytes
    prefix = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    names = [n for n, _ in tf.train.list_variables(prefix)]
    assert not any(n.startswith("iterator") for n in names)
    size = sum(p.stat().st_size for p in run_dir.glob("checkpoints/ckpt-16.*"))
    assert size <= 1.5 * variable_bytes


def test_nan_weights_after_an_update_stop_before_the_checkpoint(tmp_path, image_folder):
    config = cli.build_config(options(tmp_path, image_folder, total_kimg=0.064))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = []
    trainer = Trainer(config, run_dir, lines.append)
    real_g_step = trainer.steps.g_step

    def poisoned(batch, step):
        terms = real_g_step(batch, step)
        if int(step) == 5:  # The losses stay finite; one weight does not.
            weight = trainer.G.trainable_weights[0]
            weight.assign(tf.fill(weight.shape, float("nan")))
        return terms

    trainer.steps.g_step = poisoned
    with pytest.raises(TrainingDiverged, match=r"G weight \S+ is not finite"):
        trainer.run()
    checkpoints = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    assert checkpoints.model_checkpoint_path.endswith("ckpt-32")
    reader = tf.train.load_checkpoint(checkpoints.model_checkpoint_path)
    for name in reader.get_variable_to_shape_map():
        value = np.asarray(reader.get_tensor(name))
        if value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), name


def test_metrics_are_checked_before_the_first_step(tmp_path, image_folder):
    values = options(
        tmp_path,
        image_folder,
        metrics=["fid50k"],
        inception=str(tmp_path / "missing.tgz"),
    )
    with pytest.raises(ValueError, match="missing.tgz"):
        cli.run(values)
    assert not (tmp_path / "results").exists()  # Nothing written, no run.


def test_a_metric_that_fails_later_is_reported_and_training_goes_on(
    tmp_path, image_folder
):
    config = cli.build_config(options(tmp_path, image_folder))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = []

    def broken(Gs, checkpoint):
        raise OSError(f"disk full while writing the metrics of {checkpoint}")

    trainer = Trainer(config, run_dir, lines.append, evaluate=broken)
    trainer.run()
    failures = [line for line in lines if "failed (OSError: disk full" in line]
    assert len(failures) == 2 and "training goes on" in failures[0]
    assert trainer.nimg == 32


def read_until(process, marker):
    """Reads the output up to a line with `marker`; False if the run ended
    first (successfully: whatever the moment, a run must not fail)."""
    for line in process.stdout:
        if marker in line:
            return True
    assert process.wait() == 0
    return False


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_latest_ends_bit_exact(
    tmp_path, image_folder
):
    total = 16
    straight = run_train(*cli_args(tmp_path, image_folder, tmp_path / "a", total))
    assert straight.wait(timeout=600) == 0, straight.stdout.read()
    rng = random.Random(0)  # Moments differ per kill; any must do.
    outdir = tmp_path / "b"
    # Each restart is the user's own command with --resume=latest added.
    command = cli_args(tmp_path, image_folder, outdir, total)
    resume = [*command, "--resume=latest"]
    # Start-up: networks being built, no checkpoint yet.
    process = run_train(*command)
    read_until(process, "Run directory:")
    process.kill()
    killed = [process.wait()]
    # Steps, grids and checkpoint writes: after a tick line, a random delay.
    for tick in (2, 1, 3):
        process = run_train(*resume)
        if all(read_until(process, "tick ") for _ in range(tick)):
            try:
                process.wait(timeout=rng.uniform(0.0, 0.2))
            except subprocess.TimeoutExpired:  # Still running: kill it there.
                process.send_signal(signal.SIGKILL)
        killed.append(process.wait())
    assert killed.count(-signal.SIGKILL) >= 2, killed
    process = run_train(*resume)
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 0, output
    (run_a,) = (tmp_path / "a").iterdir()
    (run_b,) = outdir.iterdir()
    ours, theirs = final_variables(run_a), final_variables(run_b)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_a_bad_record_met_mid_training_is_named_in_one_line(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, [12, 16, 16, 3]).astype(np.uint8)
    write_arrays(tmp_path / "ds", images, None, shuffle=False)
    top = next((tmp_path / "ds").glob("*-r04.tfrecords"))
    data = bytearray(top.read_bytes())
    record = len(data) // 12  # Records have one size: flip a byte of the 6th.
    data[5 * record + record // 2] ^= 0xFF
    top.write_bytes(bytes(data))
    values = options(tmp_path, tmp_path / "ds", total_kimg=2 * STEP_KIMG)
    config = cli.build_config(values)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(ValueError) as error:
        Trainer(config, run_dir, lambda line: None).run()
    message = str(error.value)
    assert message.startswith(f"{top}: record 5: ") and "\n" not in message


@pytest.mark.slow
def test_resume_with_ada_and_lazy_r1_is_bit_exact(tmp_path, image_folder):
    # ADA adjusts p every 4 D steps and lazy R1 acts on D steps 0, 4 and 8:
    # the first run stops after 3, in the middle of both intervals, so ADA's
    # partial sums must be restored.
    extra = ["--augment=ada", "--ada_kimg=0.5", "--r1_interval=4"]
    run_a, straight = straight_and_resumed(tmp_path, image_folder, extra)
    assert "augment ada (target 0.6, ada_kimg 0.5)" in straight
    assert "lazy R1/R2 every 4 D steps (D's Adam: lr x0.8, betas ^0.8)" in straight
    assert re.search(r"^tick .* augment \d\.\d\d ", straight, re.MULTILINE)
    ours = final_variables(run_a)
    (p_name,) = [n for n in ours if n.startswith("ada/p/")]
    assert ours[p_name] > 0  # p moved (real scores were mostly positive).
    options = json.loads((run_a / "training_options.json").read_text())
    assert (options["augment"], options["ada_target"]) == ("ada", 0.6)
    assert options["r1_interval"] == 4
    stats = [json.loads(line) for line in (run_a / "stats.jsonl").open()]
    assert stats[-1]["Progress/augment"]["mean"] == float(ours[p_name])
    assert "Augment/rt" in stats[-1]
    # One step a tick: R1 is logged at the ticks of D steps 0, 4 and 8.
    assert [i for i, s in enumerate(stats) if "Loss/r1_penalty" in s] == [0, 4, 8]
    d_lrs = [s["Progress/d_lr"]["mean"] for s in stats]
    np.testing.assert_allclose(d_lrs, 0.003 * 0.8, rtol=1e-6)
    lrs = [s["Progress/lr"]["mean"] for s in stats]
    np.testing.assert_allclose(lrs, 0.003, rtol=1e-6)
