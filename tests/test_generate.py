"""generate.py: batches (--batch), out of memory, MP4, and conditional networks
(--class and --labels reach G)."""

import os
import pathlib
import subprocess
import sys

import imageio.v2 as imageio
import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from msg_stylegan_tf2.formats.network_run import write_network_run
from msg_stylegan_tf2.inference import figures
from msg_stylegan_tf2.networks.build import build_networks

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_script(script, *args):
    # TensorFlow's own log lines off: these tests read the script's.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, script, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def generate(*args):
    return run_script("generate.py", *args)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("generate.py: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    G, D = build_networks("tiny", label_size=3)
    run = write_network_run(G, D, G, tmp_path_factory.mktemp("cond") / "run")
    return G, run


def direct(G, seeds, class_index):
    """Top-level images of `G(latents, one_hot(class_index))`, uint8."""
    latents = figures.latents_for_seeds(seeds, G.latent_size)
    labels = np.eye(3, dtype=np.float32)[[class_index] * len(seeds)]
    pyramid = G(latents, labels, truncation_psi=1.0, randomize_noise=False)
    return figures.to_uint8(np.asarray(pyramid[-1]))


def read_png(path):
    return np.asarray(PIL.Image.open(path))


def assert_close(a, b):
    # Another process and batch may round a pixel differently (oneDNN).
    difference = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert difference.max() <= 1 and difference.mean() < 0.05


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    """An unconditional run whose noise inputs count (weights 1) and whose W
    average is not zero, so that truncation and noise both show."""
    G, D = build_networks("tiny")
    G.dlatent_avg.assign(tf.random.normal(G.dlatent_avg.shape, seed=1))
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    run = write_network_run(G, D, G, tmp_path_factory.mktemp("noisy") / "run")
    return G, run


def test_more_seeds_than_batch_equal_the_seeds_one_by_one(noisy_run, tmp_path):
    G, run = noisy_run
    out = tmp_path / "out"
    result = generate(
        f"--network={run}",
        "--seeds=3-9",
        "--batch=3",  # Batches of 3, 3 and 1.
        "--truncation_psi=0.7",
        f"--outdir={out}",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        f"seed{s:04d}.png" for s in range(3, 10)
    ]
    assert "Generating seeds 7/7 (100%)" in result.stderr  # The progress line.
    for seed in range(3, 10):
        latents = figures.latents_for_seeds([seed], G.latent_size)
        alone = G(latents, truncation_psi=0.7, randomize_noise=False)[-1]
        # Equal up to float rounding (one uint8 level on a few pixels).
        assert_close(read_png(out / f"seed{seed:04d}.png"), figures.to_uint8(alone)[0])


OUT_OF_MEMORY = """
import runpy, sys
from dnnlib.quiet_tf import import_tensorflow
tf = import_tensorflow()
from msg_stylegan_tf2.inference import figures

def exhausted(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

figures._pyramid = exhausted
sys.argv = ["generate.py", *sys.argv[1:]]
runpy.run_path("generate.py", run_name="__main__")
"""


def test_out_of_memory_is_one_line_naming_batch(noisy_run, tmp_path):
    _, run = noisy_run
    result = subprocess.run(
        [sys.executable, "-c", OUT_OF_MEMORY, f"--network={run}", "--seeds=0-3999"]
        + ["--batch=4000", f"--outdir={tmp_path / 'out'}"],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "generate.py: error: out of memory at --batch=4000; lower --batch."
    ]


def test_interpolation_as_mp4_has_every_frame(noisy_run, tmp_path):
    G, run = noisy_run
    out = tmp_path / "out"
    result = generate(
        f"--network={run}",
        "--kind=interp",
        "--seeds=0,1,2",
        "--steps=2",
        "--batch=4",
        "--format=mp4",
        f"--outdir={out}",
    )
    assert result.returncode == 0, result.stderr
    with imageio.get_reader(out / "interpolation.mp4") as reader:
        decoded = list(reader.iter_data())
    assert len(decoded) == 3 * 2 and decoded[0].shape == (16, 3 * 16, 3)
    # Each decoded frame is nearest its own frame (in luma: H.264 halves the
    # colour resolution, and these untrained images are colour noise).
    frames = figures.interpolation_frames(G, [0, 1, 2], steps=2)
    luma = [np.asarray(f, float) @ [0.299, 0.587, 0.114] for f in frames]
    for i, frame in enumerate(decoded):
        distances = [np.abs(frame @ [0.299, 0.587, 0.114] - y).mean() for y in luma]
        assert np.argmin(distances) == i and distances[i] < 10, distances


def test_class_flag_reaches_the_generator(conditional_run, tmp_path):
    G, run = conditional_run
    out = tmp_path / "out"
    result = generate(f"--network={run}", "--seeds=0-1", "--class=2", f"--outdir={out}")
    assert result.returncode == 0, result.stderr
    expected = direct(G, [0, 1], 2)
    assert_close(read_png(out / "seed0000.png"), expected[0])
    assert_close(read_png(out / "seed0001.png"), expected[1])
    # Another class gives other images.
    assert np.abs(expected.astype(float) - direct(G, [0, 1], 0)).mean() > 5


def test_labels_file_gives_one_row_per_seed(conditional_run, tmp_path):
    G, run = conditional_run
    rows = tmp_path / "rows.npy"
    np.save(rows, np.eye(3, dtype=np.float32)[[0, 1]])
    out = tmp_path / "out"
    result = generate(
        f"--network={run}",
        "--kind=sheet",
        "--seeds=4,5",
        f"--labels={rows}",
        f"--outdir={out}",
    )
    assert result.returncode == 0, result.stderr
    sheet = read_png(out / "multiscale.png")
    assert_close(sheet[:16, 32:], direct(G, [4], 0)[0])
    assert_close(sheet[16:, 32:], direct(G, [5], 1)[0])


def test_conditional_network_without_labels_fails_in_one_line(conditional_run):
    _, run = conditional_run
    result = generate(f"--network={run}", "--seeds=0")
    assert_one_line_error(result, "conditional (label_size 3)", "--class=N (0-2)")
    assert "--labels=FILE" in result.stderr


def test_out_of_range_class_fails_in_one_line(conditional_run, tmp_path):
    _, run = conditional_run
    result = generate(f"--network={run}", "--class=3", f"--outdir={tmp_path / 'o'}")
    assert_one_line_error(result, "--class=3", "out of range", "classes 0-2")
    assert not (tmp_path / "o").exists()


def test_class_on_an_unconditional_network_fails_in_one_line(tmp_path):
    G, D = build_networks("tiny")
    run = write_network_run(G, D, G, tmp_path / "run")
    result = generate(f"--network={run}", "--class=0")
    assert_one_line_error(result, "--class", "unconditional", "drop --class")


def test_label_flags_are_checked_before_tensorflow(tmp_path):
    both = generate("--network=x", "--class=0", f"--labels={tmp_path / 'l.npy'}")
    assert_one_line_error(both, "--class and --labels")
    missing = generate("--network=x", f"--labels={tmp_path / 'none.npy'}")
    assert_one_line_error(missing, "--labels=", "none.npy", "cannot read")
    (tmp_path / "bad.npy").write_text("not numpy")
    bad = generate("--network=x", f"--labels={tmp_path / 'bad.npy'}")
    assert_one_line_error(bad, "bad.npy", "cannot read a .npy array")


# --projected_w: images from project.py's and stylegan2-ada's w files.
@pytest.fixture(scope="module")
def projected(tmp_path_factory):
    """A tiny run whose images stay in [-1, 1] (ToRGB x 0.3) and whose noise
    counts (weights 1), and project.py's folders for two of its images."""
    from msg_stylegan_tf2.inference.projection import synthesize

    keras.utils.set_random_seed(2)  # Module-scoped: made before the per-test seed.
    G, D = build_networks("tiny")
    for torgb in G.synthesis.torgbs:
        for weight in torgb.weights:
            weight.assign(weight * 0.3)
    for epilogue in G.synthesis.epilogues:
        epilogue.noise.weight.assign(tf.ones_like(epilogue.noise.weight))
    folder = tmp_path_factory.mktemp("projected")
    run = write_network_run(G, D, G, folder / "run")
    w = G.mapping(np.random.RandomState(3).randn(2, G.latent_size).astype(np.float32))
    targets = []
    for i, image in enumerate(synthesize(G, w.numpy())):
        targets.append(folder / f"target{i}.png")
        PIL.Image.fromarray(image).save(targets[-1])
    out = folder / "proj"
    result = run_script(
        "project.py",
        f"--network={run}",
        f"--outdir={out}",
        "--distance=pyramid",
        "--num_steps=20",
        "--nosave_video",
        "--batch=1",  # Each target alone, as generate.py --batch=1 below.
        *(f"--target={t}" for t in targets),
    )
    assert result.returncode == 0, result.stderr
    return G, run, [out / f"target{i}" for i in range(2)]


def test_projected_w_gives_project_pys_proj_png_bit_for_bit(projected, tmp_path):
    G, run, folders = projected
    files = [folder / "projected_w.npz" for folder in folders]
    out = tmp_path / "out"
    result = generate(
        f"--network={run}",
        f"--projected_w={files[0]},{files[1]}",
        "--batch=1",
        f"--outdir={out}",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["proj00.png", "proj01.png"]
    for i, (file, folder) in enumerate(zip(files, folders, strict=True)):
        assert f"{out / f'proj{i:02d}.png'}: {file}" in result.stdout.splitlines()
        image = read_png(out / f"proj{i:02d}.png")
        np.testing.assert_array_equal(image, read_png(folder / "proj.png"))
        # The file's noise maps made it: the stored noise gives another image.
        with np.load(file) as saved:
            stored = G.synthesis(saved["w"], randomize_noise=False)[-1]
        assert np.abs(image - figures.to_uint8(stored)[0].astype(float)).mean() > 5


def test_projected_w_interpolation_and_mixing(projected, tmp_path):
    G, run, folders = projected
    files = [folder / "projected_w.npz" for folder in folders]
    out = tmp_path / "out"
    interp = generate(
        f"--network={run}",
        "--kind=interp",
        f"--projected_w={files[0]},{files[1]}",
        "--steps=3",
        f"--outdir={out}",
    )
    assert interp.returncode == 0, interp.stderr
    with PIL.Image.open(out / "proj_interpolation.gif") as gif:
        assert gif.n_frames == 2 * 3 and gif.size == (3 * 16, 16)
    # Two projected photos mixed: every layer's style and noise from the
    # column gives the column's image; the sources are the projections.
    mixing = generate(
        f"--network={run}",
        "--kind=mixing",
        f"--projected_w={files[0]}",
        f"--cols_w={files[1]}",
        "--mix=0-5",
        f"--outdir={out}",
    )
    assert mixing.returncode == 0, mixing.stderr
    grid = read_png(out / "proj_style_mixing.png")
    assert grid.shape == (32, 32, 3)
    assert_close(grid[16:, :16], read_png(folders[0] / "proj.png"))
    assert_close(grid[:16, 16:], read_png(folders[1] / "proj.png"))
    assert_close(grid[16:, 16:], grid[:16, 16:])


def test_stylegan2_ada_w_file_uses_the_stored_noise(noisy_run, tmp_path):
    G, run = noisy_run
    latents = figures.latents_for_seeds([4], G.latent_size)
    ada = tmp_path / "ada.npz"
    np.savez(ada, w=G.mapping(latents).numpy())  # stylegan2-ada's: w alone.
    out = tmp_path / "out"
    result = generate(
        f"--network={run}",
        "--kind=truncation",
        "--psis=1,0.5",
        f"--projected_w={ada}",
        f"--outdir={out}",
    )
    assert result.returncode == 0, result.stderr
    sweep = read_png(out / "proj_truncation.png")
    for column, psi in enumerate((1.0, 0.5)):
        expected = G(latents, truncation_psi=psi, randomize_noise=False)[-1]
        cell = sweep[:, 16 * column : 16 * (column + 1)]
        assert_close(cell, figures.to_uint8(expected)[0])


def test_conditional_mixing_of_a_w_with_labelled_seed_columns(
    conditional_run, tmp_path
):
    G, run = conditional_run
    w = G.mapping(figures.latents_for_seeds([7], 16), np.eye(3, dtype=np.float32)[:1])
    rows = tmp_path / "w.npz"
    np.savez(rows, w=w.numpy())
    args = [f"--network={run}", f"--projected_w={rows}", f"--outdir={tmp_path / 'o'}"]
    result = generate(*args, "--kind=mixing", "--cols=0,1", "--class=2", "--mix=0")
    assert result.returncode == 0, result.stderr
    grid = read_png(tmp_path / "o" / "proj_style_mixing.png")
    assert grid.shape == (32, 48, 3)
    columns = direct(G, [0, 1], 2)  # The columns get --class.
    assert_close(grid[:16, 16:32], columns[0])
    assert_close(grid[:16, 32:], columns[1])
    # Images from w alone need no label: --class is refused there.
    refused = generate(*args, "--class=2")
    assert_one_line_error(refused, "--class: every image comes from a w file")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--projected_w=a.npz", "--seeds=0-3"], "--seeds and --projected_w exclude"),
        (["--cols_w=a.npz"], "--cols_w is for --kind=mixing"),
        (
            ["--kind=mixing", "--cols_w=a.npz", "--cols=1,2"],
            "--cols and --cols_w exclude each other",
        ),
        (["--projected_w=missing.npz"], "--projected_w: missing.npz is not a file"),
    ],
)
def test_w_flags_are_checked_before_tensorflow(args, message):
    assert_one_line_error(generate("--network=x", *args), message)


def test_a_w_file_of_another_network_fails_in_one_line(noisy_run, tmp_path):
    _, run = noisy_run
    other = tmp_path / "other.npz"
    np.savez(other, w=np.zeros([1, 18, 512], np.float32))
    result = generate(f"--network={run}", f"--projected_w={other}")
    assert_one_line_error(
        result, f"--projected_w: {other}: w has shape [1, 18, 512]", "another network"
    )
    mix = generate(f"--network={run}", "--kind=mixing", "--mix=4-7", "--seeds=0")
    assert_one_line_error(mix, "--mix=4-7: style layers must be within 0-5")
