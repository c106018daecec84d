"""What every network shares: its official options as its config, `resolution`,
whether it supports truncation, the dtype scope its layers are made in, and its
size counted without allocating it."""

import contextlib
import inspect

import keras
import numpy as np
import tensorflow as tf


def described_parameters(build):
    """The number of parameters of the network `build()` returns, built and
    counted in a throwaway graph, where variables have shapes but no memory: how
    large options from a file would make a network, before allocating it.

    Args:
        build: a callable returning a built network (or layer).
    """
    with tf.Graph().as_default():
        return sum(int(np.prod(v.shape)) for v in build().weights)


@contextlib.contextmanager
def dtype_policy_scope(policy):
    """Makes `policy` the default while a network creates its layers.

    Networks take the official `dtype` option; layers created inside this scope
    inherit it (Keras 3 does not pass a parent's policy to its sublayers).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class Network(keras.Model):
    """Base of the generators and discriminators.

    A subclass's constructor takes the official keyword arguments plus `dtype`
    and `name`, calls `super().__init__(locals())` first, and sets
    `resolution_log2`. `get_config()` returns those arguments, so that
    `cls.from_config(model.get_config())` builds the same network.
    """

    # Whether `call` takes a truncation psi other than 1 (a W space to truncate).
    supports_truncation = False

    def __init__(self, arguments):
        options = {k: v for k, v in arguments.items() if k not in ("self", "__class__")}
        super().__init__(name=options.pop("name"), dtype=options["dtype"])
        if isinstance(options.get("blur_filter"), list):
            options["blur_filter"] = tuple(options["blur_filter"])
        self.options = options

    @classmethod
    def option_names(cls):
        """The constructor's keyword arguments (official names, `dtype`, `name`)."""
        return tuple(inspect.signature(cls.__init__).parameters)[1:]

    @property
    def resolution(self):
        """Side of the largest image, `2**resolution_log2`."""
        return 2**self.resolution_log2

    def get_config(self):
        return dict(self.options, name=self.name)
