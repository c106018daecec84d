"""SavedModel export: a fresh process without this project equals in-process G
(serving_default, and MSG-StyleGAN's synthesis, mapping and dlatent_avg); the
TFLite file equals the SavedModel."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.formats.export import export_saved_model, export_tflite
from msg_stylegan_tf2.formats.network_run import write_network_run
from msg_stylegan_tf2.networks.build import build_networks
from msg_stylegan_tf2.networks.pyramid import float_to_uint8

ROOT = pathlib.Path(__file__).resolve().parents[1]

LOAD_AND_RUN = """
import json, sys
import numpy as np
import tensorflow as tf
args = json.loads(sys.argv[1])
model = tf.saved_model.load(args["path"])
results = {"signatures": np.array(sorted(model.signatures))}
for i, (name, inputs) in enumerate(args["calls"]):
    inputs = {
        k: tf.constant(v if isinstance(v, str) else np.asarray(v, np.float32))
        for k, v in inputs.items()
    }
    out = model.signatures[name](**inputs)
    results.update({f"{i}/{k}": v.numpy() for k, v in out.items()})
np.savez(args["result"], **results)
"""


def run_isolated(path, calls, result):
    """Runs `calls`, a list of (signature, {input: value}), in a process that
    cannot import this project; returns {"<i>/<output>": array} of call i and
    "signatures", the names of the SavedModel's signatures."""
    # -I: no script directory, no PYTHONPATH: this project cannot be imported.
    args = json.dumps({"path": str(path), "calls": calls, "result": str(result)})
    subprocess.run(
        [sys.executable, "-I", "-c", LOAD_AND_RUN, args],
        check=True,
        cwd="/",
        capture_output=True,
        timeout=300,
    )
    with np.load(result) as saved:
        return {key: saved[key] for key in saved.files}


@pytest.mark.parametrize(
    "preset, label_size", [("tiny", 0), ("tiny", 3), ("msg_progan_32", 0)]
)
def test_saved_model_round_trip_in_a_fresh_process(tmp_path, preset, label_size):
    overrides = {"label_size": label_size}
    if preset == "msg_progan_32":
        overrides.update(resolution=8, fmap_max=16, latent_size=16)
    G, _ = build_networks(preset, **overrides)
    if hasattr(G, "dlatent_avg"):
        G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape))
        for epilogue in G.synthesis.epilogues:
            epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    path = export_saved_model(G, tmp_path / "model", label_size)
    rng = np.random.RandomState(0)
    latents = rng.randn(3, G.latent_size).astype(np.float32)
    inputs = {"latents": latents.tolist(), "truncation_psi": 0.5}
    labels = None
    if label_size:
        labels = np.eye(label_size, dtype=np.float32)[[0, 2, 1]]
        inputs["labels"] = labels.tolist()
    out = run_isolated(path, [("serving_default", inputs)], tmp_path / "out.npz")
    psi = {"truncation_psi": 0.5} if preset == "tiny" else {}
    expected = G(latents, labels, randomize_noise=False, **psi)
    # MSG-ProGAN has no W: no synthesis, mapping or dlatent_avg.
    w_signatures = ["dlatent_avg", "mapping", "synthesis"] if psi else []
    assert list(out.pop("signatures")) == sorted(["serving_default", *w_signatures])
    assert sorted(out) == sorted(
        [
            f"0/{kind}_{4 * 2**i:04d}"
            for i in range(len(expected))
            for kind in ("images", "uint8")
        ]
    )
    for level in expected:
        side = level.shape[1]
        np.testing.assert_allclose(out[f"0/images_{side:04d}"], level, atol=1e-5)
        assert out[f"0/uint8_{side:04d}"].dtype == np.uint8


def test_w_signatures_in_a_fresh_process(tmp_path):
    # Truncation on the first 2 of 6 layers, so that the cutoff shows.
    G, _ = build_networks("tiny", label_size=3, truncation_cutoff=2)
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape, seed=3))
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    path = export_saved_model(G, tmp_path / "model", 3)
    rng = np.random.RandomState(2)
    latents = rng.randn(3, G.latent_size).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[[1, 0, 2]]
    w = rng.randn(3, G.num_layers, 16).astype(np.float32)
    synthesis = [
        ("synthesis", {"dlatents": w.tolist(), "noise_mode": mode})
        for mode in ("const", "random", "random", "none")
    ]
    calls = [
        *synthesis,
        ("dlatent_avg", {}),
        ("mapping", {"latents": latents.tolist(), "labels": labels.tolist()}),
        (
            "serving_default",
            {
                "latents": latents.tolist(),
                "labels": labels.tolist(),
                "truncation_psi": 0.5,
            },
        ),
    ]
    out = run_isolated(path, calls, tmp_path / "out.npz")
    assert list(out["signatures"]) == [
        "dlatent_avg",
        "mapping",
        "serving_default",
        "synthesis",
    ]
    # const: the stored noise, as Gs.synthesis (measured on CPU: bit-equal; the
    # tolerance leaves room for other kernels).
    const = G.synthesis(w, randomize_noise=False)
    for level in const:
        side = level.shape[1]
        np.testing.assert_allclose(out[f"0/images_{side:04d}"], level, atol=1e-5)
        uint8 = float_to_uint8(level).numpy()
        difference = out[f"0/uint8_{side:04d}"].astype(int) - uint8
        assert np.abs(difference).max() <= 1
    # random: fresh noise at every call; none: zero noise.
    top = "images_0016"
    for i in (1, 2):
        assert np.abs(out[f"{i}/{top}"] - out[f"0/{top}"]).mean() > 0.05
    assert np.abs(out[f"1/{top}"] - out[f"2/{top}"]).mean() > 0.05
    zeros = [np.zeros(shape, np.float32) for shape in G.synthesis.noise_shapes]
    none = G.synthesis(w, randomize_noise=False, noise=zeros)[-1]
    np.testing.assert_allclose(out[f"3/{top}"], none, atol=1e-5)
    # dlatent_avg and mapping: G's own.
    np.testing.assert_array_equal(out["4/dlatent_avg"], G.dlatent_avg.numpy())
    assert out["4/truncation_cutoff"] == 2
    mapped = G.mapping(latents, labels).numpy()
    np.testing.assert_allclose(out["5/dlatents"], mapped, atol=1e-6)
    # The documented recipe: serving_default at psi is synthesis of w
    # truncated on the first truncation_cutoff layers.
    avg, cutoff = out["4/dlatent_avg"], int(out["4/truncation_cutoff"])
    truncated = out["5/dlatents"].copy()
    truncated[:, :cutoff] = avg + (truncated[:, :cutoff] - avg) * 0.5
    expected = G.synthesis(truncated, randomize_noise=False)[-1]
    np.testing.assert_allclose(out[f"6/{top}"], expected, atol=1e-5)


def test_a_bad_noise_mode_is_refused(tmp_path):
    G, _ = build_networks("tiny")
    path = export_saved_model(G, tmp_path / "model")
    synthesis = tf.saved_model.load(str(path)).signatures["synthesis"]
    w = tf.zeros([1, G.num_layers, 16])
    with pytest.raises(tf.errors.InvalidArgumentError, match="noise_mode must be"):
        synthesis(dlatents=w, noise_mode=tf.constant("constant"))


def test_export_refuses_an_existing_directory(tmp_path):
    G, _ = build_networks("tiny")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="taken already exists"):
        export_saved_model(G, tmp_path / "taken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_figures_from_a_saved_model_match_the_generator(tmp_path):
    from msg_stylegan_tf2.formats.export import SavedModelGenerator
    from msg_stylegan_tf2.inference import figures

    G, _ = build_networks("tiny")
    path = export_saved_model(G, tmp_path / "model")
    loaded = SavedModelGenerator(path)
    assert (loaded.latent_size, loaded.resolution, loaded.label_size) == (16, 16, 0)
    ours, theirs = (
        figures.multiscale_sheet(G, [1, 2]),
        figures.multiscale_sheet(loaded, [1, 2]),
    )
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="not a SavedModel directory"):
        SavedModelGenerator(tmp_path)
    with pytest.raises(ValueError, match="needs an MSG-StyleGAN generator"):
        figures.style_mixing(loaded, [0], [1], [0])


def noisy_tiny(label_size):
    """A tiny G whose W average and noise inputs both change the images."""
    G, D = build_networks("tiny", label_size=label_size)
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape, seed=2))
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    return G, D


# tf.lite.Interpreter warns that LiteRT (ai_edge_litert) replaces it; it still
# runs in TF 2.21.
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
@pytest.mark.parametrize("label_size", [0, 3])
def test_tflite_runs_and_equals_the_saved_model(tmp_path, label_size):
    G, D = noisy_tiny(label_size)
    if label_size:  # The library call.
        saved_model = export_saved_model(G, tmp_path / "model", label_size)
        assert export_tflite(saved_model, tmp_path / "model.tflite") > 0
    else:  # export.py --tflite, from a run directory.
        run = write_network_run(G, D, G, tmp_path / "run")
        saved_model = tmp_path / "model"
        result = subprocess.run(
            [sys.executable, "export.py", f"--network={run}", f"--out={saved_model}"]
            + ["--tflite"],
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert f"Wrote {saved_model}.tflite (" in result.stdout
    rng = np.random.RandomState(1)
    inputs = {
        "latents": rng.randn(3, G.latent_size).astype(np.float32),
        "truncation_psi": np.float32(0.5),
    }
    if label_size:
        inputs["labels"] = np.eye(label_size, dtype=np.float32)[[2, 0, 1]]
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "model.tflite"))
    # Only serving_default is converted (not synthesis, mapping, dlatent_avg).
    assert list(interpreter.get_signature_list()) == ["serving_default"]
    lite = interpreter.get_signature_runner("serving_default")(**inputs)
    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    saved = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    assert sorted(lite) == sorted(saved) and len(lite) == 2 * 3
    for key, expected in saved.items():
        assert lite[key].shape == expected.shape and lite[key].dtype == expected.dtype
        # TFLite's float32 kernels (XNNPACK) sum in another order: round-off
        # only (measured ~3e-6 on [-1, 1] images), so a uint8 may move by one.
        if key.startswith("images_"):
            np.testing.assert_allclose(lite[key], expected, atol=1e-4, rtol=0)
        else:
            difference = np.abs(lite[key].astype(int) - expected.numpy().astype(int))
            assert difference.max() <= 1
