"""Official TF1 variable names and layouts, and conversion to and from ours.

Every network lists its weights as `{official_name: (variable, layout)}` where the
official name is the TF1 variable name of msg-stylegan-tf (`G_mapping/Dense0/weight`,
`G_synthesis/4x4/Const/const`, `G/dlatent_avg`, `D/4x4/Dense0/weight`, ...) and the
layout says how the official (NCHW-era) array maps onto our NHWC variable.
"""

import numpy as np

SAME = ("same",)
NCHW_IMAGE = ("nchw_image",)  # Official [1, C, H, W] <-> ours [1, H, W, C].
TRANSPOSE_IO = ("transpose_io",)  # Official [k, k, out, in] <-> ours [k, k, in, out].


def flatten_rows(channels, height, width):
    """Layout of a dense weight whose input is a flattened `[C, H, W]` map."""
    return ("flatten_rows", channels, height, width)


def flatten_cols(channels, height, width):
    """Layout of a dense weight whose output is reshaped to a `[C, H, W]` map."""
    return ("flatten_cols", channels, height, width)


def _nchw_to_nhwc_index(channels, height, width):
    # For each NHWC flat position, the NCHW flat position holding the same unit.
    return np.arange(channels * height * width).reshape(channels, height, width)


def to_ours(array, layout):
    """Converts an array stored by the official code into our layout."""
    array = np.asarray(array)
    if layout[0] == "same":
        return array
    if layout[0] == "nchw_image":
        return np.transpose(array, [0, 2, 3, 1])
    if layout[0] == "transpose_io":
        return np.transpose(array, [0, 1, 3, 2])
    index = _nchw_to_nhwc_index(*layout[1:]).transpose(1, 2, 0).reshape(-1)
    if layout[0] == "flatten_rows":
        return array[index, :]
    return array[:, index]


def to_official(array, layout):
    """Converts one of our arrays into the layout the official code stores."""
    array = np.asarray(array)
    if layout[0] == "same":
        return array
    if layout[0] == "nchw_image":
        return np.transpose(array, [0, 3, 1, 2])
    if layout[0] == "transpose_io":
        return np.transpose(array, [0, 1, 3, 2])
    index = _nchw_to_nhwc_index(*layout[1:]).transpose(1, 2, 0).reshape(-1)
    inverse = np.argsort(index)
    if layout[0] == "flatten_rows":
        return array[inverse, :]
    return array[:, inverse]


def official_shape(variable, layout):
    """The shape the official code uses for one of our variables."""
    shape = tuple(variable.shape)
    if layout[0] == "nchw_image":
        return (shape[0], shape[3], shape[1], shape[2])
    if layout[0] == "transpose_io":
        return (shape[0], shape[1], shape[3], shape[2])
    return shape


def official_variables(model):
    """Returns `{official_name: ndarray}` of a built network, in official layouts.

    Args:
        model: a built `Generator`, `ProGANGenerator`, `Mapping`, `Synthesis` or
            `Discriminator`.
    """
    return {
        name: to_official(variable.numpy(), layout)
        for name, (variable, layout) in model.official_variable_map().items()
    }


def assign_official_variables(model, arrays):
    """Assigns arrays stored the official way to a built network.

    Args:
        model: a built network (see `official_variables`).
        arrays: `{official_name: ndarray}` with exactly the network's official
            names and shapes (e.g. `G_synthesis/4x4/Const/const` `[1, C, 4, 4]`).

    Raises:
        ValueError: on a missing, unknown or mis-shaped name; nothing is assigned
            then.
    """
    targets = model.official_variable_map()
    missing = sorted(set(targets) - set(arrays))
    unknown = sorted(set(arrays) - set(targets))
    if missing or unknown:
        raise ValueError(
            f"Official variables do not match {model.name}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unknown {unknown[:5]}{'...' if len(unknown) > 5 else ''}."
        )
    converted = {}
    for name, (variable, layout) in targets.items():
        array = np.asarray(arrays[name])
        expected = official_shape(variable, layout)
        if tuple(array.shape) != expected:
            raise ValueError(
                f"Official variable {name} must have shape {expected}. "
                f"Received: {tuple(array.shape)}"
            )
        converted[name] = to_ours(array, layout).astype(variable.dtype)
    for name, (variable, _) in targets.items():
        variable.assign(converted[name])


def layer_entries(scope, layer, layout=SAME, spectral_state=False):
    """The entries of an equalized layer: `<scope>/weight`, `<scope>/bias` if it
    has one and, with `spectral_state`, its spectral-norm vector `<scope>/sn_u`
    (not official; discriminators name theirs so)."""
    out = {f"{scope}/weight": (layer.weight, layout)}
    if layer.bias is not None:
        out[f"{scope}/bias"] = (layer.bias, SAME)
    if spectral_state and layer.sn_u is not None:
        out[f"{scope}/sn_u"] = (layer.sn_u, SAME)
    return out


def spectral_norm_entries(prefix, layers):
    """Not official: the spectral-norm vectors of a generator's `layers` (in
    their checkpoint order) as `<prefix>/sn_u_<i>`, so that checkpoints keep them."""
    states = [layer.sn_u for layer in layers if layer.sn_u is not None]
    return {f"{prefix}/sn_u_{i:03d}": (u, SAME) for i, u in enumerate(states)}
