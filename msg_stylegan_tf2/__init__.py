"""msg-stylegan-tf2: MSG-StyleGAN and MSG-ProGAN for TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
