"""Generate official loss values for tests/test_losses.py from the TF1 code.

This script is NOT run by the test suite. It documents how
``tests/data/official/losses_unfused.npz`` was produced, so that it can be
regenerated.

Requirements
------------
The patched official checkout described in ``make_official_fixtures.py``
(``tensorflow.compat.v1`` imports, graph mode), passed via ``--official_dir``,
e.g. ``/work/official_tf1``; it must also have ``training/loss.py`` and
``training/training_loop.py`` importing ``tensorflow.compat.v1 as tf``. The
networks' variables are read from ``tests/data/official/unfused.npz``, which
``make_official_fixtures.py`` wrote.

What it computes
----------------
With the ``unfused`` networks (built with ``dnnlib.tflib.Network`` as in
training and every variable assigned by name from ``unfused.npz``), seeded
latents and a seeded full-resolution real batch (uniform in [-1, 1], NCHW), no
labels:

* the real pyramid with the official ``process_reals`` (no mirroring, identity
  dynamic range), so that R1 differentiates through the pooling as in training;
* the official ``D_logistic_simplegp`` (``r1_gamma=10``) and
  ``G_logistic_nonsaturating`` loss tensors, per image ``[N, 1]``. Their
  internal ``tf.random_normal`` latents are ignored by a G wrapper that feeds
  the fixed latents instead and runs G with ``randomize_noise=False`` (and
  ``is_training=True``, as the losses ask, which disables truncation). The
  loss scaling of the optimizer is the identity;
* the tensors the losses log through ``autosummary`` (real and fake scores,
  the scalar R1 penalty), captured by replacing ``autosummary`` in the loss
  module's namespace with a recorder;
* per image and level, the sum of squares of the R1 gradients
  (``tf.gradients`` of the summed real scores w.r.t. the pyramid levels).

Output ``losses_unfused.npz``: ``latents`` ``[N, latent_size]``, ``reals``
``[N, C, R, R]``, ``d_loss`` and ``g_loss`` ``[N, 1]``, ``real_scores`` and
``fake_scores`` ``[N, 1]``, ``r1_penalty`` (scalar), ``r1_per_image_levels``
``[N, num_levels]`` (4x4 first), ``r1_gamma`` and ``config_json``.

Usage::

    python tests/data/make_official_loss_fixtures.py --official_dir /work/official_tf1
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_official_fixtures import (  # noqa: E402
    D_FUNC,
    G_FUNC,
    _all_vars,
    _import_official,
    _round_bf16,
)

SOURCE = "unfused"
SEED = 2468
R1_GAMMA = 10.0


class FixedLatentsG:
    """Stands in for G inside a loss: fixed latents, deterministic noise."""

    def __init__(self, G, latents):
        self.G, self.latents = G, latents
        self.input_shapes = G.input_shapes

    def get_output_for(self, latents, labels, **kwargs):
        assert latents.shape.as_list() == self.latents.shape.as_list()
        return self.G.get_output_for(
            self.latents, labels, randomize_noise=False, **kwargs
        )


class NoLabels:
    """The training set's random labels for an unconditional dataset."""

    def __init__(self, tf):
        self.tf = tf

    def get_random_labels_tf(self, minibatch_size):
        return self.tf.zeros([minibatch_size, 0], self.tf.float32)


class NoLossScaling:
    """The optimizer's loss scaling, switched off."""

    def apply_loss_scaling(self, value):
        return value

    def undo_loss_scaling(self, value):
        return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument("--data_dir", default=str(HERE / "official"))
    args = parser.parse_args()

    tf, tflib, _ = _import_official(args.official_dir)
    from training import loss as official_loss
    from training.training_loop import process_reals

    source = np.load(Path(args.data_dir) / f"{SOURCE}.npz")
    config = json.loads(str(source["config_json"]))
    kw, n = config["kwargs"], config["minibatch"]
    res_log2 = int(np.log2(kw["resolution"]))
    variables = {k[len("var/") :]: source[k] for k in source.files if k[:4] == "var/"}

    rng = np.random.RandomState(SEED)
    latents = _round_bf16(rng.standard_normal([n, kw["latent_size"]]))
    shape = [n, kw["num_channels"], kw["resolution"], kw["resolution"]]
    reals = _round_bf16(rng.uniform(-1.0, 1.0, size=shape))

    # Record what the losses log instead of writing summaries.
    logged = {}

    def record(name, value):
        logged[name] = value
        return value

    official_loss.autosummary = record

    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph).as_default() as sess:
        G = tflib.Network(num_inputs=2, name="G", func_name=G_FUNC, **kw)
        D = tflib.Network(num_inputs=res_log2, name="D", func_name=D_FUNC, **kw)

        # Assign the fixture's variables by name.
        all_vars = _all_vars(G, D)
        assert sorted(all_vars) == sorted(variables)
        tflib.set_vars({var: variables[name] for name, var in all_vars.items()})

        # Build the official losses on the fixed inputs.
        labels = tf.zeros([n, 0], tf.float32)
        real_pyramid = process_reals(
            tf.constant(reals), False, [-1, 1], [-1, 1], depth=res_log2 - 1
        )
        fixed_G = FixedLatentsG(G, tf.constant(latents))
        common = {"G": fixed_G, "D": D, "opt": NoLossScaling(), "minibatch_size": n}
        d_loss = official_loss.D_logistic_simplegp(
            training_set=None,
            reals=real_pyramid,
            labels=labels,
            r1_gamma=R1_GAMMA,
            **common,
        )
        d_logged = dict(logged)
        g_loss = official_loss.G_logistic_nonsaturating(
            training_set=NoLabels(tf), **common
        )
        real_grads = tf.gradients(
            tf.reduce_sum(d_logged["Loss/scores/real"]), real_pyramid
        )
        r1_levels = tf.stack(
            [tf.reduce_sum(tf.square(g), axis=[1, 2, 3]) for g in real_grads], 1
        )
        out = sess.run(
            {
                "d_loss": d_loss,
                "g_loss": g_loss,
                "real_scores": d_logged["Loss/scores/real"],
                "fake_scores": d_logged["Loss/scores/fake"],
                "r1_penalty": d_logged["Loss/r1_penalty"],
                "r1_per_image_levels": r1_levels,
            }
        )

    # Check the outputs against each other.
    real, fake = (out[k].astype(np.float64) for k in ("real_scores", "fake_scores"))
    expected = np.logaddexp(0.0, fake) + np.logaddexp(0.0, -real)
    expected += out["r1_penalty"] * R1_GAMMA * 0.5
    assert np.abs(out["d_loss"] - expected).max() < 1e-4
    assert abs(out["r1_per_image_levels"].mean() - out["r1_penalty"]) < 1e-4 * (
        1 + abs(out["r1_penalty"])
    )
    g_expected = np.logaddexp(0.0, -fake)
    assert np.abs(out["g_loss"] - g_expected).max() < 1e-5
    for key, value in out.items():
        print(f"  {key}: {np.asarray(value).ravel()}")

    data = {
        "latents": latents,
        "reals": reals,
        **{k: np.asarray(v, np.float32) for k, v in out.items()},
        "r1_gamma": np.float32(R1_GAMMA),
        "config_json": np.array(
            json.dumps({"source": SOURCE, "seed": SEED, "r1_gamma": R1_GAMMA})
        ),
    }
    path = Path(args.data_dir) / f"losses_{SOURCE}.npz"
    np.savez_compressed(path, **data)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(data)} arrays)")


if __name__ == "__main__":
    main()
