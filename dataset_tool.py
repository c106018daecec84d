"""Create, inspect and compare official-format multi-resolution TFRecord datasets,
and export them as NVIDIA's zips.

The datasets are the layout of NVIDIA's and the official msg-stylegan-tf tool
(`DIR/<name>-rXX.tfrecords`, `DIR/<name>-rxx.labels`), so they load in either.
Folders and zips prepared for stylegan2-ada-pytorch or stylegan3 (PNGs with a
`dataset.json` of labels) convert with their labels; `export_zip` writes that
layout back.

Examples:
    python dataset_tool.py create_from_images datasets/mine ~/my_images
    python dataset_tool.py create_from_images datasets/mine ~/photos \\
        --resolution=256 --transform=center-crop
    python dataset_tool.py create_from_zip datasets/emoji datasets/demo/emoji64.zip
    python dataset_tool.py create_from_zip datasets/cars ~/cars.zip  # + dataset.json
    python dataset_tool.py create_from_images datasets/cats ~/cats \\
        --resolution=256 --transform=center-crop-wide
    python dataset_tool.py export_zip ~/mine.zip datasets/mine  # for stylegan3
    python dataset_tool.py create_cifar10 datasets/cifar10 ~/cifar-10-python.tar.gz
    python dataset_tool.py info datasets/mine            # checks every record
    python dataset_tool.py info datasets/mine --nocheck  # headers only: fast
    python dataset_tool.py display datasets/mine --out=grid.png
    python dataset_tool.py extract datasets/mine ~/extracted
    python dataset_tool.py compare datasets/a datasets/b
"""

import json
import signal
import sys

from absl import app, flags

from dnnlib import cli

_IMAGE_OPTIONS = (
    "resolution",
    "transform",
    "channels",
    "labels_from",
    "shuffle",
    "seed",
    "max_images",
    "skip_bad",
)
_EXPORT_OPTIONS = (
    "resolution",
    "transform",
    "channels",
    "labels_from",
    "max_images",
    "skip_bad",
)
# Command: (positional arguments, options passed on, help). An option is a flag
# name, or (flag name, keyword argument name).
COMMANDS = {
    "create_from_images": (
        ("tfrecord_dir", "image_dir"),
        _IMAGE_OPTIONS,
        "a folder of images (recursive)",
    ),
    "create_from_zip": (("tfrecord_dir", "zip_path"), _IMAGE_OPTIONS, "a .zip"),
    "export_zip": (
        ("out_zip", "source"),
        _EXPORT_OPTIONS,
        "NVIDIA's zip (PNGs + dataset.json) from TFRecords or images",
    ),
    "create_from_hdf5": (("tfrecord_dir", "hdf5_filename"), ("shuffle",), "HDF5"),
    "create_cifar10": (("tfrecord_dir", "cifar10_dir"), ("shuffle", "seed"), ""),
    "create_cifar100": (("tfrecord_dir", "cifar100_dir"), ("shuffle", "seed"), ""),
    "create_mnist": (("tfrecord_dir", "mnist_dir"), ("shuffle", "seed"), ""),
    "create_mnistrgb": (
        ("tfrecord_dir", "mnist_dir"),
        ("num_images", ("seed", "random_seed")),
        "",
    ),
    "create_svhn": (("tfrecord_dir", "svhn_dir"), ("shuffle", "seed"), ""),
    "create_celeba": (("tfrecord_dir", "celeba_dir"), ("cx", "cy"), ""),
    "create_lsun": (("tfrecord_dir", "lmdb_dir"), ("resolution", "max_images"), ""),
    "display": (("tfrecord_dir",), ("out", "count"), "write a PNG grid"),
    "extract": (("tfrecord_dir", "output_dir"), (), "write every image as PNG"),
    "compare": (("tfrecord_dir_a", "tfrecord_dir_b"), (), "compare two datasets"),
    "info": (("tfrecord_dir",), ("check",), "count, resolution, channels, labels"),
}

flags.DEFINE_integer(
    "resolution",
    None,
    "Output side (power of two); resizes. export_zip from TFRecords: the level.",
)
flags.DEFINE_enum(
    "transform",
    None,
    ["center-crop", "resize", "pad", "center-crop-wide"],
    "How images become square with --resolution (default center-crop; "
    "center-crop-wide: NVIDIA's, a 2:1 strip padded with black).",
)
flags.DEFINE_integer("channels", None, "1 or 3; converts every image.")
flags.DEFINE_enum(
    "labels_from",
    None,
    ["auto", "dataset_json", "folders", "none"],
    "Labels of image folders/zips (default auto: the dataset's dataset.json "
    "when it has one, else none; folders: a class per top folder).",
)
flags.DEFINE_boolean("shuffle", True, "Write in shuffled order (official).")
flags.DEFINE_integer("seed", 123, "Shuffle seed (official: 123).")
flags.DEFINE_integer(
    "max_images", None, "Keep at most this many images.", lower_bound=1
)
flags.DEFINE_boolean(
    "skip_bad",
    False,
    "Skip unreadable, corrupt or oversized images (decompression bombs), reporting "
    "each.",
)
flags.DEFINE_boolean(
    "check",
    True,
    "info: read every record and check its CRCs and shape field (reads the whole "
    "dataset); --nocheck reads only the record headers.",
)
flags.DEFINE_string("out", "dataset.png", "PNG written by `display`.")
flags.DEFINE_integer("count", 64, "Images shown by `display`.", lower_bound=1)
flags.DEFINE_integer("cx", 89, "CelebA crop centre x.")
flags.DEFINE_integer("cy", 121, "CelebA crop centre y.")
flags.DEFINE_integer("num_images", 1000000, "Images made by create_mnistrgb.")
FLAGS = flags.FLAGS


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that writers clean up as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated


def _usage():
    lines = [
        f"  {name} {' '.join(a.upper() for a in args)}"
        for name, (args, _, _) in COMMANDS.items()
    ]
    return (
        "usage: python dataset_tool.py COMMAND ARGS [--flags]\ncommands:\n"
        + "\n".join(lines)
    )


def _function(command):
    from dnnlib.quiet_tf import import_tensorflow

    import_tensorflow()
    from datasets import commands

    if hasattr(commands, command):
        return getattr(commands, command)
    if command == "export_zip":
        from datasets.nvidia_zip import export_zip

        return export_zip
    from datasets.classic import CLASSIC_COMMANDS

    return CLASSIC_COMMANDS[command]


def run(command, args):
    """Runs one command with its positional arguments and the relevant flags."""
    positional, options, _ = COMMANDS[command]
    pairs = [(o, o) if isinstance(o, str) else o for o in options]
    kwargs = {kwarg: FLAGS[flag].value for flag, kwarg in pairs}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    result = _function(command)(*args, **kwargs)
    if command == "info":
        print(json.dumps(result, indent=2))
    elif command == "compare":
        identical, message = result
        print(("identical: " if identical else "different: ") + message)
        return 0 if identical else 1
    elif command == "display":
        print(f"Wrote {FLAGS.out} ({result} images).")
    else:
        print(
            f"Wrote {result} images to {args[-1] if command == 'extract' else args[0]}."
        )
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        given = argv[1] if len(argv) > 1 else "nothing"
        print(
            f"dataset_tool.py: unknown command {given!r}\n{_usage()}", file=sys.stderr
        )
        return 2
    command, args = argv[1], argv[2:]
    expected = COMMANDS[command][0]
    if len(args) != len(expected):
        print(
            f"dataset_tool.py: {command} takes {' '.join(map(str.upper, expected))}; "
            f"received {len(args)} argument(s).",
            file=sys.stderr,
        )
        return 2
    try:
        # SIGTERM unwinds like Ctrl-C: atomic writers remove their temporary files.
        signal.signal(signal.SIGTERM, _raise_terminated)
        return run(command, args)
    except (ValueError, OSError) as e:
        from datasets.images import BadImageError

        hint = ""
        if isinstance(e, BadImageError) and "skip_bad" in COMMANDS[command][1]:
            hint = " (--skip_bad skips bad images, listing each)"
        return cli.fail("dataset_tool.py", f"{e}{hint}", FLAGS)
    except (KeyboardInterrupt, Terminated) as e:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        what = "interrupted" if isinstance(e, KeyboardInterrupt) else "terminated"
        print(
            f"dataset_tool.py: {what}; nothing was left half-written.",
            file=sys.stderr,
        )
        return 130 if isinstance(e, KeyboardInterrupt) else 128 + signal.SIGTERM


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
