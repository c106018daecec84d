"""Generate an official-format network pickle (``network-snapshot-*.pkl``).

This script is NOT run by the test suite. It documents how
``tests/data/official/network-snapshot-unfused.pkl`` and
``tests/data/official/network-snapshot-unfused-expected.npz`` were produced,
so that they can be regenerated.

Requirements
------------
The same patched checkout of https://github.com/akanimax/msg-stylegan-tf as
``make_official_fixtures.py`` (passed via ``--official_dir``; TF1 code run
through ``tensorflow.compat.v1``), and ``tests/data/official/unfused.npz``
produced by that script.

What it does
------------
1. Builds ``G`` (``G_style``), ``D`` (``D_basic``) and ``Gs = G.clone("Gs")``
   with ``dnnlib.tflib.Network`` exactly as the official
   ``training/training_loop.py`` does (``num_channels``/``resolution``/
   ``label_size`` from the "dataset", plus ``G_args``/``D_args`` that carry
   ``func_name`` as a string), using the ``unfused`` configuration of
   ``unfused.npz``.
2. Assigns to ``G`` and ``D`` the variables stored in ``unfused.npz`` (by
   official global name), and to ``Gs`` the same values with every trainable
   variable multiplied by ``GS_TRAINABLE_SCALE`` (non-trainables, i.e.
   ``dlatent_avg`` and the noise inputs, are copied unchanged), so that a
   loader test can tell ``G`` and ``Gs`` apart.
3. Pickles ``(G, D, Gs)`` as the official ``training/misc.py:save_pkl`` does:
   ``pickle.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL)``.
4. Re-loads the pickle with the official code in a fresh graph and records the
   official outputs of the loaded networks on the inputs of ``unfused.npz``:
   ``gs_trunc_<res>`` (Gs, truncation_psi=0.7, truncation_cutoff=8),
   ``g_notrunc_<res>`` (G, truncation_psi=None), both with
   ``randomize_noise=False`` and NCHW, and ``d_scores`` (D on the
   ``d_images_*`` of ``unfused.npz``).
5. Prints the (module, name) pairs referenced by the pickle (GLOBAL /
   STACK_GLOBAL opcodes), found with ``pickletools`` only.

Notes
-----
* ``pickle.HIGHEST_PROTOCOL`` is 5 on Python >= 3.8, and NumPy 2 pickles
  arrays under protocol 5 as ``numpy._core.numeric._frombuffer(bytearray,
  dtype, shape, order)``. Snapshots written by the original setup (Python 3.6,
  NumPy 1.x: protocol 4) reference ``numpy.core.multiarray._reconstruct`` and
  ``numpy.ndarray`` instead.
* Each ``Network`` stores the source of its build module
  (``build_module_src``); here it is the *patched* ``networks_stylegan.py``
  (``tensorflow.compat.v1``), not the original file.

Usage::

    python tests/data/make_official_pickle.py --official_dir /path/to/msg-stylegan-tf
"""

import argparse
import inspect
import io
import json
import os
import pickle
import pickletools
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

G_FUNC = "training.networks_stylegan.G_style"
D_FUNC = "training.networks_stylegan.D_basic"
CONFIG = "unfused"
GS_TRAINABLE_SCALE = 0.5
GS_TRUNC = {"truncation_psi": 0.7, "truncation_cutoff": 8}
G_NOTRUNC = {"truncation_psi": None, "truncation_cutoff": 8}
# Keyword args that the official training loop takes from the dataset.
DATASET_KWARGS = ("num_channels", "resolution", "label_size")
# Keyword args only meaningful for D (left out of G_args).
D_ONLY_KWARGS = ("mbstd_group_size", "mbstd_num_features")


def _import_official(official_dir):
    # NCHW convolutions on CPU need oneDNN (default on x86-64 Linux).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    sys.path.insert(0, str(Path(official_dir).resolve()))
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    import dnnlib
    from dnnlib import tflib

    assert (
        Path(dnnlib.__file__).resolve().is_relative_to(Path(official_dir).resolve())
    ), dnnlib.__file__
    return tf, dnnlib, tflib


def _split_args(kw):
    """``G_args``/``D_args`` as in the official ``train.py`` config.

    ``D_args`` holds the ``D_basic`` options of ``kw``; ``G_args`` all the
    others (``G_style`` forwards them to ``G_mapping``/``G_synthesis``).
    """
    from training import networks_stylegan

    d_params = inspect.signature(networks_stylegan.D_basic).parameters
    rest = {k: v for k, v in kw.items() if k not in DATASET_KWARGS}
    G_args = OrderedDict(func_name=G_FUNC)
    G_args.update((k, v) for k, v in rest.items() if k not in D_ONLY_KWARGS)
    D_args = OrderedDict(func_name=D_FUNC)
    D_args.update((k, v) for k, v in rest.items() if k in d_params)
    return G_args, D_args


def build_networks(tf, dnnlib, tflib, kw):
    """Same calls as ``training_loop.py`` ("Constructing networks...")."""
    G_args, D_args = _split_args(kw)
    G_args, D_args = dnnlib.EasyDict(G_args), dnnlib.EasyDict(D_args)
    G = tflib.Network(
        name="G",
        num_inputs=2,  # one for latents and one for labels
        num_channels=kw["num_channels"],
        resolution=kw["resolution"],
        label_size=kw["label_size"],
        **G_args,
    )
    D = tflib.Network(
        name="D",
        num_inputs=int(np.log2(kw["resolution"])) - 1 + 1,  # +1 for labels :)
        num_channels=kw["num_channels"],
        resolution=kw["resolution"],
        label_size=kw["label_size"],
        **D_args,
    )
    Gs = G.clone("Gs")
    return G, D, Gs


def assign_variables(tf, tflib, G, D, Gs, fixture):
    stored = OrderedDict(
        (k[len("var/") :], fixture[k]) for k in fixture.files if k.startswith("var/")
    )
    assign = {}
    for net in (G, D):
        for gname, local in net.var_global_to_local.items():
            assign[net.vars[local]] = stored.pop(gname)
            if net is G:
                var = Gs.vars[local]
                value = assign[net.vars[local]]
                if var.trainable:
                    value = value * np.float32(GS_TRAINABLE_SCALE)
                assert var.trainable == net.vars[local].trainable
                assign[var] = value
    assert not stored, f"unused fixture variables: {list(stored)}"
    assert len(assign) == len(G.vars) + len(D.vars) + len(Gs.vars)
    tflib.set_vars(assign)
    # Check.
    values = tflib.run(list(assign.keys()))
    for (var, want), got in zip(assign.items(), values, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=var.name)


def official_outputs(tf, G, D, Gs, fixture, kw):
    """Official outputs of the networks, as numpy arrays."""
    res_log2 = int(np.log2(kw["resolution"]))
    resolutions = [2**r for r in range(2, res_log2 + 1)]
    lat_ph = tf.placeholder(tf.float32, [None, kw["latent_size"]])
    lab_ph = tf.placeholder(tf.float32, [None, kw["label_size"]])
    img_phs = [
        tf.placeholder(tf.float32, [None, kw["num_channels"], r, r])
        for r in resolutions
    ]
    gs_out = Gs.get_output_for(
        lat_ph, lab_ph, is_training=False, randomize_noise=False, **GS_TRUNC
    )
    g_out = G.get_output_for(
        lat_ph, lab_ph, is_training=False, randomize_noise=False, **G_NOTRUNC
    )
    d_out = D.get_output_for(*img_phs, lab_ph)
    sess = tf.get_default_session()
    feed = {lat_ph: fixture["latents"], lab_ph: fixture["labels"]}
    gs_imgs, g_imgs = sess.run([list(gs_out), list(g_out)], feed)
    d_feed = {
        ph: fixture[f"d_images_{r}"] for ph, r in zip(img_phs, resolutions, strict=True)
    }
    d_feed[lab_ph] = fixture["labels"]
    out = OrderedDict()
    for r, img in zip(resolutions, gs_imgs, strict=True):
        out[f"gs_trunc_{r}"] = img
    for r, img in zip(resolutions, g_imgs, strict=True):
        out[f"g_notrunc_{r}"] = img
    out["d_scores"] = sess.run(d_out, d_feed)
    return out


def pickle_globals(data):
    """(module, name) of every GLOBAL / STACK_GLOBAL, using pickletools only.

    STACK_GLOBAL takes its module and name from the two previous stack
    pushes, which may be strings or memo gets (BINGET & co.).
    """
    string_ops = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
    string_ops |= {"SHORT_BINSTRING", "BINSTRING", "STRING"}
    get_ops = {"GET", "BINGET", "LONG_BINGET"}
    put_ops = {"PUT", "BINPUT", "LONG_BINPUT"}
    memo, pushes, found = {}, [], []
    for op, arg, _pos in pickletools.genops(data):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "MEMOIZE":
            memo[len(memo)] = pushes[-1] if pushes else None
            continue
        if name in put_ops:
            memo[arg] = pushes[-1] if pushes else None
            continue
        if name == "GLOBAL":
            module, qualname = arg.split(" ", 1)
            found.append((module, qualname))
            pushes.append(None)
        elif name == "STACK_GLOBAL":
            module, qualname = pushes[-2], pushes[-1]
            assert isinstance(module, str) and isinstance(qualname, str)
            found.append((module, qualname))
            pushes.append(None)
        elif name in string_ops:
            pushes.append(arg)
        elif name in get_ops:
            pushes.append(memo[arg])
        else:
            pushes.append(None)
    return list(OrderedDict.fromkeys(found)), found


def describe_state(net, indent="  "):
    """Text description of ``Network.__getstate__()`` (official code)."""
    state = net.__getstate__()
    lines = [f"{indent}Network {state['name']!r}: state keys {list(state)}"]
    for key, val in state.items():
        if key == "build_module_src":
            desc = f"str ({len(val)} chars)"
        elif key == "variables":
            desc = f"list of {len(val)} (str, ndarray) tuples"
            if val:
                desc += f", e.g. {val[0][0]!r} {val[0][1].dtype} {val[0][1].shape}"
        elif key == "components":
            comps = ", ".join(f"{k!r}: Network {v.name!r}" for k, v in val.items())
            desc = f"dict {{{comps}}}"
        else:
            desc = repr(val)
        lines.append(f"{indent}  {key}: {type(val).__name__} = {desc}")
    for comp in state["components"].values():
        lines.extend(describe_state(comp, indent + "    "))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument(
        "--out_dir", default=str(Path(__file__).resolve().parent / "official")
    )
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    pkl_path = out_dir / f"network-snapshot-{CONFIG}.pkl"
    npz_path = out_dir / f"network-snapshot-{CONFIG}-expected.npz"

    tf, dnnlib, tflib = _import_official(args.official_dir)
    print("TensorFlow", tf.__version__, "numpy", np.__version__, "python", sys.version)
    fixture = np.load(out_dir / f"{CONFIG}.npz")
    kw = json.loads(str(fixture["config_json"]))["kwargs"]

    # 1-3. Build, assign, pickle (as misc.save_pkl).
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph).as_default():
        G, D, Gs = build_networks(tf, dnnlib, tflib, kw)
        assign_variables(tf, tflib, G, D, Gs, fixture)
        for net in (G, D, Gs):
            print("\n".join(describe_state(net)))
        with open(pkl_path, "wb") as file:
            pickle.dump((G, D, Gs), file, protocol=pickle.HIGHEST_PROTOCOL)
        in_memory = official_outputs(tf, G, D, Gs, fixture, kw)
    print(
        f"wrote {pkl_path} ({pkl_path.stat().st_size} bytes, "
        f"protocol {pickle.HIGHEST_PROTOCOL})"
    )

    # 4. Round trip: load with the official code (as misc.load_pkl) in a
    # fresh graph and compute the expected outputs from the loaded networks.
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph).as_default():
        with open(pkl_path, "rb") as file:
            G2, D2, Gs2 = pickle.load(file, encoding="latin1")
        assert [n.name for n in (G2, D2, Gs2)] == ["G", "D", "Gs"]
        for local, var in G2.vars.items():
            want = fixture["var/" + G.vars[local].name.split(":")[0]]
            np.testing.assert_array_equal(var.eval(), want, err_msg=local)
            scale = GS_TRAINABLE_SCALE if var.trainable else 1.0
            np.testing.assert_array_equal(
                Gs2.vars[local].eval(), want * np.float32(scale), err_msg=local
            )
        for local, var in D2.vars.items():
            want = fixture["var/" + D.vars[local].name.split(":")[0]]
            np.testing.assert_array_equal(var.eval(), want, err_msg=local)
        expected = official_outputs(tf, G2, D2, Gs2, fixture, kw)

    for key, val in expected.items():
        np.testing.assert_array_equal(val, in_memory[key], err_msg=key)
        assert np.all(np.isfinite(val)) and np.abs(val).max() > 0, key
    # Same variables and inputs as unfused.npz, so the same outputs.
    res_keys = [k for k in expected if k.startswith("g_notrunc_")]
    for key in res_keys + ["d_scores"]:
        err = np.abs(expected[key] - fixture[key]).max()
        print(f"  {key}: max|pickle - {CONFIG}.npz| = {err:.3g}")
        assert err < 1e-5, key
    for key in [k for k in expected if k.startswith("gs_trunc_")]:
        r = key.rsplit("_", 1)[1]
        d_g = np.abs(expected[key] - fixture[f"g_trunc_{r}"]).max()
        print(f"  {key}: max|Gs - G| (both truncated) = {d_g:.4g}")
        assert d_g > 1e-2, key

    info = {
        "config": CONFIG,
        "pickle": pkl_path.name,
        "pickle_protocol": pickle.HIGHEST_PROTOCOL,
        "gs_trainable_scale": GS_TRAINABLE_SCALE,
        "gs_trunc": GS_TRUNC,
        "g_notrunc": G_NOTRUNC,
        "randomize_noise": False,
        "inputs": f"latents, labels, d_images_* of {CONFIG}.npz",
    }
    expected["config_json"] = np.array(json.dumps(info, sort_keys=True))
    np.savez_compressed(npz_path, **expected)
    print(f"wrote {npz_path} ({npz_path.stat().st_size} bytes)")

    # 5. Globals referenced by the pickle (no official code involved).
    data = pkl_path.read_bytes()
    unique, all_refs = pickle_globals(data)
    protos = [arg for op, arg, _ in pickletools.genops(data) if op.name == "PROTO"]
    print(f"PROTO opcode: {protos}; {len(all_refs)} global references, unique:")
    for module, name in unique:
        print(f"  {module} {name}  (x{all_refs.count((module, name))})")
    out = io.StringIO()
    pickletools.dis(data, out=out)
    print(f"pickletools.dis: {len(out.getvalue().splitlines())} lines")


if __name__ == "__main__":
    main()
