"""The network options of a run's training_options.json, read without the
training code: the training's options are left to it, and a stranger's file
(malformed, deeply nested, wrongly typed, oversized) is refused in one line
naming the file, before any network is built."""

import json
import re

import pytest

from msg_stylegan_tf2.formats.run_options import (
    NetworkRunOptions,
    read_run_options,
    run_directory,
)

OPTIONS = {
    "dataset": "datasets/x",
    "preset": "tiny",
    "arch": "msg_stylegan",
    "G_kwargs": {"resolution": 16, "fmap_max": 16, "blur_filter": [1, 2, 1]},
    "D_kwargs": {"resolution": 16, "fmap_max": 16, "mbstd_group_size": 2},
    # The training's, not read here.
    "batch": 16,
    "metrics": ["swd2k"],
    "requested": {"seed": 0},
}


def edited(**changes):
    return json.dumps({**OPTIONS, **changes})


def with_network_option(key, value):
    return edited(G_kwargs={**OPTIONS["G_kwargs"], key: value})


def test_the_network_options_are_read_and_the_training_options_left(tmp_path):
    (tmp_path / "training_options.json").write_text(edited(mirror_augment=True))
    options = read_run_options(tmp_path)
    assert options == NetworkRunOptions(
        dataset="datasets/x",
        preset="tiny",
        arch="msg_stylegan",
        G_kwargs=OPTIONS["G_kwargs"],
        D_kwargs=OPTIONS["D_kwargs"],
        mirror_augment=True,
    )
    written = json.loads(options.to_json(mixed_precision="off"))
    assert written["mixed_precision"] == "off" and written["arch"] == "msg_stylegan"


def test_a_checkpoint_names_its_run_directory(tmp_path):
    assert run_directory(tmp_path) == tmp_path
    assert run_directory(tmp_path / "checkpoints" / "ckpt-3") == tmp_path


def test_a_directory_without_options_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match=r"training_options.json: missing; is "):
        read_run_options(tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000 + "]" * 100_000, r"not valid JSON \(maximum recursion"),
        ('{"G_kwargs": ', r"not valid JSON \(Expecting value"),
        ("[1, 2]", "expected an object of options, not list"),
        (
            json.dumps({k: v for k, v in OPTIONS.items() if k != "G_kwargs"}),
            r"missing options \['G_kwargs'\]",
        ),
        (edited(arch="nope\nx"), r"`arch` must be one of .* Received: 'nope\\nx'$"),
        (with_network_option("a\nb", 1), r"G_kwargs has an option named 'a\\nb'"),
        (edited(G_kwargs="x"), "option `G_kwargs` must be dict. Received: str"),
        (edited(mirror_augment=1), "`mirror_augment` must be bool. Received: int"),
        (with_network_option("blur_filter", [1] * 100_000), "`blur_filter` must be"),
        (with_network_option("fmap_max", {"a": 1}), "`fmap_max` must be a number"),
        (
            with_network_option("mapping_layers", 10**9),
            r"G_kwargs option `mapping_layers` is 1000000000; .* at most 256\.$",
        ),
    ],
)
def test_a_strangers_options_are_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "training_options.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_run_options(tmp_path)
    line = str(info.value)
    assert line.startswith(f"{path}: ") and "\n" not in line, line
    assert re.search(message, line), line
