"""Strategies and workers: the worker count, the all-worker vote, and the
precision every worker of a cluster shares when `auto` chose it."""

import dataclasses

import pytest
import tensorflow as tf
from train_helpers import options

from msg_stylegan_tf2.training import cli
from msg_stylegan_tf2.training.resolve import agree_on_precision
from msg_stylegan_tf2.training.strategy import every_worker, make_strategy, worker_count
from msg_stylegan_tf2.training.world import world


class ClusterResolver:
    def __init__(self, spec):
        self.spec = spec

    def cluster_spec(self):
        return tf.train.ClusterSpec(self.spec)


class TwoWorkers:
    """Stands for MultiWorkerMirroredStrategy where only the cluster is read."""

    cluster_resolver = ClusterResolver({"worker": ["a:1", "b:2"]})


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match=r"`strategy` must be one of \('auto', "):
        make_strategy("tpu")


def test_worker_count():
    assert worker_count(tf.distribute.OneDeviceStrategy("/cpu:0")) == 1
    assert worker_count(TwoWorkers()) == 2
    chief = type(
        "Chief",
        (),
        {
            "cluster_resolver": ClusterResolver(
                {"chief": ["a:1"], "worker": ["b:2", "c:3"]}
            )
        },
    )()
    assert worker_count(chief) == 3


@pytest.mark.parametrize("devices", [["/cpu:0"], ["/cpu:0", "/cpu:1"]])
def test_every_worker_is_a_vote_over_the_replicas(devices):
    strategy = tf.distribute.MirroredStrategy(devices)
    assert every_worker(strategy, True) is True
    assert every_worker(strategy, False) is False


class OtherWorkers:
    """Stands for a cluster whose other workers vote `others` (dissents):
    `run` gives this worker's vote, `reduce` adds theirs."""

    def __init__(self, others):
        self.others = others

    def run(self, fn):
        return fn()

    def reduce(self, op, votes, axis):
        assert op == tf.distribute.ReduceOp.SUM and axis is None
        return votes + self.others


@pytest.mark.parametrize(
    "mine, others, expected",
    [(True, 0.0, True), (True, 1.0, False), (False, 0.0, False), (False, 1.0, False)],
)
def test_every_worker_needs_no_dissent_anywhere(mine, others, expected):
    assert every_worker(OtherWorkers(others), mine) is expected


@pytest.fixture()
def auto_bf16(tmp_path, image_folder):
    config = cli.build_config(options(tmp_path, image_folder))
    return dataclasses.replace(
        config, mixed_precision="bf16", precision_reason="CPU has AVX512-BF16, no AMX"
    )


def test_auto_keeps_bf16_when_every_worker_chose_it(auto_bf16):
    votes = []
    agreed = agree_on_precision(auto_bf16, lambda value: votes.append(value) or True)
    assert agreed == auto_bf16 and votes == [True]


def test_auto_falls_back_to_fp32_when_a_worker_lacks_bf16(auto_bf16):
    agreed = agree_on_precision(auto_bf16, lambda value: False)
    assert agreed.mixed_precision == "off"
    assert agreed.precision_reason == (
        "not every worker computes bf16 natively "
        "(this one: bf16, CPU has AVX512-BF16, no AMX)"
    )


def test_explicit_choices_and_single_workers_do_not_vote(auto_bf16):
    def never(value):
        raise AssertionError("voted")

    explicit = dataclasses.replace(auto_bf16, precision_reason=None)
    assert agree_on_precision(explicit, never) == explicit
    assert agree_on_precision(auto_bf16, None) == auto_bf16


def test_the_launcher_lets_several_workers_vote_and_one_not(monkeypatch):
    from msg_stylegan_tf2.training import strategy

    votes = []
    monkeypatch.setattr(
        strategy, "every_worker", lambda s, value: votes.append((s, value)) or False
    )
    assert world({}, tf.distribute.OneDeviceStrategy("/cpu:0")).vote is None
    assert world({}).vote is None
    two = TwoWorkers()
    assert world({}, two).vote(True) is False and votes == [(two, True)]
