"""SavedModel export: a fresh process without this project equals in-process G."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from msg_stylegan_tf2.export import export_saved_model
from msg_stylegan_tf2.networks import build_networks

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
