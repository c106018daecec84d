"""Fine-tuning: a new run that starts from another run's or an official
pickle's networks (G, D, Gs and the W average), with fresh optimizers at kimg 0.
"""

from msg_stylegan_tf2.formats.network_run import load_networks
from msg_stylegan_tf2.networks.official import (
    assign_official_variables,
    official_shape,
    official_variables,
)

# The data options a source must share with the run (the networks' shapes).
DATA_OPTIONS = ("resolution", "num_channels", "label_size")
# Options that do not change what the weights compute in training: sampling
# defaults, and fused versus separate resampling (the same function).
NEUTRAL_OPTIONS = (
    "name",
    "dtype",
    "fused_scale",
    "truncation_psi",
    "truncation_cutoff",
    "truncation_psi_val",
    "truncation_cutoff_val",
    "dlatent_avg_beta",
    "randomize_noise",
)


def load_source(path):
    """The networks at `path` (a run directory, a checkpoint, or an official
    msg-stylegan-tf or ProGAN pickle): `{"G", "D", "Gs"}`, built and restored.

    Raises:
        ValueError: one line naming `path` and what is wrong.
    """
    return load_networks(path)[0]


def check_source(source, config, path):
    """Raises a one-line ValueError, before a run starts, when the source's
    networks do not fit the run's: another data shape (resolution, channels,
    label size), or other weights (another preset)."""
    from msg_stylegan_tf2.networks.build import DISCRIMINATORS, GENERATORS

    theirs = source["G"].get_config()
    differs = [
        f"{name} {theirs.get(name)} (this run: {config.G_kwargs.get(name)})"
        for name in DATA_OPTIONS
        if theirs.get(name) != config.G_kwargs.get(name)
    ]
    if differs:
        raise ValueError(
            f"{path}: its networks differ from this run's dataset: "
            f"{', '.join(differs)}; fine-tune on data of the same shape."
        )
    ours = {
        "G": GENERATORS[config.arch](**config.G_kwargs),
        "D": DISCRIMINATORS[config.arch](**config.D_kwargs),
    }
    for name, network in ours.items():
        network.build()
        want = _shapes(network)
        have = _shapes(source[name])
        if want != have:
            names = sorted(set(want) ^ set(have)) or sorted(
                k for k in want if want[k] != have[k]
            )
            raise ValueError(
                f"{path}: its {name} differs from this run's preset {config.preset} "
                f"(first: {', '.join(names[:3])}); give a `preset` matching it."
            )
        differs = option_differences(source[name].get_config(), network.get_config())
        if differs:
            raise ValueError(
                f"{path}: its {name} computes with other options than this run's "
                f"({', '.join(differs[:4])}); give the flags or `preset` it was "
                "trained with."
            )


def option_differences(theirs, ours):
    """`["use_wscale False (this run: True)", ...]`: the options of a source
    network (`theirs`, a config or official kwargs) that differ from ours and
    change what the weights compute (not `NEUTRAL_OPTIONS` or data options)."""
    skip = NEUTRAL_OPTIONS + DATA_OPTIONS
    return [
        f"{key} {theirs[key]!r} (this run: {ours.get(key)!r})"
        for key in sorted(theirs)
        if key not in skip and _plain(theirs[key]) != _plain(ours.get(key))
    ]


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def matching_preset(path):
    """The preset whose networks have exactly the shapes and the options of an
    official pickle's G and D at its resolution (presets of that resolution
    first; options as `option_differences` compares them).

    Candidates are built in a throwaway graph: shapes, no memory.

    Raises:
        ValueError: no preset matches (one line naming `path` and, when one has
            the shapes, the options that differ), or the pickle's own errors
            (`legacy.pickle_shapes`).
    """
    from msg_stylegan_tf2.formats.legacy import pickle_shapes
    from msg_stylegan_tf2.networks.presets import PRESETS

    shapes, options = pickle_shapes(path)
    data = {k: options["G"][k] for k in DATA_OPTIONS if k in options["G"]}
    ranked = sorted(
        PRESETS, key=lambda n: PRESETS[n].G.get("resolution") != data.get("resolution")
    )
    near = None
    for name in ranked:
        built = _preset_networks(name, data)
        if built is None or {k: v[0] for k, v in built.items()} != shapes:
            continue
        differs = [
            f"{key}: {text}"
            for key, (_, config) in built.items()
            for text in option_differences(options[key], config)
        ]
        if not differs:
            return name
        near = near or (name, differs)
    described = ", ".join(f"{k} {v}" for k, v in data.items())
    if near is not None:
        name, differs = near
        raise ValueError(
            f"{path}: preset {name} has its networks' shapes but not their "
            f"options ({', '.join(differs[:4])}); give --preset and the flags "
            "it was trained with."
        )
    raise ValueError(
        f"{path}: no preset has its networks' shapes ({described}); give "
        "--preset with the widths it was trained with."
    )


def _preset_networks(preset, data):
    # {"G": (official shapes, config), "D": ...} of a preset's networks for
    # `data`, built in a throwaway graph; None when the preset cannot take it.
    import tensorflow as tf

    from msg_stylegan_tf2.networks.build import build_networks

    with tf.Graph().as_default():
        try:
            networks = dict(
                zip(("G", "D"), build_networks(preset, **data), strict=True)
            )
        except (ValueError, TypeError):
            return None
        return {
            name: (_official_shapes(network), network.get_config())
            for name, network in networks.items()
        }


def _official_shapes(network):
    return {
        key: tuple(official_shape(variable, layout))
        for key, (variable, layout) in network.official_variable_map().items()
    }


def _shapes(network):
    return {
        name: tuple(variable.shape)
        for name, (variable, _) in network.official_variable_map().items()
    }


def copy_networks(source, state, path):
    """Copies G, D, Gs (the W average included) of `source` into `state`; the
    optimizers and progress counters stay as they are (fresh).

    Raises:
        ValueError: one line naming the network that differs (another preset).
    """
    for name in ("G", "D", "Gs"):
        arrays = official_variables(source[name])
        try:
            assign_official_variables(getattr(state, name), arrays)
        except ValueError as e:
            raise ValueError(
                f"{path}: its {name} differs from this run's preset ({e}); "
                "use the source's preset (see its training_options.json)."
            ) from e
