"""Every option of a training run, each declared once: its default, help
text, resume behaviour and checks (`declaration.Option`): those the config
records beside their fields here (`TrainingOptions`), the command's others in
command_options.py. train.py's flags and `--help`, `resolve`, the resume
rules, `training_options.json` and the docs' flag test read them from here.
No TensorFlow here.

To add an option (e.g. `batch_gpu`):
1. Declare it beside its field in `TrainingOptions`:
   `batch_gpu: int | None = option(None, "Images per step and GPU ({default}).",
   resume=CHANGEABLE, lower_bound=1)`; one the config does not record as
   given (it shapes the networks or the data) goes in command_options.py.
2. Use `config.batch_gpu` where it acts. It is then train.py's `--batch_gpu`,
   a preset may set it (`NetworkPreset.train`), and a resume treats it as
   declared; document the flag in docs/training.md (its table, and the
   resume sentence for its kind).
"""

import dataclasses

from metrics.names import parse_metric
from msg_stylegan_tf2.choices import AUGMENTS, LOSSES, MIXED_PRECISION, STRATEGIES
from msg_stylegan_tf2.training.command_options import COMMAND_OPTIONS
from msg_stylegan_tf2.training.declaration import (
    CHANGEABLE,
    MUST_EQUAL,
    PROCESS,
    below_one,
    field_options,
    needs,
    option,
    percentage,
    positive,
)


def _metric_names(name, value, given):
    for metric in value:
        if metric != "none":
            try:
                parse_metric(metric)
            except ValueError as e:
                raise ValueError(f"`{name}`: {e}") from None


def _fewer_than_d_blocks(config, world):
    blocks = int(config.G_kwargs["resolution"]).bit_length() - 2  # D's, 4x4 up.
    if config.freeze_d >= blocks:
        raise ValueError(
            f"`freeze_d={config.freeze_d}` would freeze all of D's {blocks} "
            "blocks; freeze fewer."
        )


def _regularization(config, world):
    # An interval > 1 needs R1 or R2 to apply lazily (`Regularization`).
    world.regularization(config)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """The options a run's `TrainingConfig` records as they were given, else
    as the preset's training defaults set them, else as declared here."""

    loss: str = option(
        "logistic", "Loss ({default}).", resume=CHANGEABLE, choices=tuple(LOSSES)
    )
    r1_gamma: float | None = option(
        None,
        "R1 weight (default: 10 for logistic and logistic_saturating, else 0).",
        resume=CHANGEABLE,
        lower_bound=0,
    )
    r2_gamma: float = option(
        0.0, "R2 weight ({default}).", resume=CHANGEABLE, lower_bound=0
    )
    r1_interval: int = option(
        1,
        "Lazy regularization (StyleGAN2): R1 and R2 in a D step of their own "
        "every N D steps, weighted by N, and D's Adam lr times N/(N+1), its "
        "betas to that power; wgan_gp's and hinge_gp's gradient penalty stays "
        "in every D step ({default}: R1/R2 in every D step, as MSG-StyleGAN).",
        resume=CHANGEABLE,
        lower_bound=1,
        check_run=_regularization,
    )
    batch: int = option(
        16,
        "Global minibatch ({default}; progan presets: per resolution, as ProGAN).",
        resume=CHANGEABLE,
        lower_bound=1,
    )
    batch_gpu: int | None = option(
        None,
        "Images each replica (GPU) processes at once: `batch` is reached by "
        "accumulating gradients over `batch` / (replicas x `batch_gpu`) "
        "micro-batches, as stylegan2-ada's ({default}: all at once).",
        resume=CHANGEABLE,
        lower_bound=1,
    )
    total_kimg: float = option(
        25000.0,
        "Training length in thousands of real images ({default}).",
        resume=CHANGEABLE,
        lower_bound=0.001,
    )
    lr: float = option(
        0.003, "Learning rate of G and D ({default}).", resume=CHANGEABLE, lower_bound=0
    )
    g_lr: float | None = option(
        None, "Learning rate of G (default: `lr`).", resume=CHANGEABLE, lower_bound=0
    )
    d_lr: float | None = option(
        None, "Learning rate of D (default: `lr`).", resume=CHANGEABLE, lower_bound=0
    )
    lrate_rampup_kimg: float = option(
        0.0,
        "Linear learning-rate ramp-up ({default}).",
        resume=CHANGEABLE,
        lower_bound=0,
    )
    adam_beta1: float = option(
        0.0, "Adam beta1 ({default}).", resume=CHANGEABLE, check=below_one
    )
    adam_beta2: float = option(
        0.99, "Adam beta2 ({default}).", resume=CHANGEABLE, check=below_one
    )
    D_repeats: int = option(
        1, "D steps per G step ({default}).", resume=CHANGEABLE, lower_bound=1
    )
    G_smoothing_kimg: float = option(
        10.0,
        "Half-life of Gs, the EMA of G ({default}).",
        resume=CHANGEABLE,
        lower_bound=0,
    )
    ema_rampup: float | None = option(
        None,
        "Cap the EMA half-life at this fraction of the images seen ({default}).",
        resume=CHANGEABLE,
        check=positive,
    )
    ema_decay: float | None = option(
        None,
        "Fixed Gs decay per step instead of a half-life ({default}).",
        resume=CHANGEABLE,
        check=below_one,
    )
    mirror_augment: bool = option(
        False, "Flip reals left-right at random.", resume=CHANGEABLE
    )
    # Freeze-D (Mo et al. 2020): FromRGB/combine of the frozen levels too.
    freeze_d: int = option(
        0,
        "Freeze-D: D's first N blocks, from the highest resolution, keep their "
        "weights ({default}).",
        resume=CHANGEABLE,
        lower_bound=0,
        check_run=_fewer_than_d_blocks,
    )
    finetune_from: str | None = option(
        None,
        "Start a new run from these networks: a run directory, a checkpoint, or "
        "an official msg-stylegan-tf or ProGAN pickle.",
        resume=MUST_EQUAL,
    )
    augment: str = option(
        "none",
        "What D sees: diffaug (DiffAugment: colour, translation, cutout, one "
        "draw per image for all its pyramid levels) or ada (the same, each "
        "operation with an adaptive probability p) ({default}).",
        resume=MUST_EQUAL,
        choices=tuple(AUGMENTS),
    )
    ada_target: float = option(
        0.6,
        "ADA: p rises while E[sign(D(reals))] is above this ({default}).",
        resume=CHANGEABLE,
        lower_bound=0.01,
        upper_bound=0.99,
    )
    ada_kimg: float = option(
        500.0,
        "ADA: kimg for p to go from 0 to 1 ({default}).",
        resume=CHANGEABLE,
        lower_bound=0.001,
    )
    tick_kimg: float = option(
        10.0,
        "Progress line every N kimg ({default}).",
        resume=CHANGEABLE,
        lower_bound=0.001,
    )
    image_snapshot_ticks: int = option(
        1, "Image grids every N ticks ({default}).", resume=CHANGEABLE, lower_bound=1
    )
    network_snapshot_ticks: int = option(
        10, "Checkpoint every N ticks ({default}).", resume=CHANGEABLE, lower_bound=1
    )
    keep_checkpoints: int = option(
        3, "Checkpoints kept ({default}).", resume=CHANGEABLE, lower_bound=1
    )
    grid_images: int = option(
        36,
        "Images in each snapshot grid ({default}).",
        resume=CHANGEABLE,
        lower_bound=1,
    )
    seed: int = option(0, "Random seed ({default}).", resume=MUST_EQUAL)
    strategy: str = option(
        "auto",
        "tf.distribute strategy ({default}).",
        resume=PROCESS,
        choices=STRATEGIES,
    )
    # A new run records "off", "bf16" or "fp16" (`resolve`), and for auto why
    # in `precision_reason`.
    mixed_precision: str = option(
        "auto",
        "Mixed precision; auto is bf16 on GPUs of compute capability >= 8.0 and "
        "on CPUs with AMX or AVX512-BF16, else off ({default}).",
        resume=MUST_EQUAL,
        choices=MIXED_PRECISION,
    )
    jit: bool = option(False, "Compile the steps with XLA ({default}).", resume=PROCESS)
    memory_plan: str = option(
        "auto",
        "Before the first step, the memory of one replica's step (parameters, "
        "Adam, activations of a `batch_gpu` micro-batch) beside the device's, "
        "and a `batch_gpu` that fits where it will not; it traces the steps "
        "once, seconds ({default}: on GPUs).",
        resume=PROCESS,
        choices=("auto", "on", "off"),
    )
    max_images: int | None = option(
        None, "Use at most this many dataset images.", resume=MUST_EQUAL, lower_bound=1
    )
    data_percentage: float | None = option(
        None,
        "Use this percentage of the dataset.",
        resume=MUST_EQUAL,
        check=percentage,
    )
    metrics: tuple = option(
        (),
        "Metrics at network snapshots: fid<N>k, fid<N>k_full, kid<N>k, is<N>k, "
        "swd<N>k, msssim<N>k, pr<N>k3, ppl_{z,w}{full,end}<N>k, or none "
        "({default}).",
        resume=CHANGEABLE,
        check=_metric_names,
        to_config=lambda names: tuple(m for m in names if m != "none"),
    )
    inception: str | None = option(
        None, "Inception graph (.tgz/.pb) for fid/kid/is metrics.", resume=CHANGEABLE
    )
    inception_unverified: bool = option(
        False,
        "Use `inception` although it is not the pinned graph (custom graphs; "
        "numbers not comparable with published ones; {default}).",
        resume=CHANGEABLE,
        check=needs("inception", "your own graph"),
    )
    # torchvision's VGG16 file for the pr and ppl metrics.
    vgg16: str | None = option(
        None,
        "torchvision's vgg16-397923af.pth for the pr and ppl metrics (default: "
        "the cached download).",
        resume=CHANGEABLE,
    )
    vgg16_unverified: bool = option(
        False,
        "Use `vgg16` although it is not torchvision's file (other VGG16 weights; "
        "numbers not comparable with published ones; {default}).",
        resume=CHANGEABLE,
        check=needs("vgg16", "your own weights"),
    )
    ppl_crop: bool = option(
        False,
        "ppl metrics on NVIDIA's face crop (as their ppl_zfull on FFHQ; {default}).",
        resume=CHANGEABLE,
    )


# Derived: every option by name, and what a resume does with each.
TRAINING_OPTIONS = {o.name: o for o in field_options(TrainingOptions)}
OPTIONS = {**{o.name: o for o in COMMAND_OPTIONS}, **TRAINING_OPTIONS}
assert len(OPTIONS) == len(COMMAND_OPTIONS) + len(TRAINING_OPTIONS)
RESUME_CHANGEABLE = tuple(n for n, o in OPTIONS.items() if o.resume == CHANGEABLE)
RESUME_MUST_EQUAL = tuple(n for n, o in OPTIONS.items() if o.resume == MUST_EQUAL)
# This process's options that the config records: a resume applies them too.
PROCESS_OPTIONS = tuple(n for n, o in TRAINING_OPTIONS.items() if o.resume == PROCESS)
CONVERSION_OPTIONS = tuple(n for n, o in OPTIONS.items() if o.conversion)
# What a conversion option left unset means (`create_from_images`' defaults).
CONVERSION_DEFAULTS = {name: OPTIONS[name].default for name in CONVERSION_OPTIONS}


def check_given(given):
    """Checks options given (`{name: value}`; None: not given) on their own
    and against each other, in declaration order, before anything runs.

    Raises:
        ValueError: one line naming the option (in backquotes): unknown, of
            the wrong type or choice, out of bounds, or failing its check.
    """
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown options {unknown}; known are {sorted(OPTIONS)}.")
    for name, declared in OPTIONS.items():
        if given.get(name) is not None:
            declared.validate(given[name], given)
