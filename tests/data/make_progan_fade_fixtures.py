"""Generate fixtures from the official (TF1) ProGAN `G_paper` and `D_paper` at
fractional level of detail (during fades).

This script is NOT run by the test suite. It documents how the files
``tests/data/official/progan_fade_<config>.npz`` were produced, so that they can
be regenerated. Copyright (c) the msg-stylegan-tf2 authors, MIT license; it
imports, but does not contain, the official code.

Requirements
------------
The patched checkout of https://github.com/tkarras/progressive_growing_of_gans
described in ``make_progan_fixtures.py`` (only ``networks.py`` is imported, with
``import tensorflow.compat.v1 as tf``), passed via ``--official_dir``. The
configurations, the weight initialisation, the bfloat16 rounding and the import
of the official code are those of ``make_progan_fixtures.py``, imported from it.

``G_paper`` and ``D_paper`` are called directly inside
``tf.variable_scope("G")`` and ``tf.variable_scope("D")`` (the 'recursive'
structure again in the same scopes with ``reuse=True``, so that both structures
share the variables, ``G/lod`` and ``D/lod`` included). The variable names are
those of the official ``Network(name="G")`` / ``Network(name="D")``:
``D/FromRGB_lod<k>/weight``, ``D/<R>x<R>/Conv0/weight``,
``D/<R>x<R>/Conv1/weight`` or ``D/<R>x<R>/Conv1_down/weight``,
``D/4x4/Conv/weight``, ``D/4x4/Dense0/weight``, ``D/4x4/Dense1/weight``,
``D/lod`` (and the biases).

Official semantics at ``lod = f + a`` (integer part f, fraction a in [0, 1))
---------------------------------------------------------------------------
With ``L = log2(R)``, the block at resolution ``R / 2^f`` is the newest one
that is active, the block at ``R / 2^(f+1)`` the one being faded out of the
ToRGB/FromRGB path:

* G: ``images_out = upscale(lerp(ToRGB_f(x_f), upscale(ToRGB_(f+1)(x_(f+1))),
  a), 2^f)``, i.e. ``a = 0`` is the new (finer) level alone and ``a -> 1`` the
  previous (coarser) level, nearest-upscaled. The lerp weight of the coarse
  image is ``a``: lod decreases during training, so a fade runs from a = 1 to 0.
* D: the input is average-pooled by ``2^f`` (FromRGB_f) and by ``2^(f+1)``
  (FromRGB_(f+1)); the activations entering block ``R / 2^(f+1)`` are
  ``lerp(block_f(FromRGB_f(pool(x, 2^f))), FromRGB_(f+1)(pool(x, 2^(f+1))), a)``,
  again ``a = 0`` the finer path. The blocks above ``R / 2^f`` are not used
  (in the 'linear' structure they are computed and discarded by a clipped
  lerp weight of 1, in the 'recursive' one skipped by ``tf.cond``). At an
  integer lod the D is simply the network of resolution ``R / 2^f`` fed the
  ``2^f``-pooled image; there is no fade term.

What is checked here
--------------------
At every lod in ``lods`` (including the integer ones):

* 'linear' and 'recursive' give the same G images and D scores (atol 1e-4);
* the G images equal the formula above, computed in numpy from the per-level
  ToRGB tensors read out of the linear graph (atol 1e-5);
* the D sees only the ``2^f``-pooled input: feeding it the nearest-upscaled
  ``avgpool(reals, 2^f)`` gives the same scores as ``reals`` (atol 1e-4), while
  ``avgpool(reals, 2^(f+1))`` (where it exists) changes them.

The random values are drawn in the order G variables, latents, labels, D
variables, reals, with the seed of ``make_progan_fixtures.py``; so G, latents
and labels are those of ``progan_<config>.npz``, and if that file is present in
``--out_dir`` the G weights and the images at integer lods are asserted to
match it.

Outputs
-------
``progan_fade_<config>.npz`` for each configuration in ``CONFIGS``:

* ``var/<official name>``: every trainable variable of G and D, overwritten
  with seeded random values (weights N(0, 1), biases N(0, 0.2^2)), rounded to
  bfloat16-representable float32, exactly as stored (official layouts). The
  non-trainable ``G/lod`` and ``D/lod`` are not stored (set per output below).
* ``latents`` ``[N, latent_size]``, ``labels`` ``[N, label_size]`` (one-hot;
  ``[N, 0]`` without labels).
* ``reals`` ``[N, C, R, R]`` (NCHW): uniform in [-1, 1], bfloat16-rounded.
* ``lods`` ``[K]``: the lods evaluated, ``0, 0.25, 0.5, 1, 1.5, 1.75, L - 2.5,
  L - 2`` (sorted, deduplicated).
* ``g_images`` ``[K, N, C, R, R]``: the official G output at each lod.
* ``d_scores`` ``[K, N, 1 + label_size]``: the official D outputs for
  ``reals`` at each lod, ``scores_out`` then ``labels_out``.
* ``config_json``: the G keyword arguments (``kwargs``), the D ones
  (``d_kwargs``), N, the seed and the lods.

Usage::

    python tests/data/make_progan_fade_fixtures.py --official_dir /path/to/progan
"""

import argparse
import json
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_progan_fixtures import (  # noqa: E402
    BIAS_STD,
    CONFIGS,
    WEIGHT_STD,
    _expected_names,
    _import_official,
    _round_bf16,
    _torgb_tensors,
    _upscale,
    write_npz,
)

# The G_paper keyword arguments that D_paper shares.
D_KEYS = (
    "resolution",
    "num_channels",
    "label_size",
    "fmap_base",
    "fmap_decay",
    "fmap_max",
    "fused_scale",
)
MBSTD_GROUP_SIZE = 4  # The D_paper default.
ATOL = 1e-4
# Larger than the 300 KB of make_progan_fixtures.py: the G and D variables of
# 'fused_labels' alone take ~275 KB compressed (bfloat16 values in float32), and
# a smaller N would not bring the file under 300 KB.
MAX_BYTES = 600_000


def _d_kwargs(kw):
    d_kw = {k: kw[k] for k in D_KEYS}
    d_kw["mbstd_group_size"] = MBSTD_GROUP_SIZE
    return d_kw


def _fade_lods(res_log2):
    top = res_log2 - 2
    lods = sorted({0.0, 0.25, 0.5, 1.0, 1.5, 1.75, top - 0.5, float(top)})
    assert all(0 <= lod <= top for lod in lods), lods
    return np.array(lods, np.float32)


def _expected_d_names(kw):
    """Official variable names of D_paper, written out independently."""
    res_log2 = int(np.log2(kw["resolution"]))
    scopes = ["4x4/Conv", "4x4/Dense0", "4x4/Dense1"]
    for res in range(3, res_log2 + 1):
        conv1 = "Conv1_down" if kw["fused_scale"] else "Conv1"
        scopes += [f"{2**res}x{2**res}/Conv0", f"{2**res}x{2**res}/{conv1}"]
    scopes += [f"FromRGB_lod{lod}" for lod in range(res_log2 - 1)]
    return {f"D/{s}/{v}" for s in scopes for v in ("weight", "bias")}


def _avgpool(x, factor):
    """Box-filter downscaling of NCHW images."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // factor, factor, w // factor, factor)
    return x.mean(axis=(3, 5), dtype=np.float64).astype(np.float32)


def _lerp(a, b, t):
    return a + (b - a) * np.float32(t)


def _load_random(sess, rng, variables, data):
    """Overwrites the variables with seeded random values; stores them."""
    values = OrderedDict()
    for vname, var in variables.items():
        std = BIAS_STD if vname.endswith("/bias") else WEIGHT_STD
        values[vname] = _round_bf16(std * rng.standard_normal(var.shape.as_list()))
        var.load(values[vname], sess)
    stored = sess.run(variables)
    for vname, val in stored.items():
        np.testing.assert_array_equal(val, values[vname])
        assert np.all(val != 0), vname
        data["var/" + vname] = val
        print(f"  {vname} {list(val.shape)}")


def _check_against_integer_fixture(path, data, lods):
    if not path.exists():
        print(f"  {path.name} not found: cross-check skipped")
        return
    ref = np.load(path)
    g_vars = [k for k in ref.files if k.startswith("var/")]
    assert g_vars and all(k.startswith("var/G/") for k in g_vars), g_vars
    assert {k for k in data if k.startswith("var/G/")} == set(g_vars)
    for k in g_vars + ["latents", "labels"]:
        np.testing.assert_array_equal(data[k], ref[k], err_msg=k)
    for i, lod in enumerate(lods):
        if lod == int(lod):
            np.testing.assert_allclose(
                data["g_images"][i], ref[f"lod{int(lod)}_images"], rtol=0, atol=1e-5
            )
    print(f"  matches {path.name} (G weights, inputs, images at integer lods)")


def make_config(tf, networks, name, cfg, out_dir):
    kw = cfg["kwargs"]
    d_kw = _d_kwargs(kw)
    n = cfg["minibatch"]
    rng = np.random.RandomState(cfg["seed"])
    res_log2 = int(np.log2(kw["resolution"]))
    res, ch = kw["resolution"], kw["num_channels"]
    label_size = kw["label_size"]
    lods = _fade_lods(res_log2)
    print(f"== {name}: G {kw}, D {d_kw}, lods {lods.tolist()}")

    data = OrderedDict()
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph) as sess:
        lat_ph = tf.placeholder(tf.float32, [None, kw["latent_size"]], "latents")
        lab_ph = tf.placeholder(tf.float32, [None, label_size], "labels")
        img_ph = tf.placeholder(tf.float32, [None, ch, res, res], "reals")
        with tf.variable_scope("G"):
            g_lin = networks.G_paper(lat_ph, lab_ph, structure="linear", **kw)
        with tf.variable_scope("G", reuse=True):
            g_rec = networks.G_paper(lat_ph, lab_ph, structure="recursive", **kw)
        torgbs = _torgb_tensors(tf, graph, res_log2)
        with tf.variable_scope("D"):
            d_lin = tf.concat(
                networks.D_paper(img_ph, structure="linear", **d_kw), axis=1
            )
        with tf.variable_scope("D", reuse=True):
            d_rec = tf.concat(
                networks.D_paper(img_ph, structure="recursive", **d_kw), axis=1
            )

        all_vars = OrderedDict((v.name.split(":")[0], v) for v in tf.global_variables())
        g_lod = all_vars.pop("G/lod")
        d_lod = all_vars.pop("D/lod")
        g_vars = OrderedDict((k, v) for k, v in all_vars.items() if k[:2] == "G/")
        d_vars = OrderedDict((k, v) for k, v in all_vars.items() if k[:2] == "D/")
        assert len(g_vars) + len(d_vars) == len(all_vars), sorted(all_vars)
        assert set(g_vars) == _expected_names(kw), sorted(g_vars)
        assert set(d_vars) == _expected_d_names(kw), sorted(d_vars)
        trainable = {v.name.split(":")[0] for v in tf.trainable_variables()}
        assert trainable == set(all_vars)
        sess.run(tf.global_variables_initializer())

        # 1. Random values, drawn in the order of make_progan_fixtures.py for
        # G and its inputs, then D and the reals.
        _load_random(sess, rng, g_vars, data)
        latents = _round_bf16(rng.standard_normal([n, kw["latent_size"]]))
        if label_size:
            labels = np.eye(label_size, dtype=np.float32)[
                rng.randint(0, label_size, size=n)
            ]
        else:
            labels = np.zeros([n, 0], np.float32)
        _load_random(sess, rng, d_vars, data)
        reals = _round_bf16(rng.uniform(-1.0, 1.0, [n, ch, res, res]))
        assert np.abs(reals).max() <= 1.0
        data["latents"] = latents
        data["labels"] = labels
        data["reals"] = reals
        data["lods"] = lods
        g_feed = {lat_ph: latents, lab_ph: labels}

        # 2. Outputs at every lod, and the checks.
        g_images, d_scores = [], []
        for lod in lods:
            f = int(np.floor(lod))
            a = float(lod) - f
            g_lod.load(lod, sess)
            d_lod.load(lod, sess)

            # G: linear == recursive == lerp of the ToRGB outputs.
            out, rec, levels = sess.run([g_lin, g_rec, torgbs], g_feed)
            fine = levels[res_log2 - 2 - f]
            if a:
                coarse = _upscale(levels[res_log2 - 3 - f], 2)
                fine = _lerp(fine, coarse, a)
            err_g = np.abs(out - _upscale(fine, 2**f)).max()
            err_g_rec = np.abs(out - rec).max()
            assert out.shape == (n, ch, res, res), out.shape
            assert np.all(np.isfinite(out)) and out.std() > 1e-2

            # D: linear == recursive; only avgpool(reals, 2^f) matters.
            pooled = _upscale(_avgpool(reals, 2**f), 2**f)
            d_out, d_out_rec = sess.run([d_lin, d_rec], {img_ph: reals})
            d_pooled, d_pooled_rec = sess.run([d_lin, d_rec], {img_ph: pooled})
            err_d_rec = np.abs(d_out - d_out_rec).max()
            err_d_pool = max(
                np.abs(d_out - d_pooled).max(), np.abs(d_out - d_pooled_rec).max()
            )
            assert d_out.shape == (n, 1 + label_size), d_out.shape
            assert np.all(np.isfinite(d_out)) and d_out.std() > 1e-2
            msg = (
                f"  lod {lod:g}: G |out - lerp of ToRGBs| {err_g:.3g},"
                f" |lin - rec| {err_g_rec:.3g}, std {out.std():.3g};"
                f" D |lin - rec| {err_d_rec:.3g},"
                f" |D(x) - D(pool(x, {2**f}))| {err_d_pool:.3g},"
                f" max|score| {np.abs(d_out).max():.3g}"
            )
            if f < res_log2 - 2:
                coarser = _upscale(_avgpool(reals, 2 ** (f + 1)), 2 ** (f + 1))
                delta = np.abs(sess.run(d_lin, {img_ph: coarser}) - d_out).max()
                msg += f", |D(x) - D(pool(x, {2 ** (f + 1)}))| {delta:.3g}"
                assert delta > 1e-2, (lod, delta)
            print(msg)
            assert err_g < 1e-5, (lod, err_g)
            assert err_g_rec < ATOL and err_d_rec < ATOL, (lod, err_g_rec, err_d_rec)
            assert err_d_pool < ATOL, (lod, err_d_pool)
            g_images.append(out)
            d_scores.append(d_out)
        data["g_images"] = np.stack(g_images)
        data["d_scores"] = np.stack(d_scores)

        # 3. Every lod gives different outputs; the fixture sees the labels.
        for i in range(1, len(lods)):
            assert np.abs(g_images[i] - g_images[i - 1]).max() > 1e-2, lods[i]
            assert np.abs(d_scores[i] - d_scores[i - 1]).max() > 1e-2, lods[i]
        if label_size:
            g_lod.load(lods[1], sess)
            other = sess.run(g_lin, {lat_ph: latents, lab_ph: labels[::-1]})
            delta = np.abs(other - g_images[1]).max()
            print(f"  label sensitivity (lod {lods[1]:g}): max|d image| = {delta:.3g}")
            assert delta > 1e-2

    _check_against_integer_fixture(Path(out_dir) / f"progan_{name}.npz", data, lods)
    data["config_json"] = np.array(
        json.dumps(
            {
                "kwargs": kw,
                "d_kwargs": d_kw,
                "minibatch": n,
                "seed": cfg["seed"],
                "lods": lods.tolist(),
            },
            sort_keys=True,
        )
    )
    write_npz(Path(out_dir) / f"progan_fade_{name}.npz", data, MAX_BYTES)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument("--out_dir", default=str(HERE / "official"))
    args = parser.parse_args()
    tf, networks = _import_official(args.official_dir)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    for name, cfg in CONFIGS.items():
        make_config(tf, networks, name, cfg, args.out_dir)


if __name__ == "__main__":
    main()
