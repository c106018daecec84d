"""resolve.py and options.py: a run's configuration from its options, without
TensorFlow (the world outside the options is a fake here)."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import pytest

from msg_stylegan_tf2.networks.presets import PRESETS
from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.declaration import CHANGEABLE, help_text
from msg_stylegan_tf2.training.options import (
    OPTIONS,
    RESUME_MUST_EQUAL,
    TRAINING_OPTIONS,
    TrainingOptions,
    check_given,
)
from msg_stylegan_tf2.training.resolve import World, resolve
from msg_stylegan_tf2.training.resume import changed_options

DATA = {"resolution": 16, "num_channels": 3, "label_size": 0}


def fake_world(calls=None, **answers):
    """A World whose answers are fixed, recording each call in `calls`."""
    calls = [] if calls is None else calls

    def asked(name, answer):
        def ask(*args):
            calls.append((name, *args))
            return answer

        return ask

    def unused(*args):
        raise AssertionError(f"asked the world {args}")

    fields = {
        "dataset": asked("dataset", ("/cache/images-0123", DATA)),
        "dataset_resolution": unused,
        "auto_preset": unused,
        "finetune_preset": unused,
        "precision": unused,
        "regularization": asked("regularization", None),
        "trains_on": unused,
    }
    for name, answer in answers.items():
        fields[name] = answer if name == "vote" else asked(name, answer)
    return World(demo="/demo/emoji64.zip", **fields)


GIVEN = {"preset": "tiny", "dataset": "/data/images", "mixed_precision": "off"}


def test_a_new_run_takes_each_option_given_else_the_presets_else_its_default():
    calls = []
    given = {**GIVEN, "preset": "demo_32", "lr": 0.01, "g_lr": None}
    config = resolve(given, world=fake_world(calls))
    preset = PRESETS["demo_32"]
    assert (config.lr, config.g_lr, config.batch) == (0.01, None, 16)
    assert (config.total_kimg, config.ema_rampup) == (40, 0.05)
    assert config.dataset == "/cache/images-0123" and config.arch == "msg_stylegan"
    assert config.G_kwargs == {**preset.G, **DATA}
    assert config.D_kwargs == {**preset.D, **DATA}
    # The world was asked for the dataset at the preset's resolution.
    assert calls[0] == ("dataset", "/data/images", {"resolution": 32})
    assert ("regularization", config) in calls
    for name, declared in TRAINING_OPTIONS.items():
        if name not in ("lr", "mixed_precision", *preset.train):
            assert getattr(config, name) == declared.default, name


def test_the_record_holds_what_the_command_asked_for():
    given = {**GIVEN, "seed": 7, "transform": "pad", "dataset": "~/photos"}
    config = resolve(given, world=fake_world())
    assert set(config.requested) == set(RESUME_MUST_EQUAL)
    assert config.requested["seed"] == 7 and config.requested["transform"] == "pad"
    assert config.requested["channels"] is None  # Not given: not in the cache key.
    assert config.requested["dataset"].endswith("/photos")
    assert config.requested["dataset"][0] == "/"
    assert TrainingConfig.from_json(config.to_json()) == config


def test_the_world_is_asked_only_what_the_options_leave_open():
    calls = []
    world = fake_world(
        calls, dataset_resolution=64, auto_preset="small_64", precision=("bf16", "why")
    )
    given = {"dataset": "/data/photos", "transform": "pad", "channels": 1}
    config = resolve(given, world=world)
    assert calls[:3] == [
        ("dataset_resolution", "/data/photos"),
        ("auto_preset", 64),
        (
            "dataset",
            "/data/photos",
            {"resolution": 64, "transform": "pad", "channels": 1},
        ),
    ]
    assert (config.preset, config.requested["preset"]) == ("small_64", "auto")
    assert (config.mixed_precision, config.precision_reason) == ("bf16", "why")
    # No dataset: the demo with the default preset; no preset: the run's.
    demo = resolve({"mixed_precision": "off"}, world=fake_world(calls))
    assert demo.preset == "demo_32" and calls[-2][1] == "/demo/emoji64.zip"
    tuned = resolve(
        {"finetune_from": "/runs/1", "mixed_precision": "fp16"},
        world=fake_world(finetune_preset="tiny"),
    )
    assert tuned.preset == "tiny" and tuned.precision_reason is None
    with pytest.raises(ValueError, match=r"`finetune_from=/x`: its preset 'z' is not"):
        resolve({"finetune_from": "/x"}, world=fake_world(finetune_preset="z"))


def test_network_options_and_progans_schedule():
    given = {**GIVEN, "combine": "simple", "use_wscale": False}
    config = resolve({**given, "spectral_norm": "D"}, world=fake_world())
    assert config.D_kwargs["combine"] == "simple"
    assert not config.G_kwargs["use_wscale"] and not config.D_kwargs["use_wscale"]
    assert config.D_kwargs["spectral_norm"] and "spectral_norm" not in config.G_kwargs
    progan = resolve({**GIVEN, "preset": "tiny_progan", "batch": 4}, world=fake_world())
    assert progan.loss == "wgan_gp" and progan.sched["minibatch_base"] == 4
    assert progan.sched["minibatch_dict"] == {}


def test_auto_precision_is_put_to_the_workers_vote():
    votes = []
    world = fake_world(precision=("bf16", "AMX"), vote=lambda v: votes.append(v))
    config = resolve({"preset": "tiny"}, world=world)
    assert votes == [True] and config.mixed_precision == "off"
    assert config.precision_reason.startswith("not every worker computes bf16")
    explicit = dataclasses.replace(world, vote=lambda v: pytest.fail("voted"))
    assert resolve(GIVEN, world=explicit).mixed_precision == "off"


@pytest.mark.parametrize(
    "given, message",
    [
        ({"learning_rate": 1}, r"unknown options \['learning_rate'\]"),
        ({"batch": "8"}, r"`batch` must be int\. Received: '8'"),
        ({"jit": 1}, r"`jit` must be bool\. Received: 1"),
        ({"batch": 0}, r"`batch` must be >= 1\. Received: 0"),
        ({"ada_target": 1.0}, r"`ada_target` must be <= 0\.99\. Received: 1\.0"),
        ({"loss": "l2"}, r"`loss` must be one of \('logistic', .*Received: 'l2'"),
        ({"metrics": ["fid50k", "x"]}, r"`metrics`: Unknown metric 'x'"),
        ({"adam_beta2": 1.0}, r"`adam_beta2` must be in \[0, 1\)\. Received: 1\.0"),
        ({"ema_rampup": 0.0}, r"`ema_rampup` must be > 0"),
        ({"resolution": 12}, r"`resolution` must be a power of two >= 8"),
        ({"channels": 2}, r"`channels` must be 1 or 3\. Received: 2"),
        ({"data_percentage": 0.0}, r"`data_percentage` must be in \(0, 100\]"),
        ({"vgg16_unverified": True}, r"`vgg16_unverified` needs `vgg16=PATH`"),
        ({"preset": "auto"}, r"`preset=auto` needs `dataset`"),
        ({"preset": "auto", "arch": "progan"}, r"give `preset` for `arch=progan`"),
        ({"preset": "tiny", "arch": "progan"}, r"`arch=progan` but `preset=tiny`"),
        ({"arch": "progan", "combine": "simple"}, r"`combine` applies to MSG"),
    ],
)
def test_options_are_checked_before_the_world_is_asked(given, message):
    with pytest.raises(ValueError, match=message) as refused:
        resolve(given, world=fake_world(dataset=None))
    assert "\n" not in str(refused.value) and "--" not in str(refused.value)


def test_checks_of_the_resolved_run():
    with pytest.raises(ValueError, match=r"`freeze_d=3` would freeze all of D's 3"):
        resolve({**GIVEN, "freeze_d": 3}, world=fake_world())

    def lazy_without_penalty(config):
        raise ValueError("`r1_interval=2` applies R1 and R2 lazily, but neither is on")

    world = dataclasses.replace(fake_world(), regularization=lazy_without_penalty)
    with pytest.raises(ValueError, match="`r1_interval=2` applies R1 and R2"):
        resolve({**GIVEN, "r1_interval": 2}, world=world)


def run(**fields):
    given = {**GIVEN, "seed": 7, "dataset": "/data/images"}
    return dataclasses.replace(resolve(given, world=fake_world()), **fields)


def test_a_resume_applies_what_may_change_and_refuses_what_may_not():
    recorded = run()
    given = {"lr": 0.001, "jit": True, "seed": 7, "outdir": "x", "resume": "latest"}
    config = resolve(given, recorded, world=fake_world())
    assert (config.lr, config.jit, config.seed) == (0.001, True, 7)
    assert changed_options(recorded, config) == {
        "lr": {"from": 0.003, "to": 0.001},
        "jit": {"from": False, "to": True},
    }
    with pytest.raises(ValueError) as refused:
        resolve({"seed": 8, "lr": 0.1}, recorded, world=fake_world())
    assert str(refused.value).startswith(
        "`resume`: `seed=8` differs from the run's 7. A run keeps the networks"
    )
    with pytest.raises(ValueError, match=r"`batch` must be >= 1"):
        resolve({"batch": 0}, recorded, world=fake_world())


def test_a_resume_converts_a_given_folder_as_the_run_did():
    calls = []
    recorded = run(requested={**run().requested, "transform": "pad"})
    same = resolve(
        {"dataset": "/data/images", "transform": "pad"},
        recorded,
        world=fake_world(calls, trains_on="/elsewhere/images-0123"),
    )
    assert same == recorded
    assert calls[0] == (
        "trains_on",
        "/data/images",
        {"resolution": 16, "transform": "pad"},
    )


def test_resolving_imports_no_tensorflow():
    code = """
import sys
sys.path.insert(0, "tests")
from test_resolve import GIVEN, fake_world
from msg_stylegan_tf2.training.resolve import resolve
config = resolve({**GIVEN, "r1_interval": 2}, world=fake_world())
resolve({"lr": 0.001}, config, world=fake_world())
loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
assert not loaded, loaded[:5]
print(config.r1_interval)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout == "2\n", result.stderr


def test_every_training_option_is_a_field_of_the_config_with_its_default():
    fields = {f.name: f for f in dataclasses.fields(TrainingConfig)}
    options = {f.name for f in dataclasses.fields(TrainingOptions)}
    assert options == set(TRAINING_OPTIONS) and options <= set(fields)
    for name, declared in TRAINING_OPTIONS.items():
        assert fields[name].default == declared.default, name
    for name, declared in OPTIONS.items():
        assert "{" not in help_text(declared).replace("{z,w}{full,end}", ""), name
    assert OPTIONS["lr"].resume == CHANGEABLE
    check_given({"lr": 0.5, "metrics": ["none"], "seed": None})


def test_an_older_training_options_json_loads():
    # Written before `requested`, `precision_reason`, `r1_interval`, `augment`,
    # `freeze_d`, `finetune_from` and the VGG16 options existed.
    older = json.loads(run().to_json())
    for name in ("requested", "precision_reason", "r1_interval", "augment"):
        del older[name]
    for name in ("freeze_d", "finetune_from", "vgg16", "vgg16_unverified", "ada_kimg"):
        del older[name]
    loaded = TrainingConfig.from_json(json.dumps(older))
    assert loaded.requested is None and loaded.r1_interval == 1
    assert loaded.augment == "none" and loaded.lr == run().lr


def test_the_launcher_refuses_a_source_or_a_resume_it_cannot_find(tmp_path):
    from msg_stylegan_tf2.training import cli, world

    with pytest.raises(ValueError, match=r"^`finetune_from=.*`: not a run directory"):
        world.world({}).finetune_preset(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match=r"^`resume=latest`: no run in "):
        cli.find_resume(str(tmp_path), "latest")
    with pytest.raises(ValueError, match=r"^`resume`: .* is neither 'latest'"):
        cli.find_resume(str(tmp_path), str(tmp_path / "run"))
