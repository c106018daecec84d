"""Convert an official network pickle without TensorFlow 1: a msg-stylegan-tf
snapshot (G_style / D_basic) or a ProGAN one (G_paper / D_paper, with its lod).

The pickle is read by the memory-safe loader (dnnlib/safe_pickle.py): nothing
in it is executed. The result is a run directory (training_options.json +
checkpoint; ProGAN pickles become progan runs) that generate.py,
run_metrics.py and export.py take as --network, and optionally a SavedModel of
Gs.

Examples:
    python convert.py --pkl=network-snapshot-010000.pkl --out=imported/ffhq
    python convert.py --pkl=network-final.pkl --out=imported/ffhq --saved_model=sm/ffhq
"""

import pathlib

from absl import app, flags

from dnnlib import cli

flags.DEFINE_string("pkl", None, "Official network pickle (G, D, Gs).")
flags.DEFINE_string("out", None, "Run directory to write (must not exist).")
flags.DEFINE_string("saved_model", None, "Also write a SavedModel of Gs here.")
FLAGS = flags.FLAGS


def fail(message):
    return cli.fail("convert.py", message, FLAGS)


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    if not FLAGS.pkl or not FLAGS.out:
        return fail("--pkl and --out are required.")
    if not pathlib.Path(FLAGS.pkl).is_file():
        return fail(f"--pkl: {FLAGS.pkl} does not exist.")
    from dnnlib.quiet_tf import import_tensorflow

    tf = import_tensorflow()
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from msg_stylegan_tf2.formats.export import export_saved_model
    from msg_stylegan_tf2.formats.legacy import load_network_pkl
    from msg_stylegan_tf2.formats.network_run import write_network_run

    try:
        networks = load_network_pkl(FLAGS.pkl)
        run = write_network_run(
            networks["G"], networks["D"], networks["Gs"], FLAGS.out, FLAGS.pkl
        )
        print(f"Wrote {run} (use it as --network).")
        if FLAGS.saved_model:
            label_size = networks["Gs"].get_config()["label_size"]
            out = export_saved_model(networks["Gs"], FLAGS.saved_model, label_size)
            print(f"Wrote {out}.")
    except (tf.errors.ResourceExhaustedError, MemoryError):
        return cli.out_of_memory("convert.py")
    except (ValueError, OSError) as e:
        return fail(str(e))
    return 0


if __name__ == "__main__":
    app.run(main)
