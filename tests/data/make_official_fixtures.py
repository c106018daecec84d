"""Generate numeric fixtures from the official (TF1) MSG-StyleGAN network code.

This script is NOT run by the test suite. It documents how the files in
``tests/data/official/`` were produced, so that they can be regenerated.

Requirements
------------
A local checkout of https://github.com/akanimax/msg-stylegan-tf (passed via
``--official_dir``), patched to run under TensorFlow 2.x in graph mode:

* every ``import tensorflow as tf`` replaced by
  ``import tensorflow.compat.v1 as tf`` (in ``dnnlib/tflib/*.py`` and
  ``training/networks_stylegan.py``);
* in ``G_synthesis`` the noise shape ``[1, use_noise, 2**res, 2**res]``
  changed to ``[1, int(use_noise), 2**res, 2**res]``.

This script calls ``tf.disable_v2_behavior()`` itself. The official networks
use NCHW convolutions, which run on CPU only with oneDNN enabled (the default
for TensorFlow on x86-64 Linux, ``TF_ENABLE_ONEDNN_OPTS=1``).

The networks are built exactly as the official training loop does, i.e. with
``dnnlib.tflib.Network`` (``G_style`` with its components ``G_mapping`` and
``G_synthesis``, and ``D_basic``), so the variable names are the official ones.

Outputs
-------
* ``<config>.npz`` for each configuration in ``CONFIGS``: every variable of G
  (components included) and D, overwritten with seeded random values and
  stored as ``var/<official global name>`` (e.g. ``var/G/dlatent_avg``,
  ``var/G_synthesis/4x4/Const/const``, ``var/G_mapping/Dense0/weight``,
  ``var/D/4x4/Dense0/weight``), the seeded inputs, and the official outputs
  (all images NCHW).
* ``param_counts.json``: parameter counts and variable names/shapes of the
  official networks at 1024x1024 and 256x256 with the official defaults.

Usage::

    python tests/data/make_official_fixtures.py --official_dir /path/to/msg-stylegan-tf
"""

import argparse
import inspect
import json
import os
import re
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

CONFIGS = OrderedDict(
    unfused={
        "minibatch": 8,
        "seed": 1234,
        "kwargs": {
            "resolution": 16,
            "num_channels": 3,
            "label_size": 0,
            "fmap_base": 128,
            "fmap_decay": 1.0,
            "fmap_max": 32,
            "latent_size": 32,
            "dlatent_size": 32,
            "mapping_fmaps": 32,
            "mapping_layers": 8,
            "fused_scale": False,
            "use_noise": True,
            "const_input_layer": True,
            "mbstd_group_size": 4,
            "mbstd_num_features": 1,
        },
    },
    fused_labels={
        "minibatch": 6,
        "seed": 5678,
        "kwargs": {
            "resolution": 32,
            "num_channels": 3,
            "label_size": 3,
            "fmap_base": 256,
            "fmap_decay": 1.0,
            "fmap_max": 32,
            "latent_size": 24,
            "dlatent_size": 24,
            "mapping_fmaps": 24,
            "mapping_layers": 4,
            "fused_scale": True,
            "use_noise": True,
            "const_input_layer": False,
            "mbstd_group_size": 2,
            "mbstd_num_features": 2,
        },
    },
)

# G_mapping's default learning-rate multiplier (not overridden above). The
# mapping Dense weights/biases are stored divided by it, so their stored
# random values are scaled by 1 / MAPPING_LRMUL to keep activations O(1).
MAPPING_LRMUL = 0.01
DLATENT_AVG_BETA = 0.995
WEIGHT_STD = 1.0
BIAS_STD = 0.2
DLATENT_AVG_STD = 0.3

G_FUNC = "training.networks_stylegan.G_style"
D_FUNC = "training.networks_stylegan.D_basic"


def _import_official(official_dir):
    # NCHW convolutions on CPU need oneDNN (default on x86-64 Linux).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    sys.path.insert(0, str(Path(official_dir).resolve()))
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    from training import networks_stylegan

    from dnnlib import tflib

    return tf, tflib, networks_stylegan


def _global_name(var):
    return var.name.split(":")[0]


def _all_vars(G, D):
    """All variables of G (components included) and D, keyed by global name."""
    out = OrderedDict()
    for net in (G, D):
        for var in net.vars.values():
            out[_global_name(var)] = var
    return out


def _round_bf16(x):
    """Round float32 values to bfloat16-representable ones (exact in float32).

    Halves the compressed size of the random parameters and inputs.
    """
    bits = np.asarray(x, np.float32).view(np.uint32)
    bits = (bits + np.uint32(0x8000)) & np.uint32(0xFFFF0000)
    return bits.view(np.float32)


def _random_value(name, shape, rng):
    """Seeded random value for the variable with the given official name.

    Weights are N(0, 1) (i.e. the official He-scaled init, since all layers
    use equalized learning rate), biases N(0, 0.2^2): this keeps the signal
    alive through D, so D's scores depend on every input level.
    """
    z = rng.standard_normal(shape)
    if re.fullmatch(r"G_synthesis/noise\d+", name):
        return z  # noise inputs: N(0, 1)
    if name == "G/dlatent_avg":
        return DLATENT_AVG_STD * z
    if name.endswith("Const/const"):
        return z
    scale = BIAS_STD if name.endswith("bias") else WEIGHT_STD
    if re.match(r"G_mapping/Dense\d+/", name):
        scale /= MAPPING_LRMUL
    return scale * z


def _d_inputs(res_log2):
    return [2**r for r in range(2, res_log2 + 1)]


def make_config(tf, tflib, name, cfg, out_dir):
    kw = cfg["kwargs"]
    n = cfg["minibatch"]
    rng = np.random.RandomState(cfg["seed"])
    res_log2 = int(np.log2(kw["resolution"]))
    resolutions = _d_inputs(res_log2)
    num_layers = 2 * res_log2 - 2
    label_size = kw["label_size"]

    data = OrderedDict()
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph).as_default() as sess:
        G = tflib.Network(num_inputs=2, name="G", func_name=G_FUNC, **kw)
        D = tflib.Network(
            num_inputs=len(resolutions) + 1, name="D", func_name=D_FUNC, **kw
        )
        assert G.components.synthesis.input_shape[1] == num_layers
        all_vars = _all_vars(G, D)

        # 1. Overwrite every variable with seeded random values.
        values = OrderedDict(
            (vname, _round_bf16(_random_value(vname, var.shape.as_list(), rng)))
            for vname, var in all_vars.items()
        )
        tflib.set_vars({all_vars[k]: v for k, v in values.items()})
        stored = sess.run(all_vars)
        for vname, val in stored.items():
            np.testing.assert_array_equal(val, values[vname])
            data["var/" + vname] = val

        # 2. Inputs.
        latents = _round_bf16(rng.standard_normal([n, kw["latent_size"]]))
        if label_size:
            labels = np.eye(label_size, dtype=np.float32)[
                rng.randint(0, label_size, size=n)
            ]
        else:
            labels = np.zeros([n, 0], np.float32)
        dlatents_in = rng.standard_normal([n, num_layers, kw["dlatent_size"]])
        dlatents_in = _round_bf16(dlatents_in)
        d_images = [
            _round_bf16(rng.uniform(-1.0, 1.0, size=[n, kw["num_channels"], r, r]))
            for r in resolutions
        ]
        data["latents"] = latents
        data["labels"] = labels
        data["dlatents_in"] = dlatents_in
        for r, img in zip(resolutions, d_images, strict=True):
            data[f"d_images_{r}"] = img

        # 3. Graph for the outputs.
        lat_ph = tf.placeholder(tf.float32, [None, kw["latent_size"]], "latents")
        lab_ph = tf.placeholder(tf.float32, [None, label_size], "labels")
        dl_ph = tf.placeholder(
            tf.float32, [None, num_layers, kw["dlatent_size"]], "dlatents"
        )
        img_phs = [
            tf.placeholder(tf.float32, [None, kw["num_channels"], r, r])
            for r in resolutions
        ]
        mapping_out = G.components.mapping.get_output_for(lat_ph, lab_ph)
        synth_out = G.components.synthesis.get_output_for(dl_ph, randomize_noise=False)
        g_variants = OrderedDict(
            g_trunc={"truncation_psi": 0.7, "truncation_cutoff": 8},
            g_notrunc={"truncation_psi": None, "truncation_cutoff": 8},
            g_trunc_psi05_cut2={"truncation_psi": 0.5, "truncation_cutoff": 2},
        )
        g_outs = OrderedDict(
            (
                key,
                G.get_output_for(
                    lat_ph, lab_ph, is_training=False, randomize_noise=False, **args
                ),
            )
            for key, args in g_variants.items()
        )
        d_out = D.get_output_for(*img_phs, lab_ph)

        feed = {lat_ph: latents, lab_ph: labels, dl_ph: dlatents_in}
        res = sess.run(
            {
                "mapping": mapping_out,
                "synth": list(synth_out),
                "g": {k: list(v) for k, v in g_outs.items()},
            },
            feed,
        )
        data["mapping_dlatents"] = res["mapping"]
        for r, img in zip(resolutions, res["synth"], strict=True):
            data[f"synthesis_{r}"] = img
        for key in g_variants:
            for r, img in zip(resolutions, res["g"][key], strict=True):
                data[f"{key}_{r}"] = img

        d_feed = {ph: img for ph, img in zip(img_phs, d_images, strict=True)}
        d_feed[lab_ph] = labels
        data["d_scores"] = sess.run(d_out, d_feed)
        fake = [data[f"g_notrunc_{r}"] for r in resolutions]
        d_feed = {ph: img for ph, img in zip(img_phs, fake, strict=True)}
        d_feed[lab_ph] = labels
        data["d_scores_fake"] = sess.run(d_out, d_feed)

        # D must depend on every input level (else the fixture is blind to it).
        for i, r in enumerate(resolutions):
            d_feed = {ph: img for ph, img in zip(img_phs, d_images, strict=True)}
            d_feed[lab_ph] = labels
            d_feed[img_phs[i]] = np.zeros_like(d_images[i])
            delta = np.abs(sess.run(d_out, d_feed) - data["d_scores"]).max()
            print(f"  D sensitivity to level {r}x{r}: max|dscore|={delta:.3g}")
            assert delta > 1e-3, r

        # Determinism check of randomize_noise=False.
        again = sess.run(list(synth_out), feed)
        for a, b in zip(again, res["synth"], strict=True):
            np.testing.assert_array_equal(a, b)

        # Consistency: G_style == synthesis(truncate(mapping(z))), truncation
        # recomputed in numpy from the recorded dlatent_avg.
        avg = data["var/G/dlatent_avg"]
        for key, args in g_variants.items():
            dl = data["mapping_dlatents"]
            if args["truncation_psi"] is not None:
                coefs = np.where(
                    np.arange(num_layers) < args["truncation_cutoff"],
                    np.float32(args["truncation_psi"]),
                    np.float32(1.0),
                )[None, :, None]
                dl = avg + (dl - avg) * coefs
            imgs = sess.run(list(synth_out), {dl_ph: dl})
            err = max(
                np.abs(a - data[f"{key}_{r}"]).max()
                for a, r in zip(imgs, resolutions, strict=True)
            )
            print(f"  {key} == synthesis(trunc(mapping)): max err {err:.3g}")
            assert err < 1e-4, key

        # 4. One training-mode evaluation updates G/dlatent_avg (done last).
        train_out = G.get_output_for(
            lat_ph,
            lab_ph,
            is_training=True,
            randomize_noise=True,
            dlatent_avg_beta=DLATENT_AVG_BETA,
        )
        dlatent_avg_var = all_vars["G/dlatent_avg"]
        sess.run(train_out[0], feed)
        data["dlatent_avg_after_train_step"] = sess.run(dlatent_avg_var)

    data["config_json"] = np.array(
        json.dumps(
            {
                "kwargs": kw,
                "minibatch": n,
                "seed": cfg["seed"],
                "g_variants": g_variants,
                "dlatent_avg_beta": DLATENT_AVG_BETA,
            },
            sort_keys=True,
        )
    )
    sanity_check(name, data, kw, n, resolutions, num_layers)
    path = Path(out_dir) / f"{name}.npz"
    np.savez_compressed(path, **data)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(data)} arrays)")
    return data


def sanity_check(name, data, kw, n, resolutions, num_layers):
    print(f"== sanity checks: {name}")
    for vname in [k for k in data if k.startswith("var/")]:
        assert np.all(data[vname] != 0), vname
    assert data["mapping_dlatents"].shape == (n, num_layers, kw["dlatent_size"])
    # Broadcast: all layers identical.
    np.testing.assert_array_equal(
        data["mapping_dlatents"], data["mapping_dlatents"][:, :1].repeat(num_layers, 1)
    )
    for prefix in ["synthesis", "g_trunc", "g_notrunc", "g_trunc_psi05_cut2"]:
        for r in resolutions:
            img = data[f"{prefix}_{r}"]
            assert img.shape == (n, kw["num_channels"], r, r), (prefix, r, img.shape)
            assert np.all(np.isfinite(img)) and np.abs(img).max() > 0
    for key in ["d_scores", "d_scores_fake"]:
        assert data[key].shape == (n, 1) and np.all(np.isfinite(data[key]))
    for r in resolutions:
        diff = np.abs(data[f"g_trunc_{r}"] - data[f"g_notrunc_{r}"]).max()
        diff2 = np.abs(data[f"g_trunc_psi05_cut2_{r}"] - data[f"g_trunc_{r}"]).max()
        assert diff > 1e-3 and diff2 > 1e-3
        print(
            f"  {r}x{r}: max|trunc-notrunc|={diff:.4g} max|psi05cut2-trunc|={diff2:.4g}"
            f" img std={data[f'g_notrunc_{r}'].std():.4g}"
        )
    print("  d_scores", data["d_scores"].ravel())
    print("  d_scores_fake", data["d_scores_fake"].ravel())
    old = data["var/G/dlatent_avg"].astype(np.float64)
    batch_avg = data["mapping_dlatents"][:, 0].astype(np.float64).mean(axis=0)
    expected = batch_avg + (old - batch_avg) * DLATENT_AVG_BETA
    new = data["dlatent_avg_after_train_step"]
    err = np.abs(new - expected).max()
    print(
        f"  dlatent_avg lerp: max|new-expected|={err:.3g}, "
        f"max|new-old|={np.abs(new - old).max():.4g}"
    )
    assert err < 1e-5
    assert np.abs(new - old).max() > 1e-4


def count(vars_):
    return int(sum(int(np.prod(v.shape.as_list())) for v in vars_))


def param_counts(tf, tflib, networks_stylegan, resolution):
    kw = {"resolution": resolution, "num_channels": 3, "label_size": 0}
    graph = tf.Graph()
    with graph.as_default(), tf.Session(graph=graph).as_default():
        G = tflib.Network(num_inputs=2, name="G", func_name=G_FUNC, **kw)
        D = tflib.Network(
            num_inputs=int(np.log2(resolution)) - 1 + 1,
            name="D",
            func_name=D_FUNC,
            **kw,
        )
        nets = OrderedDict(
            G=G, D=D, G_mapping=G.components.mapping, G_synthesis=G.components.synthesis
        )
        out = OrderedDict(kwargs=kw)
        for key, net in nets.items():
            out[key] = {
                "trainable": count(net.trainables.values()),
                "all": count(net.vars.values()),
            }
        out["variables"] = [
            [_global_name(v), v.shape.as_list()]
            for net in (G, D)
            for v in net.vars.values()
        ]
    return out


def default_kwargs(func):
    out = OrderedDict()
    for pname, p in inspect.signature(func).parameters.items():
        if p.default is inspect.Parameter.empty or pname == "components":
            continue
        out[pname] = p.default
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official_dir", required=True)
    parser.add_argument(
        "--out_dir", default=str(Path(__file__).resolve().parent / "official")
    )
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    tf, tflib, networks_stylegan = _import_official(args.official_dir)
    print("TensorFlow", tf.__version__, "numpy", np.__version__)

    for name, cfg in CONFIGS.items():
        make_config(tf, tflib, name, cfg, args.out_dir)

    counts = OrderedDict(
        official_default_kwargs=OrderedDict(
            (f.__name__, default_kwargs(f))
            for f in (
                networks_stylegan.G_style,
                networks_stylegan.G_mapping,
                networks_stylegan.G_synthesis,
                networks_stylegan.D_basic,
            )
        )
    )
    for resolution in (1024, 256):
        counts[f"res{resolution}"] = param_counts(
            tf, tflib, networks_stylegan, resolution
        )
        print(
            resolution,
            {k: v for k, v in counts[f"res{resolution}"].items() if k != "variables"},
        )
    path = Path(args.out_dir) / "param_counts.json"
    with open(path, "w") as f:
        json.dump(counts, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
