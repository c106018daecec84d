"""Project real images into W of a trained generator (stylegan2-ada's projector).

For each target it writes `target.png` (the image as the network sees it:
centre-cropped and resized to its resolution), `proj.png` (the projection),
`projected_w.npz` (`w` `[1, num_layers, dlatent_size]` as stylegan2-ada's,
and the optimised noise maps `noise0`, `noise1`, ... so that
`generate.py --projected_w` makes `proj.png` again) and `proj.mp4` (the target
beside the projection at every step). One target writes into --outdir, several
into --outdir/<name of each target>/.

Examples:
    python project.py --network=results/00000-demo_32-emoji64 --target=me.jpg
    python project.py --network=RUN --target=a.png --target=b.png --outdir=proj
    python project.py --network=RUN --target=me.jpg --distance=pyramid --num_steps=300
    python generate.py --network=RUN --projected_w=out/projected_w.npz

--distance=lpips (the default, as stylegan2-ada's) needs torchvision's VGG16
file (vgg16-397923af.pth, 528 MB), downloaded once into the cache or given
with --vgg16=PATH; --distance=pyramid is the pixel mean squared error over the
MSG pyramid: no download, but it matches colours rather than structure.
"""

import os
import pathlib

import numpy as np
from absl import app, flags

from dnnlib import cli
from msg_stylegan_tf2.choices import PROJECT_BATCH, ProjectionOptions

DEFAULTS = ProjectionOptions()

flags.DEFINE_string("network", None, "Run directory, <run>/checkpoints/ckpt-N or .pkl.")
flags.DEFINE_multi_string("target", None, "Image to project (repeat for several).")
flags.DEFINE_string("outdir", "out", "Output directory.")
flags.DEFINE_integer(
    "num_steps", DEFAULTS.num_steps, "Optimisation steps.", lower_bound=1
)
flags.DEFINE_integer(
    "seed", DEFAULTS.seed, "Seed of the initial noise maps and of w's noise."
)
flags.DEFINE_enum(
    "distance",
    "lpips",
    ["lpips", "pyramid"],
    "lpips: LPIPS (VGG16) at the top level, as stylegan2-ada; pyramid: pixel MSE "
    "over the MSG pyramid (no download; weaker on photos).",
)
flags.DEFINE_string(
    "vgg16", None, "torchvision's vgg16-397923af.pth (default: the cached download)."
)
flags.DEFINE_boolean(
    "vgg16_unverified",
    False,
    "Use --vgg16 although it is not torchvision's file (other VGG16 weights with "
    "its layer names).",
)
flags.DEFINE_float(
    "pyramid_weight",
    None,
    "Weight of each lower pyramid level's pixel MSE, added to the top's distance "
    "(default 1 with --distance=pyramid, 0 with lpips).",
    lower_bound=0,
)
flags.DEFINE_boolean(
    "w_plus", DEFAULTS.w_plus, "Optimise one w per layer instead of one w."
)
flags.DEFINE_boolean("save_video", True, "Write proj.mp4 (target | projection).")
flags.DEFINE_integer(
    "batch", PROJECT_BATCH, "Targets optimised together (bounds memory).", lower_bound=1
)
flags.DEFINE_integer(
    "class",
    None,
    "Conditional networks: the class index (0-based) of the targets.",
    lower_bound=0,
)
FLAGS = flags.FLAGS


def fail(message):
    return cli.fail("project.py", message, FLAGS)


def output_dirs(targets, outdir):
    """One target: `outdir`; several: `outdir/<stem>` each (stems must differ)."""
    outdir = pathlib.Path(outdir)
    if len(targets) == 1:
        return [outdir]
    stems = [pathlib.Path(t).stem for t in targets]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise ValueError(
            f"--target: several targets are named {repeated[0]!r}; their outputs "
            "would share a folder: rename one, or project them separately."
        )
    return [outdir / stem for stem in stems]


def make_distance():
    """The distance FLAGS ask for, with the VGG16 file checked before the
    network is loaded."""
    from msg_stylegan_tf2.inference.projection import LPIPSDistance, PyramidDistance

    weight = FLAGS.pyramid_weight
    if FLAGS.distance == "pyramid":
        return PyramidDistance(1.0 if weight is None else weight)
    from metrics.lpips import lpips_from_files
    from metrics.vgg16 import vgg16_file

    path = vgg16_file(
        FLAGS.vgg16,
        unverified=FLAGS.vgg16_unverified,
        alternative="`distance=pyramid` needs no download",
    )
    return LPIPSDistance(lpips_from_files(path), 0.0 if weight is None else weight)


def save_projection(outdir, target, w, noise, image):
    """Writes target.png, proj.png and projected_w.npz (atomically)."""
    from dnnlib.image_io import save_png

    outdir.mkdir(parents=True, exist_ok=True)
    save_png(target, outdir / "target.png")
    save_png(image, outdir / "proj.png")
    arrays = {"w": w[np.newaxis]}
    arrays.update({f"noise{i}": n[np.newaxis] for i, n in enumerate(noise)})
    path = outdir / "projected_w.npz"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def project_batch(G, projector, paths, dirs, progress):
    """Projects one batch of targets; returns their last distances."""
    from datasets.images import load_image_file
    from dnnlib.image_io import Mp4Writer
    from msg_stylegan_tf2.inference.projection import synthesize

    side, channels = G.synthesis.resolution_log2, G.options["num_channels"]
    targets = np.stack([load_image_file(p, channels, 2**side) for p in paths])
    videos = []
    try:
        if FLAGS.save_video:
            for d in dirs:
                d.mkdir(parents=True, exist_ok=True)
                videos.append(Mp4Writer(d / "proj.mp4", fps=10))
        for _, distances, images in projector.steps(targets):
            for video, target, image in zip(videos, targets, images, strict=False):
                video.append(np.concatenate([target, image], axis=1))
            progress.update(len(paths))
            progress.label = f"Projecting (distance {distances.mean():.4f})"
    except BaseException:
        for video in videos:
            video.discard()
        raise
    for video in videos:
        video.close()
    result = projector.result
    images = synthesize(G, result.w, result.noise)
    for i, d in enumerate(dirs):
        noise = [n[i] for n in result.noise]
        save_projection(d, targets[i], result.w[i], noise, images[i])
    return result.distance


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.network:
        return fail("--network is required (a run directory, checkpoint or .pkl).")
    if not FLAGS.target:
        return fail("--target is required (an image file; repeat for several).")
    if (pathlib.Path(FLAGS.network) / "saved_model.pb").is_file():
        return fail(
            f"--network={FLAGS.network} is a SavedModel; projection needs the "
            "network's weights: give its run directory, checkpoint or pickle."
        )
    try:
        dirs = output_dirs(FLAGS.target, FLAGS.outdir)
    except ValueError as e:
        return fail(str(e))
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from dnnlib.progress import Progress
    from msg_stylegan_tf2.formats.network_run import load_generator
    from msg_stylegan_tf2.inference import figures
    from msg_stylegan_tf2.inference.projection import Projector

    progress = None
    try:
        distance = make_distance()
        G, _, checkpoint = load_generator(FLAGS.network)
        labels = None
        size = figures.label_size(G)
        if size and FLAGS["class"].value is None:
            raise ValueError(
                f"--network={FLAGS.network} is conditional (label_size {size}): "
                f"pass --class=N (0-{size - 1}), the targets' class."
            )
        if size:
            labels = figures.class_labels(FLAGS["class"].value, size)
        elif FLAGS["class"].value is not None:
            raise ValueError(f"--class: --network={FLAGS.network} is unconditional.")
        options = ProjectionOptions(
            num_steps=FLAGS.num_steps, w_plus=FLAGS.w_plus, seed=FLAGS.seed
        )
        projector = Projector(G, distance, options, labels)
        total = FLAGS.num_steps * len(FLAGS.target)
        progress = Progress("Projecting", total=total)
        for start in range(0, len(FLAGS.target), FLAGS.batch):
            part = slice(start, start + FLAGS.batch)
            project_batch(G, projector, FLAGS.target[part], dirs[part], progress)
        progress.close()
    except (tf.errors.ResourceExhaustedError, MemoryError):
        if progress is not None and progress.shown:
            progress.close()
        return cli.out_of_memory("project.py", "batch", FLAGS.batch)
    except (ValueError, OSError) as e:
        if progress is not None and progress.shown:
            progress.close()
        return fail(str(e))
    where = dirs[0] if len(dirs) == 1 else pathlib.Path(FLAGS.outdir)
    print(f"Projected {len(dirs)} image(s) into W of {checkpoint}: {where}/")
    return 0


if __name__ == "__main__":
    app.run(main)
