"""Option names that command lines validate before TensorFlow is imported."""

LOSS_NAMES = (
    "logistic",
    "logistic_saturating",
    "wgan",
    "wgan_gp",
    "hinge",
    "hinge_gp",
    "relativistic_hinge",
    "lsgan",
)
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
MIXED_PRECISION = ("off", "bf16", "fp16")
