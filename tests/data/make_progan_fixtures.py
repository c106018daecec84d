"""Generate numeric fixtures from the official (TF1) ProGAN generator `G_paper`.

This script is NOT run by the test suite. It documents how the files
``tests/data/official/progan_<config>.npz`` were produced, so that they can be
regenerated. Copyright (c) the msg-stylegan-tf2 authors, MIT license; it imports,
but does not contain, the official code.

Requirements
------------
A local checkout of https://github.com/tkarras/progressive_growing_of_gans
(commit 2504c3f3cb98ca58751610ad61fa1097313152bd was used), passed via
``--official_dir``. Only its ``networks.py`` is imported, patched to run under
TensorFlow 2.x in graph mode with one change:

* ``import tensorflow as tf`` replaced by ``import tensorflow.compat.v1 as tf``.

This script calls ``tf.disable_v2_behavior()`` itself (which also restores the
TF1 ``Dimension.value`` that ``networks.py`` uses). The official network uses
NCHW convolutions, which run on CPU only with oneDNN enabled (the default for
TensorFlow on x86-64 Linux, ``TF_ENABLE_ONEDNN_OPTS=1``).

``G_paper`` is called directly inside ``tf.variable_scope("G")`` rather than
through ``tfutil.Network`` (which needs the removed ``imp`` module); the variable
names are the same as the official ``Network(name="G")`` ones
(``G/4x4/Dense/weight``, ``G/8x8/Conv0/weight`` or ``G/8x8/Conv0_up/weight``,
``G/ToRGB_lod0/weight``, ``G/lod``, ...).

What is checked here
--------------------
ProGAN outputs one image whose level of detail is the variable ``G/lod``. With an
integer ``lod = k`` and ``structure='linear'``, ``lerp_clip`` selects, at every
growth step, either the new ToRGB (t <= 0) or the upscaled previous image
(t >= 1), so the output is the ToRGB of the block at resolution R / 2^k,
nearest-upscaled by 2^k to R. For every k this script asserts that (reading the
ToRGB tensors out of the linear graph) and that the 'recursive' structure gives
the same images. No fractional lod is needed to isolate a level.

Outputs
-------
``progan_<config>.npz`` for each configuration in ``CONFIGS``:

* ``var/<official name>``: every trainable variable of G, overwritten with seeded
  random values (weights N(0, 1), i.e. the He init under equalized learning
  rate; biases N(0, 0.2^2)), rounded to bfloat16-representable float32, exactly
  as stored (official layouts). The non-trainable ``G/lod`` is not stored: it is
  the level of detail, set per output below.
* ``latents`` ``[N, latent_size]``, ``labels`` ``[N, label_size]`` (one-hot).
* ``lod<k>_images`` ``[N, C, R, R]`` (NCHW): the official output at ``lod = k``,
  for k = 0 .. log2(R) - 2.
* ``config_json``: the ``G_paper`` keyword arguments, N and the seed.

Usage::

    python tests/data/make_progan_fixtures.py --official_dir /path/to/progan
"""

import argparse
import json
import os
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

CONFIGS = OrderedDict(
    unfused={
        "minibatch": 4,
        "seed": 2468,
        "kwargs": {
            "resolution": 16,
            "num_channels": 3,
            "label_size": 0,
            "fmap_base": 128,
            "fmap_decay": 1.0,
            "fmap_max": 32,
            "latent_size": 32,
            "fused_scale": False,
        },
    },
    fused_labels={
        "minibatch": 4,
        "seed": 1357,
        "kwargs": {
            "resolution": 32,
            "num_channels": 3,
            "label_size": 3,
            "fmap_base": 256,
            "fmap_decay": 1.0,
            "fmap_max": 32,
            "latent_size": 24,
            "fused_scale": True,
        },
    },
)

WEIGHT_STD = 1.0
BIAS_STD = 0.2
MAX_BYTES = 300_000


def _import_official(official_dir):
    # NCHW convolutions on CPU need oneDNN (default on x86-64 Linux).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    sys.path.insert(0, str(Path(official_dir).resolve()))
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    import networks

    return tf, networks


def _round_bf16(x):
    """Rounds float32 values to bfloat16-representable ones (exact in float32)."""
    bits = np.asarray(x, np.float32).view(np.uint32)
    bits = (bits + np.uint32(0x8000)) & np.uint32(0xFFFF0000)
    return bits.view(np.float32)


def _upscale(x, factor):
    """Nearest-neighbour upscaling of NCHW images."""
    return x.repeat(factor, axis=2).repeat(factor, axis=3)


def _expected_names(kw):
    """Official variable names of G_paper, written out independently."""
    res_log2 = int(np.log2(kw["resolution"]))
    scopes = ["4x4/Dense", "4x4/Conv"]
    for res in range(3, res_log2 + 1):
        conv0 = "Conv0_up" if kw["fused_scale"] else "Conv0"
        scopes += [f"{2**res}x{2**res}/{conv0}", f"{2**res}x{2**res}/Conv1"]
    scopes += [f"ToRGB_lod{lod}" for lod in range(res_log2 - 1)]
    return {f"G/{s}/{v}" for s in scopes for v in ("weight", "bias")}


def _torgb_tensors(tf, graph, res_log2):
    """The ToRGB output (the bias add) of every level in the scope 'G/'."""
    out = []
    for res in range(2, res_log2 + 1):
        prefix = f"G/ToRGB_lod{res_log2 - res}/"
        adds = [
            op
            for op in graph.get_operations()
            if op.name.startswith(prefix)
            and "/Initializer/" not in op.name
            and op.type in ("Add", "AddV2")
        ]
        assert len(adds) == 1, (prefix, [op.name for op in adds])
        out.append(adds[0].outputs[0])
    return out


def make_config(tf, networks, name, cfg, out_dir):
    kw = cfg["kwargs"]
    n = cfg["minibatch"]
    rng = np.random.RandomState(cfg["seed"])
    res_log2 = int(np.log2(kw["resolution"]))
    label_size = kw["label_size"]
    print(f"== {name}: {kw}")

    data = OrderedDict()
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph) as sess:
        lat_ph = tf.placeholder(tf.float32, [None, kw["latent_size"]], "latents")
        lab_ph = tf.placeholder(tf.float32, [None, label_size], "labels")
        with tf.variable_scope("G"):
            linear = networks.G_paper(lat_ph, lab_ph, structure="linear", **kw)
        with tf.variable_scope("G", reuse=True):
            recursive = networks.G_paper(lat_ph, lab_ph, structure="recursive", **kw)
        torgbs = _torgb_tensors(tf, graph, res_log2)

        all_vars = OrderedDict((v.name.split(":")[0], v) for v in tf.global_variables())
        lod_var = all_vars.pop("G/lod")
        assert set(all_vars) == _expected_names(kw), sorted(all_vars)
        trainable = {v.name.split(":")[0] for v in tf.trainable_variables()}
        assert trainable == set(all_vars)

        # 1. Overwrite every variable with seeded random values.
        sess.run(tf.global_variables_initializer())
        values = OrderedDict()
        for vname, var in all_vars.items():
            std = BIAS_STD if vname.endswith("/bias") else WEIGHT_STD
            shape = var.shape.as_list()
            values[vname] = _round_bf16(std * rng.standard_normal(shape))
            var.load(values[vname], sess)
        stored = sess.run(all_vars)
        for vname, val in stored.items():
            np.testing.assert_array_equal(val, values[vname])
            assert np.all(val != 0), vname
            data["var/" + vname] = val
            print(f"  {vname} {list(val.shape)}")

        # 2. Inputs.
        latents = _round_bf16(rng.standard_normal([n, kw["latent_size"]]))
        if label_size:
            labels = np.eye(label_size, dtype=np.float32)[
                rng.randint(0, label_size, size=n)
            ]
        else:
            labels = np.zeros([n, 0], np.float32)
        data["latents"] = latents
        data["labels"] = labels
        feed = {lat_ph: latents, lab_ph: labels}

        # 3. Outputs at every integer lod, and the lod relation.
        levels = None
        for k in range(res_log2 - 1):
            lod_var.load(np.float32(k), sess)
            out, rec, levels_k = sess.run([linear, recursive, torgbs], feed)
            if levels is None:
                levels = levels_k
            # The per-level ToRGB outputs do not depend on lod.
            for a, b in zip(levels_k, levels, strict=True):
                np.testing.assert_array_equal(a, b)
            level = levels[res_log2 - 2 - k]
            side = 2 ** (res_log2 - k)
            assert level.shape == (n, kw["num_channels"], side, side), level.shape
            err = np.abs(out - _upscale(level, 2**k)).max()
            err_rec = np.abs(out - rec).max()
            print(
                f"  lod {k}: |out - upscale(ToRGB {side}x{side},"
                f" {2**k})| max {err:.3g}; |linear - recursive| max {err_rec:.3g};"
                f" std {out.std():.3g}"
            )
            assert err < 1e-5 and err_rec < 1e-5, (k, err, err_rec)
            assert out.shape == (n, kw["num_channels"], 2**res_log2, 2**res_log2)
            assert np.all(np.isfinite(out)) and out.std() > 1e-2
            data[f"lod{k}_images"] = out

        # 4. The fixture must see the labels and every level must differ.
        if label_size:
            lod_var.load(np.float32(0.0), sess)
            other = sess.run(linear, {lat_ph: latents, lab_ph: labels[::-1]})
            delta = np.abs(other - data["lod0_images"]).max()
            print(f"  label sensitivity: max|d image| = {delta:.3g}")
            assert delta > 1e-2

    data["config_json"] = np.array(
        json.dumps({"kwargs": kw, "minibatch": n, "seed": cfg["seed"]}, sort_keys=True)
    )
    write_npz(Path(out_dir) / f"progan_{name}.npz", data, MAX_BYTES)


def write_npz(path, data, max_bytes):
    """Writes a compressed fixture and checks that it stays small."""
    np.savez_compressed(path, **data)
    size = path.stat().st_size
    print(f"wrote {path} ({size} bytes, {len(data)} arrays)")
    assert size < max_bytes, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument(
        "--out_dir", default=str(Path(__file__).resolve().parent / "official")
    )
    args = parser.parse_args()
    tf, networks = _import_official(args.official_dir)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    for name, cfg in CONFIGS.items():
        make_config(tf, networks, name, cfg, args.out_dir)


if __name__ == "__main__":
    main()
