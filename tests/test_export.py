"""SavedModel export: a fresh process without this project equals in-process G;
the TFLite file equals the SavedModel."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.export import export_saved_model, export_tflite
from msg_stylegan_tf2.networks import build_networks
from msg_stylegan_tf2.training.snapshot import write_network_run

ROOT = pathlib.Path(__file__).resolve().parents[1]

LOAD_AND_RUN = """
import json, sys
import numpy as np
import tensorflow as tf
args = json.loads(sys.argv[1])
model = tf.saved_model.load(args["path"])
inputs = {k: tf.constant(np.asarray(v, np.float32)) for k, v in args["inputs"].items()}
out = model.signatures["serving_default"](**inputs)
np.savez(args["result"], **{k: v.numpy() for k, v in out.items()})
"""


def run_isolated(path, inputs, result):
    # -I: no script directory, no PYTHONPATH: this project cannot be imported.
    args = json.dumps({"path": str(path), "inputs": inputs, "result": str(result)})
    subprocess.run(
        [sys.executable, "-I", "-c", LOAD_AND_RUN, args],
        check=True,
        cwd="/",
        capture_output=True,
        timeout=300,
    )
    return np.load(result)


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
    out = run_isolated(path, inputs, tmp_path / "out.npz")
    psi = {"truncation_psi": 0.5} if preset == "tiny" else {}
    expected = G(latents, labels, randomize_noise=False, **psi)
    assert sorted(out.files) == sorted(
        [
            f"{kind}_{4 * 2**i:04d}"
            for i in range(len(expected))
            for kind in ("images", "uint8")
        ]
    )
    for level in expected:
        side = level.shape[1]
        np.testing.assert_allclose(out[f"images_{side:04d}"], level, atol=1e-5)
        assert out[f"uint8_{side:04d}"].dtype == np.uint8


def test_export_refuses_an_existing_directory(tmp_path):
    G, _ = build_networks("tiny")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="taken already exists"):
        export_saved_model(G, tmp_path / "taken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_figures_from_a_saved_model_match_the_generator(tmp_path):
    from msg_stylegan_tf2 import figures
    from msg_stylegan_tf2.export import SavedModelGenerator

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
