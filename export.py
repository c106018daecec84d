"""Export a trained generator as a SavedModel (and optionally TFLite).

The SavedModel loads with `tf.saved_model.load` alone, without this project:
    m = tf.saved_model.load("exported/emoji")
    out = m.signatures["serving_default"](latents=z, truncation_psi=tf.constant(0.7))
    out["uint8_0032"]  # [N, 32, 32, 3] uint8; also images_0004 ... in [-1, 1]

An MSG-StyleGAN's SavedModel also has stylegan2-ada's pieces, to work in W
(e.g. with project.py's projected_w.npz):
    w = m.signatures["mapping"](latents=z)["dlatents"]  # [N, num_layers, dlatent_size]
    avg = m.signatures["dlatent_avg"]()  # dlatent_avg [dlatent_size], truncation_cutoff
    out = m.signatures["synthesis"](dlatents=w, noise_mode=tf.constant("const"))
noise_mode is "const" (the stored noise, as serving_default), "random" or
"none"; synthesis does not truncate: serving_default at psi equals synthesis
of w with its first truncation_cutoff layers set to avg + (w - avg) * psi.

With --tflite, <out>.tflite has the serving_default signature (only), for
tf.lite.Interpreter:
    runner = tf.lite.Interpreter(model_path="exported/e.tflite").get_signature_runner()
    out = runner(latents=z, truncation_psi=np.float32(0.7))

Examples:
    python export.py --network=results/00000-demo_32-emoji64 --out=exported/emoji
    python export.py --network=results/00000-demo_32-emoji64 --out=exported/e --tflite
"""

from absl import app, flags

from dnnlib import cli

flags.DEFINE_string(
    "network", None, "Run directory, <run>/checkpoints/ckpt-N or official .pkl."
)
flags.DEFINE_string("out", None, "Output SavedModel directory (must not exist).")
flags.DEFINE_enum("which", "Gs", ["Gs", "G"], "Moving average (Gs) or raw G.")
flags.DEFINE_boolean("tflite", False, "Also write <out>.tflite where the ops allow.")
FLAGS = flags.FLAGS


def fail(message):
    return cli.fail("export.py", message, FLAGS)


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.network or not FLAGS.out:
        return fail("--network and --out are required.")
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from msg_stylegan_tf2.formats.export import export_saved_model, export_tflite
    from msg_stylegan_tf2.formats.network_run import load_generator

    try:
        G, config, checkpoint = load_generator(FLAGS.network, FLAGS.which)
        label_size = G.get_config().get("label_size", 0)
        out = export_saved_model(G, FLAGS.out, label_size)
        print(f"Wrote {out} from {checkpoint} ({FLAGS.which}).")
        if FLAGS.tflite:
            path = f"{out}.tflite"
            size = export_tflite(out, path)
            print(f"Wrote {path} ({size} bytes).")
    except (tf.errors.ResourceExhaustedError, MemoryError):
        return cli.out_of_memory("export.py")
    except (ValueError, OSError) as e:
        return fail(str(e))
    return 0


if __name__ == "__main__":
    app.run(main)
