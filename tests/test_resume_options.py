"""resume.py: which options given again at a resume equal the run's, without
TensorFlow (configs built by hand, as `training_options.json` holds them)."""

import dataclasses

import pytest

from msg_stylegan_tf2.training.config import TrainingConfig
from msg_stylegan_tf2.training.resume import (
    RESUME_MUST_EQUAL,
    apply_changes,
    check_must_equal,
    requested_options,
)

G = {"resolution": 32, "use_wscale": True}
D = {"resolution": 32, "use_wscale": True, "combine": "cat_lin"}


def config(**fields):
    values = {
        "dataset": "/cache/photos-0123456789abcdef",
        "preset": "msg_stylegan_32",
        "arch": "msg_stylegan",
        "G_kwargs": G,
        "D_kwargs": D,
        "mixed_precision": "off",
        "seed": 7,
    }
    return TrainingConfig(**{**values, **fields})


def started(options, preset="auto", dataset="/data/photos"):
    # A run started with these options records what they asked for.
    requested = requested_options(options, preset, dataset)
    return config(requested=requested)


def test_every_option_of_the_command_that_started_the_run_is_taken_again():
    command = {
        "dataset": "/data/photos",
        "preset": "auto",
        "seed": 7,
        "mixed_precision": "auto",
        "transform": "pad",
        "channels": 3,
        "labels_from": None,
    }
    run = started(command)
    run = dataclasses.replace(run, precision_reason="no AMX or AVX512-BF16")
    check_must_equal(run, {**command, "dataset": "/data/./photos/"}, set(command))
    # What auto chose, given explicitly, is the run's too.
    chosen = {"preset": "msg_stylegan_32", "mixed_precision": "off"}
    check_must_equal(run, chosen, set(chosen))


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("seed", 8, "7"),
        ("preset", "msg_stylegan_64", "auto (msg_stylegan_32)"),
        ("mixed_precision", "bf16", "auto (off: no AMX)"),
        ("transform", "resize", "center-crop"),
        ("channels", 1, "unset"),
        ("dataset", "/data/other", "/data/photos"),
        ("resolution", 64, "32"),
        ("combine", "simple", "cat_lin"),
        ("spectral_norm", "D", "none"),
        ("augment", "ada", "none"),
        ("finetune_from", "/runs/00001", "unset"),
    ],
)
def test_a_value_that_differs_is_named_with_the_runs_and_the_given(name, value, shown):
    run = started({"seed": 7})
    run = dataclasses.replace(run, precision_reason="no AMX")
    with pytest.raises(ValueError) as refused:
        check_must_equal(run, {name: value}, {name})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        f"`resume`: `{name}={value}` differs from the run's {shown}. "
    )


def test_runs_from_before_the_record_compare_with_what_they_train_on():
    run = config()  # No `requested`.
    # Their own TFRecord directory, the conversion defaults, the values they hold.
    check_must_equal(run, {"dataset": run.dataset}, {"dataset"})
    check_must_equal(
        run, {"transform": "center-crop", "seed": 7}, {"transform", "seed"}
    )
    # An image folder whose conversion (by content and options) is the run's.
    same = "/elsewhere/cache/photos-0123456789abcdef"
    check_must_equal(run, {"dataset": "/data/photos"}, {"dataset"}, trains_on=same)
    with pytest.raises(ValueError, match="`dataset=/data/photos` differs"):
        check_must_equal(run, {"dataset": "/data/photos"}, {"dataset"}, "/c/x-1")


def test_the_same_folder_with_other_images_is_refused():
    run = started({"dataset": "/data/photos"})
    with pytest.raises(ValueError, match="its images changed since the run converted"):
        check_must_equal(run, {"dataset": "/data/photos"}, {"dataset"}, "/c/photos-1")


def test_only_given_options_are_compared_and_changes_are_applied():
    run = started({"seed": 7})
    check_must_equal(run, {"seed": 8, "augment": "ada"}, set())
    changed, changes = apply_changes(run, {"lr": 0.001, "seed": 8}, {"lr", "seed"})
    assert changed.lr == 0.001 and changed.seed == 7
    assert changes == {"lr": {"from": 0.003, "to": 0.001}}


def test_the_record_round_trips_and_a_strangers_is_checked():
    run = started({"seed": 7, "dataset": "~/photos"})
    assert TrainingConfig.from_json(run.to_json()) == run
    assert set(run.requested) == set(RESUME_MUST_EQUAL)
    for bad in ({"lr": 1.0}, {"seed": [7]}, {"dataset": {"a": 1}}):
        text = dataclasses.replace(run, requested=bad).to_json()
        with pytest.raises(ValueError, match="training_options.json: `requested`"):
            TrainingConfig.from_json(text)
