"""Option names and defaults that command lines need before TensorFlow is imported."""

import dataclasses
import importlib

# Each name list is written once, here, importable without TensorFlow. Where a
# name stands for code, it maps to "module:attribute", imported only by `load`.
LOSSES = {
    "logistic": "msg_stylegan_tf2.training.losses:Logistic",
    "logistic_saturating": "msg_stylegan_tf2.training.losses:LogisticSaturating",
    "wgan": "msg_stylegan_tf2.training.losses:WGAN",
    "wgan_gp": "msg_stylegan_tf2.training.losses:WGANGP",
    "hinge": "msg_stylegan_tf2.training.losses:Hinge",
    "hinge_gp": "msg_stylegan_tf2.training.losses:HingeGP",
    "relativistic_hinge": "msg_stylegan_tf2.training.losses:RelativisticHinge",
    "lsgan": "msg_stylegan_tf2.training.losses:LSGAN",
}
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
# "auto": bf16 where the hardware has it, else "off" (dnnlib/hardware.py).
MIXED_PRECISION = ("auto", "off", "bf16", "fp16")
# How the MSG discriminator merges each image of the pyramid into its
# activations (msg_stylegan_tf2/networks/blocks.py: `Combine`).
COMBINE_FUNCTIONS = ("simple", "lin_cat", "cat_lin")
# What D sees: each name beside its `Augmentation` class.
AUGMENTS = {
    "none": "msg_stylegan_tf2.training.augmentation:NoAugmentation",
    "diffaug": "msg_stylegan_tf2.training.augmentation:DiffAugment",
    "ada": "msg_stylegan_tf2.training.augmentation:AdaptiveAugment",
}
# Images per forward pass of the generator in generate.py, run_metrics.py and
# the figures (msg_stylegan_tf2/inference/figures.py): bounds their memory.
GENERATE_BATCH = 32
# Targets project.py optimises together: bounds its memory.
PROJECT_BATCH = 8


@dataclasses.dataclass(frozen=True)
class ProjectionOptions:
    """stylegan2-ada's `project()` arguments and defaults (its seed 303 too),
    and `w_plus`: one w per layer (msg_stylegan_tf2/inference/projection.py)."""

    num_steps: int = 1000
    w_avg_samples: int = 10000
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    w_plus: bool = False
    seed: int = 303  # Of the initial noise maps and the noise added to w.


def load(table, name, option):
    """What `table[name]` names ("module:attribute"), imported now.

    Args:
        table: a dict of this module, e.g. `LOSSES`.
        name: the chosen name.
        option: the option's name, for the error.

    Raises:
        ValueError: `name` is not in `table`, naming `option` and the choices.
    """
    if name not in table:
        raise ValueError(
            f"`{option}` must be one of {sorted(table)}. Received: {name!r}"
        )
    module, attribute = table[name].split(":")
    return getattr(importlib.import_module(module), attribute)
