"""torchvision's `vgg16` state dict as checked numpy arrays in our layouts, for
LPIPS's trunk (metrics/lpips.py) and the precision/recall detector
(metrics/vgg16_features.py). Widths come from the weights, so a slim stand-in
with torchvision's names works too."""

import numpy as np

# torchvision's `vgg16.features` indices of the convs ending at each ReLU stage; a
# 2x2 max-pool comes before every stage but the first.
VGG16_STAGES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
# `vgg16.classifier` indices of fc1 and fc2 (6, the logits, is not used).
FC_NAMES = ("classifier.0", "classifier.3")


def _weight_and_bias(state_dict, prefix, shape, layout):
    """`<prefix>.weight` as float32 of `shape` (None: any size) and its bias
    `[out]`; `layout` says in the error what the weight must be."""
    names = f"{prefix}.weight", f"{prefix}.bias"
    missing = [name for name in names if name not in state_dict]
    if missing:
        raise ValueError(
            f"The VGG16 state dict has no `{missing[0]}`: expected torchvision's "
            f"`vgg16` names ({prefix.split('.')[0]}.0.weight, ...). Received keys: "
            f"{sorted(state_dict)[:6]}..."
        )
    weight = np.asarray(state_dict[names[0]], np.float32)
    bias = np.asarray(state_dict[names[1]], np.float32)
    if weight.ndim != len(shape) or any(
        want is not None and got != want
        for got, want in zip(weight.shape, shape, strict=True)
    ):
        raise ValueError(
            f"`{names[0]}` must be {layout}. Received shape: {weight.shape}"
        )
    if bias.shape != weight.shape[:1]:
        raise ValueError(
            f"`{names[1]}` must have shape [{weight.shape[0]}]. Received: {bias.shape}"
        )
    return weight, bias


def vgg16_conv_stages(state_dict):
    """Torch `features.<i>.weight/bias` -> 5 lists of (HWIO kernel, bias), checked.

    Raises:
        ValueError: a missing name, or shapes that do not chain.
    """
    stages, channels = [], 3
    for indices in VGG16_STAGES:
        convs = []
        for index in indices:
            weight, bias = _weight_and_bias(
                state_dict,
                f"features.{index}",
                (None, channels, 3, 3),
                f"OIHW [out, {channels}, 3, 3] (3x3 conv on {channels} channels)",
            )
            convs.append((weight.transpose(2, 3, 1, 0), bias))
            channels = weight.shape[0]
        stages.append(convs)
    return stages


def vgg16_fc_layers(state_dict, width):
    """Torch `classifier.0/3.weight/bias` -> fc1 and fc2 as (`[in, out]`, bias),
    fc1's rows in the NHWC order of the 7x7 pool5 map of `width` channels.

    Raises:
        ValueError: a missing name, or shapes that do not chain (fc1 must take
            the 7x7 pool5 map of the last conv's width).
    """
    fcs, n_in = [], width * 7 * 7
    for index, prefix in enumerate(FC_NAMES):
        weight, bias = _weight_and_bias(
            state_dict, prefix, (None, n_in), f"[out, {n_in}]"
        )
        if index == 0:
            # torch flattens pool5 as [C, 7, 7]; ours is NHWC [7, 7, C].
            weight = weight.reshape(-1, width, 7, 7).transpose(0, 2, 3, 1)
            weight = weight.reshape(-1, n_in)
        fcs.append((weight.T.copy(), bias))
        n_in = weight.shape[0]
    return fcs
