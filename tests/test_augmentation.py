"""What D sees (msg_stylegan_tf2/training/augmentation.py): each choice built
from the config, draws keyed by role and sliced per replica, ADA's p gating
them, its statistics, checkpoint entries and log fields."""

import types

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.choices import AUGMENTS, load
from msg_stylegan_tf2.networks.pyramid import downsample_pyramid
from msg_stylegan_tf2.training.augment import AdaptiveProbability, augment_pyramid, draw
from msg_stylegan_tf2.training.augmentation import (
    AdaptiveAugment,
    DiffAugment,
    NoAugmentation,
    make_augmentation,
)
from msg_stylegan_tf2.training.step_context import Role

SEED = tf.constant([3, 4], tf.int64)


def config(augment, **options):
    # The options an augmentation reads of a TrainingConfig.
    return types.SimpleNamespace(
        augment=augment, **{"ada_target": 0.6, "ada_kimg": 500.0, **options}
    )


def pyramid(n=4, side=16):
    images = np.random.RandomState(0).uniform(-1, 1, [n, side, side, 3])
    return downsample_pyramid(tf.constant(images, tf.float32), 3)


def assert_same(levels, others):
    for a, b in zip(levels, others, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def differ(levels, others):
    return any(np.abs(a - b).max() > 1e-3 for a, b in zip(levels, others, strict=True))


def test_each_choice_builds_its_class_and_unknown_ones_are_refused():
    for name in AUGMENTS:
        made = make_augmentation(config(name))
        assert type(made) is load(AUGMENTS, name, "augment")
    ada = make_augmentation(config("ada", ada_target=0.7, ada_kimg=20.0))
    assert (ada.adaptive.ada_target, ada.adaptive.ada_kimg) == (0.7, 20.0)
    with pytest.raises(ValueError, match="`augment` must be one of .*'rotate'"):
        make_augmentation(config("rotate"))


def test_draws_are_keyed_by_role_and_shared_by_every_level():
    levels = pyramid()
    augment = DiffAugment().augmenter(SEED, 4, tf.range(4))
    reals = augment(Role.REALS, levels)
    # One draw per image for all its levels: the role's, seeded by (seed, role).
    role_seed = tf.random.experimental.stateless_fold_in(SEED, int(Role.REALS))
    assert_same(reals, augment_pyramid(levels, draw(role_seed, 4)))
    assert differ(reals, levels)
    # Reals, fakes and a penalty's mixes are drawn independently, and a role
    # draws the same whatever D was shown before it in the pass.
    fakes = augment(Role.FAKES, levels)
    mixes = augment(Role.PENALTY, levels)
    assert differ(reals, fakes) and differ(reals, mixes) and differ(fakes, mixes)
    assert_same(augment(Role.REALS, levels), reals)
    # Another pass (seed) draws anew.
    other = DiffAugment().augmenter(tf.constant([3, 5], tf.int64), 4, tf.range(4))
    assert differ(other(Role.REALS, levels), reals)


def test_a_replica_gets_its_rows_of_the_global_draw():
    levels = pyramid()
    whole = DiffAugment().augmenter(SEED, 4, tf.range(4))(Role.FAKES, levels)
    rows = DiffAugment().augmenter(SEED, 4, tf.constant([3, 1]))(
        Role.FAKES, [tf.gather(level, [3, 1]) for level in levels]
    )
    assert_same(rows, [tf.gather(level, [3, 1]) for level in whole])


def test_ada_p_gates_each_operation_of_the_draws():
    levels = pyramid()
    ada = AdaptiveAugment(AdaptiveProbability())
    augment = ada.augmenter(SEED, 4, tf.range(4))
    # p = 0 (its start): every operation is off (identity up to arithmetic).
    for a, b in zip(augment(Role.REALS, levels), levels, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # p is read at each draw: at 1, ADA is DiffAugment.
    ada.adaptive.p.assign(1.0)
    diffaug = DiffAugment().augmenter(SEED, 4, tf.range(4))
    assert_same(augment(Role.REALS, levels), diffaug(Role.REALS, levels))


def test_no_augmentation_and_diffaugment_hold_no_state():
    for augmentation, line in ((NoAugmentation(), ""), (DiffAugment(), "diffaug")):
        terms = {"Loss/signs/real": tf.ones([4])}
        assert augmentation.replica_sums(terms) == {}
        assert augmentation.after_d_step(terms, 4) is terms
        assert augmentation.checkpoint_objects() == {}
        assert augmentation.progress() == {}
        assert augmentation.description() == (line and f", augment {line}")
    assert NoAugmentation().augmenter(SEED, 4, tf.range(4)) is None


def test_ada_takes_up_real_signs_and_is_checkpointed_by_the_names_runs_wrote(
    tmp_path,
):
    ada = AdaptiveAugment(AdaptiveProbability(0.6, ada_interval=1, ada_kimg=1.0))
    # A replica's exact sum of the signs of its real scores.
    sums = ada.replica_sums({"Loss/signs/real": tf.constant([1.0, 1.0, -1.0, 1.0])})
    assert float(sums["Augment/sign_sum"]) == 2.0
    # The step's global terms: r_t logged instead of the sum; p moves.
    signs = {"Augment/sign_sum": tf.constant(8.0)}
    logged = ada.after_d_step({"Loss/D/total": 1.0, **signs}, 8)
    assert set(logged) == {"Loss/D/total", "Augment/rt"}
    assert float(logged["Augment/rt"]) == 1.0
    assert ada.progress() == {"augment": pytest.approx(8 / 1000)}
    assert ada.description() == ", augment ada (target 0.6, ada_kimg 1)"
    path = tf.train.Checkpoint(**ada.checkpoint_objects()).save(str(tmp_path / "c"))
    names = {name for name, _ in tf.train.list_variables(path)}
    for variable in ("p", "sign_sum", "images", "steps"):
        assert f"ada/{variable}/.ATTRIBUTES/VARIABLE_VALUE" in names
