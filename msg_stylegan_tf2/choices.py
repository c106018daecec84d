"""Option names and defaults that command lines need before TensorFlow is imported."""

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
# "auto": bf16 where the hardware has it, else "off" (dnnlib/hardware.py).
MIXED_PRECISION = ("auto", "off", "bf16", "fp16")
# What D sees (msg_stylegan_tf2/augment.py).
AUGMENTS = ("none", "diffaug", "ada")
# Images per forward pass of the generator in generate.py, run_metrics.py and
# the figures (msg_stylegan_tf2/figures.py): bounds their memory.
GENERATE_BATCH = 32
