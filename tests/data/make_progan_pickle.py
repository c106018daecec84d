"""Generate an official ProGAN network pickle (``network-snapshot-*.pkl``).

This script is NOT run by the test suite. It documents how
``tests/data/official/progan-network-snapshot.pkl`` and
``tests/data/official/progan-network-snapshot-expected.npz`` were produced, so
that they can be regenerated. Copyright (c) the msg-stylegan-tf2 authors, MIT
license; it imports, but does not contain, the official code.

Requirements
------------
A local copy of https://github.com/tkarras/progressive_growing_of_gans
(commit 2504c3f3cb98ca58751610ad61fa1097313152bd was used), passed via
``--official_dir``. Its ``tfutil.py`` (``Network``, ``set_vars``,
``create_session``), ``misc.py`` (``save_pkl``, ``load_pkl``), ``networks.py``
(``G_paper``, ``D_paper``), ``config.py`` (``tf_config``), ``legacy.py``
(``LegacyUnpickler``, imported by ``misc.py``) and ``dataset.py`` (imported by
``misc.py``, not used) are imported. They run under TensorFlow 2.x in graph mode
(Python 3.11, which still has the ``imp`` module that ``tfutil.py`` needs) with
these patches, and no others:

* ``networks.py``: ``import tensorflow as tf`` replaced by
  ``import tensorflow.compat.v1 as tf`` (as for ``make_progan_fixtures.py``).
* ``tfutil.py``: ``import tensorflow as tf`` replaced by
  ``import tensorflow.compat.v1 as tf``.

``misc.py``, ``config.py``, ``legacy.py`` and ``dataset.py`` are unmodified
(``misc.py`` itself does not use TensorFlow; ``dataset.py`` only uses it inside
functions that are not called here). This script calls
``tf.disable_v2_behavior()`` itself before importing the official modules (which
also restores the TF1 ``Dimension.value`` that ``tfutil.shape_to_list`` and
``networks.py`` use). The official networks use NCHW convolutions and pooling,
which run on CPU only with oneDNN enabled (the default for TensorFlow on x86-64
Linux, ``TF_ENABLE_ONEDNN_OPTS=1``). ``Network.run`` places its graph on
``/gpu:0``, so the sessions are created with ``allow_soft_placement`` on top of
the official ``config.tf_config``.

What it does
------------
1. Builds, in a session created by ``tfutil.create_session(config.tf_config)``,
   ``G = tfutil.Network("G", func="networks.G_paper", ...)``,
   ``D = tfutil.Network("D", func="networks.D_paper", ...)`` and
   ``Gs = G.clone("Gs")`` as the official ``train.py`` does (``func`` as in the
   official ``config.G`` / ``config.D``; ``num_channels``, ``resolution`` and
   ``label_size`` from the "dataset"), with the keyword arguments of
   ``G_KWARGS`` / ``D_KWARGS``: 16x16 RGB, no labels, ``fmap_base=128``,
   ``fmap_max=16`` (every layer has 16 feature maps), ``latent_size=32``,
   ``fused_scale=False``. ``fmap_max=16`` rather than the 32 of
   ``progan_unfused.npz`` keeps the pickle (three float32 networks) under
   ``MAX_BYTES``: with 32 it is ~656 kB.
2. Overwrites every trainable variable of ``G`` and ``D`` with seeded random
   values (weights N(0, 1), i.e. the He init under equalized learning rate;
   biases N(0, 0.2^2)) rounded to bfloat16-representable float32, copies all of
   ``G``'s variables into ``Gs`` (``Gs.copy_vars_from(G)``), and sets the
   non-trainable ``lod`` of ``G``, ``Gs`` and ``D`` to ``LOD`` = 0.5 (mid-fade
   between 8x8 and 16x16) with ``tfutil.set_vars``.
3. Pickles ``(G, D, Gs)`` with the official ``misc.save_pkl``:
   ``pickle.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL)``, i.e. protocol 5
   under Python 3.11 (snapshots from the original setup, Python 3.6, have
   protocol 4).
4. Records the official outputs of the in-memory networks (``Network.run``,
   which uses the default ``structure='recursive'``) and checks them against
   ``structure='linear'``.
5. Re-loads the pickle with the official ``misc.load_pkl`` (``legacy.
   LegacyUnpickler``, ``encoding='latin1'``) in a fresh graph and session,
   checks the variables (including ``lod``) and that the loaded networks give
   the same outputs, and that ``G`` at lod 0.5 is the mean of its outputs at
   lod 0 and lod 1 (with ``structure='recursive'`` the 16x16 output is
   ``lerp(ToRGB_16, upscale(ToRGB_8), lod)``).
6. Prints the ``Network.__getstate__()`` content and the (module, name) pairs
   referenced by the pickle (GLOBAL / STACK_GLOBAL opcodes), found with
   ``pickletools`` only.

Outputs
-------
* ``progan-network-snapshot.pkl``: ``(G, D, Gs)``.
* ``progan-network-snapshot-expected.npz``:

  * ``latents`` ``[N, latent_size]``: seeded N(0, 1), bfloat16-rounded.
  * ``reals`` ``[N, C, R, R]``: seeded uniform in [-1, 1], bfloat16-rounded.
  * ``G_images``, ``Gs_images`` ``[N, C, R, R]`` (NCHW, full resolution):
    ``G.run(latents, labels)`` / ``Gs.run(latents, labels)`` at lod 0.5, with
    ``labels`` of shape ``[N, 0]``. ``Gs`` has the same variables as ``G``.
  * ``D_scores`` ``[N, 1]``: the first output of ``D.run(reals)`` at lod 0.5
    (``D_paper`` returns ``(scores, labels)``; ``labels`` is ``[N, 0]``).
  * ``lod``: 0.5 (float32 scalar).
  * ``config_json``: the network arguments, N, the seed and the protocol.

Notes
-----
* NumPy 2 pickles arrays under protocol 5 as
  ``numpy._core.numeric._frombuffer(bytearray, dtype, shape, order)``; protocol
  4 pickles (NumPy 1.x) reference ``numpy.core.multiarray._reconstruct`` and
  ``numpy.ndarray`` instead.
* Each ``Network`` stores the source of its build module
  (``build_module_src``); here it is the *patched* ``networks.py``
  (``tensorflow.compat.v1``), not the original file.

Usage::

    python tests/data/make_progan_pickle.py --official_dir /work/official_progan
"""

import argparse
import json
import os
import pickle
import pickletools
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
from make_official_pickle import pickle_globals
from make_progan_fixtures import _round_bf16

G_FUNC = "networks.G_paper"
D_FUNC = "networks.D_paper"
# Keyword args that the official train.py takes from the dataset.
DATASET_KWARGS = {"num_channels": 3, "resolution": 16, "label_size": 0}
# fmap_max = 16 (not 32 as in progan_unfused.npz) keeps the pickle, which holds
# G, D and Gs in float32, under MAX_BYTES: with fmap_max = 32 it is ~656 kB.
FMAP_MAX = 16
G_KWARGS = {
    "fmap_base": 128,
    "fmap_max": FMAP_MAX,
    "latent_size": 32,
    "fused_scale": False,
}
D_KWARGS = {"fmap_base": 128, "fmap_max": FMAP_MAX, "fused_scale": False}
LOD = 0.5
MINIBATCH = 4
SEED = 8642
WEIGHT_STD = 1.0
BIAS_STD = 0.2
MAX_BYTES = 300_000
PKL_NAME = "progan-network-snapshot.pkl"
NPZ_NAME = "progan-network-snapshot-expected.npz"


def _import_official(official_dir):
    # NCHW convolutions on CPU need oneDNN (default on x86-64 Linux).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    root = Path(official_dir).resolve()
    sys.path.insert(0, str(root))
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    import config
    import misc
    import networks
    import tfutil

    for module in (config, misc, networks, tfutil):
        assert Path(module.__file__).resolve().is_relative_to(root), module.__file__
    return tf, tfutil, misc, config


def _session(tf, tfutil, config, graph):
    """A session on ``graph`` with the official ``config.tf_config``."""
    config_dict = dict(config.tf_config)
    config_dict["allow_soft_placement"] = True  # Network.run uses /gpu:0.
    with graph.as_default():
        return tfutil.create_session(config_dict)


def build_networks(tfutil):
    """Same calls as the official ``train.py`` ("Constructing networks...")."""
    G = tfutil.Network("G", func=G_FUNC, **DATASET_KWARGS, **G_KWARGS)
    D = tfutil.Network("D", func=D_FUNC, **DATASET_KWARGS, **D_KWARGS)
    Gs = G.clone("Gs")
    return G, D, Gs


def assign_variables(tfutil, G, D, Gs, rng):
    """Random trainables for G and D, Gs = G, lod = LOD everywhere."""
    assign = OrderedDict()
    for net in (G, D):
        assert set(net.vars) - set(net.trainables) == {"lod"}, list(net.vars)
        for local, var in net.trainables.items():
            std = BIAS_STD if local.endswith("/bias") else WEIGHT_STD
            shape = var.shape.as_list()
            assign[var] = _round_bf16(std * rng.standard_normal(shape))
    tfutil.set_vars(assign)
    Gs.copy_vars_from(G)
    lods = {net.vars["lod"]: np.float32(LOD) for net in (G, D, Gs)}
    tfutil.set_vars(lods)
    assign.update(lods)
    # Check.
    values = tfutil.run(list(assign.keys()))
    for (var, want), got in zip(assign.items(), values, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=var.name)
        assert np.all(got != 0), var.name
    for local, var in Gs.vars.items():
        np.testing.assert_array_equal(var.eval(), G.vars[local].eval(), local)
    return {net.name: tfutil.run(OrderedDict(net.vars.items())) for net in (G, D, Gs)}


def official_outputs(G, D, Gs, latents, labels, reals, **kwargs):
    """Official ``Network.run`` outputs, as numpy arrays."""
    out = OrderedDict()
    out["G_images"] = G.run(latents, labels, **kwargs)
    out["Gs_images"] = Gs.run(latents, labels, **kwargs)
    scores, d_labels = D.run(reals, **kwargs)
    assert d_labels.shape == (len(reals), 0), d_labels.shape
    out["D_scores"] = scores
    return out


def describe_state(net, indent="  "):
    """Text description of ``Network.__getstate__()`` (official code)."""
    state = net.__getstate__()
    lines = [f"{indent}Network {state['name']!r}: state keys {list(state)}"]
    for key, val in state.items():
        if key == "build_module_src":
            desc = f"str ({len(val)} chars)"
        elif key == "variables":
            desc = f"list of {len(val)} (str, ndarray) tuples:"
            desc += "".join(
                f"\n{indent}      {name!r} {np.asarray(v).dtype} {np.shape(v)}"
                for name, v in val
            )
        else:
            desc = repr(val)
        lines.append(f"{indent}  {key}: {type(val).__name__} = {desc}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument(
        "--out_dir", default=str(Path(__file__).resolve().parent / "official")
    )
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pkl_path = out_dir / PKL_NAME
    npz_path = out_dir / NPZ_NAME

    tf, tfutil, misc, config = _import_official(args.official_dir)
    print("TensorFlow", tf.__version__, "numpy", np.__version__, "python", sys.version)
    rng = np.random.RandomState(SEED)
    n, res = MINIBATCH, DATASET_KWARGS["resolution"]
    ch = DATASET_KWARGS["num_channels"]

    # 1-3. Build, assign, pickle (misc.save_pkl).
    graph = tf.Graph()
    with graph.as_default(), _session(tf, tfutil, config, graph).as_default():
        G, D, Gs = build_networks(tfutil)
        values = assign_variables(tfutil, G, D, Gs, rng)
        for net in (G, D, Gs):
            print("\n".join(describe_state(net)))
        misc.save_pkl((G, D, Gs), str(pkl_path))

        # 4. Inputs and in-memory outputs.
        latents = _round_bf16(rng.standard_normal([n, G_KWARGS["latent_size"]]))
        labels = np.zeros([n, DATASET_KWARGS["label_size"]], np.float32)
        reals = _round_bf16(rng.uniform(-1.0, 1.0, [n, ch, res, res]))
        in_memory = official_outputs(G, D, Gs, latents, labels, reals)
        linear = official_outputs(G, D, Gs, latents, labels, reals, structure="linear")
        for key, val in in_memory.items():
            err = np.abs(val - linear[key]).max()
            print(f"  {key} {list(val.shape)}: max|recursive - linear| = {err:.3g}")
            assert err < 1e-5, key
    print(
        f"wrote {pkl_path} ({pkl_path.stat().st_size} bytes, "
        f"protocol {pickle.HIGHEST_PROTOCOL})"
    )

    # 5. Round trip: load with the official code (misc.load_pkl) in a fresh
    # graph and session.
    graph = tf.Graph()
    with graph.as_default(), _session(tf, tfutil, config, graph).as_default():
        G2, D2, Gs2 = misc.load_pkl(str(pkl_path))
        assert [net.name for net in (G2, D2, Gs2)] == ["G", "D", "Gs"]
        for net in (G2, D2, Gs2):
            assert isinstance(net, tfutil.Network)
            got = tfutil.run(OrderedDict(net.vars.items()))
            assert list(got) == list(values[net.name]), net.name
            for local, val in got.items():
                np.testing.assert_array_equal(val, values[net.name][local], local)
            assert got["lod"] == np.float32(LOD)
        expected = official_outputs(G2, D2, Gs2, latents, labels, reals)
        for key, val in expected.items():
            np.testing.assert_array_equal(val, in_memory[key], err_msg=key)
            assert np.all(np.isfinite(val)) and np.abs(val).max() > 0, key
        np.testing.assert_array_equal(expected["G_images"], expected["Gs_images"])
        assert expected["G_images"].shape == (n, ch, res, res)
        assert expected["D_scores"].shape == (n, 1)

        # G at lod 0.5 is the mean of G at lod 0 and lod 1; D differs too.
        at = {}
        for lod in (0.0, 1.0):
            tfutil.set_vars({G2.vars["lod"]: lod, D2.vars["lod"]: lod})
            at[lod] = official_outputs(G2, D2, Gs2, latents, labels, reals)
        tfutil.set_vars({G2.vars["lod"]: LOD, D2.vars["lod"]: LOD})
        mid = 0.5 * (at[0.0]["G_images"] + at[1.0]["G_images"])
        err = np.abs(expected["G_images"] - mid).max()
        d_01 = np.abs(at[0.0]["G_images"] - at[1.0]["G_images"]).max()
        print(f"  G: max|lod0.5 - mean(lod0, lod1)| = {err:.3g} (lod0-lod1 {d_01:.3g})")
        assert err < 1e-5 and d_01 > 1e-1, (err, d_01)
        for lod in (0.0, 1.0):
            d_d = np.abs(expected["D_scores"] - at[lod]["D_scores"]).max()
            print(f"  D: max|scores(lod 0.5) - scores(lod {lod})| = {d_d:.3g}")
            assert d_d > 1e-3, lod

    data = OrderedDict(latents=latents, reals=reals)
    data.update(expected)
    data["lod"] = np.float32(LOD)
    info = {
        "G": {"func": G_FUNC, **DATASET_KWARGS, **G_KWARGS},
        "D": {"func": D_FUNC, **DATASET_KWARGS, **D_KWARGS},
        "lod": LOD,
        "minibatch": n,
        "seed": SEED,
        "pickle": pkl_path.name,
        "pickle_protocol": pickle.HIGHEST_PROTOCOL,
        "labels_shape": list(labels.shape),
        "Gs": "same variables as G",
    }
    data["config_json"] = np.array(json.dumps(info, sort_keys=True))
    np.savez_compressed(npz_path, **data)
    for path in (pkl_path, npz_path):
        size = path.stat().st_size
        print(f"wrote {path} ({size} bytes)")
        assert size < MAX_BYTES, size

    # 6. Globals referenced by the pickle (no official code involved).
    raw = pkl_path.read_bytes()
    unique, all_refs = pickle_globals(raw)
    protos = [arg for op, arg, _ in pickletools.genops(raw) if op.name == "PROTO"]
    print(f"PROTO opcode: {protos}; {len(all_refs)} global references, unique:")
    for module, name in unique:
        print(f"  {module} {name}  (x{all_refs.count((module, name))})")


if __name__ == "__main__":
    main()
