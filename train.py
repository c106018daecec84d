"""Train MSG-StyleGAN or MSG-ProGAN.

With no flags it trains the small `demo_32` network on the bundled emoji demo
(8 to 11 minutes on 2 CPU cores) and says where its images are.

Examples:
    python train.py
    python train.py --dataset=~/my_images --preset=msg_stylegan_256 --batch=32
    python train.py --dataset=datasets/ffhq --preset=msg_stylegan_1024 \\
        --mirror_augment --mixed_precision=bf16
    python train.py --resume=latest                 # continue the newest run
    python train.py --dataset=~/my_images --seed=7 --resume=latest
                                                    # or add it to the run's command
    python train.py --resume=results/00003-demo_32-emoji64 --total_kimg=100
    python train.py --dry_run                       # print the options and stop
"""

from absl import app, flags

from dnnlib.cli import as_flags
from dnnlib.cli import fail as report
from msg_stylegan_tf2.training.declaration import help_text
from msg_stylegan_tf2.training.options import OPTIONS

_DEFINE = {
    bool: flags.DEFINE_boolean,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
    list: flags.DEFINE_list,
}


def define_flag(option):
    """train.py's flag of a declared option (msg_stylegan_tf2/training/
    options.py); unset (None) means the preset's value, else its default."""
    text = as_flags(help_text(option), OPTIONS)
    if option.choices is not None:
        return flags.DEFINE_enum(option.name, None, list(option.choices), text)
    if option.type in (int, float):
        bounds = {"lower_bound": option.lower_bound, "upper_bound": option.upper_bound}
        return _DEFINE[option.type](option.name, None, text, **bounds)
    return _DEFINE[option.type](option.name, None, text)


for declared in OPTIONS.values():
    define_flag(declared)
FLAGS = flags.FLAGS


def fail(message):
    return report("train.py", message, OPTIONS)


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}; options are flags (--help).")
    from msg_stylegan_tf2.training import cli  # Checks the flags before TF.

    given = {name for name in OPTIONS if FLAGS[name].present}
    try:
        return cli.run({name: FLAGS[name].value for name in OPTIONS}, given)
    except (ValueError, OSError) as e:
        return fail(str(e))


if __name__ == "__main__":
    app.run(main)
