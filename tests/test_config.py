"""training_options.json: a config round-trips, and one from a stranger
(malformed, deeply nested, wrongly typed, oversized) is refused in one line
naming the file, before any network is built."""

import json
import re

import pytest

from msg_stylegan_tf2.training.config import TrainingConfig

CONFIG = TrainingConfig(
    dataset="datasets/x",
    preset="tiny",
    arch="msg_stylegan",
    G_kwargs={"resolution": 16, "fmap_max": 16, "blur_filter": [1, 2, 1]},
    D_kwargs={"resolution": 16, "fmap_max": 16, "mbstd_group_size": 2},
    r1_gamma=10.0,
    metrics=("swd2k",),
)


def edited(**changes):
    return json.dumps({**json.loads(CONFIG.to_json()), **changes})


def with_network_option(key, value):
    options = json.loads(CONFIG.to_json())
    options["G_kwargs"][key] = value
    return json.dumps(options)


def test_a_config_round_trips(tmp_path):
    CONFIG.save(tmp_path)
    assert TrainingConfig.load(tmp_path) == CONFIG


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000 + "]" * 100_000, r"not valid JSON \(maximum recursion"),
        ('{"G_kwargs": ', r"not valid JSON \(Expecting value"),
        ("[1, 2]", "expected an object of options, not list"),
        (edited(evil=1), r"unknown options \['evil'\]"),
        (
            json.dumps(
                {
                    k: v
                    for k, v in json.loads(CONFIG.to_json()).items()
                    if k != "G_kwargs"
                }
            ),
            r"missing options \['G_kwargs'\]",
        ),
        (edited(arch="nope\nx"), r"`arch` must be one of .* Received: 'nope\\nx'$"),
        (with_network_option("a\nb", 1), r"G_kwargs has an option named 'a\\nb'"),
        (edited(G_kwargs="x"), "option `G_kwargs` must be dict. Received: str"),
        (edited(batch=True), "option `batch` must be int. Received: bool"),
        (edited(batch=1.5), "option `batch` must be int. Received: float"),
        (edited(r1_gamma="10"), "`r1_gamma` must be int or float or NoneType"),
        (edited(metrics={"a": 1}), "`metrics` must be list or tuple"),
        (with_network_option("blur_filter", [1] * 100_000), "`blur_filter` must be"),
        (with_network_option("fmap_max", {"a": 1}), "`fmap_max` must be a number"),
        (
            with_network_option("mapping_layers", 10**9),
            r"G_kwargs option `mapping_layers` is 1000000000; .* at most 256\.$",
        ),
    ],
)
def test_a_strangers_config_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "training_options.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        TrainingConfig.load(tmp_path)
    line = str(info.value)
    assert line.startswith(f"{path}: ") and "\n" not in line, line
    assert re.search(message, line), line
