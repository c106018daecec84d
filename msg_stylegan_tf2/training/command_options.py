"""The options of a training command that its config does not record as
given: those that shape what `resolve` derives (the dataset, the preset, the
networks' options, the image conversion) and those of this process only.
Each declared once (`declaration.Option`); options.py gathers them with the
config's own. No TensorFlow here."""

from datasets.images import LABELS_FROM
from datasets.transforms import TRANSFORMS
from msg_stylegan_tf2.choices import COMBINE_FUNCTIONS
from msg_stylegan_tf2.networks.presets import ARCHS, PRESETS
from msg_stylegan_tf2.training.declaration import (
    MUST_EQUAL,
    PROCESS,
    Option,
    one_or_three,
    power_of_two,
)


def _auto_needs_a_dataset(name, value, given):
    if value != "auto":
        return
    if given.get("arch") not in (None, "msg_stylegan"):
        raise ValueError(
            "`preset=auto` picks MSG-StyleGAN presets; give `preset` for "
            f"`arch={given['arch']}`."
        )
    if not given.get("dataset"):
        raise ValueError(
            "`preset=auto` needs `dataset` (it reads the dataset's resolution)."
        )


def _arch_of(given):
    # The architecture the given preset (else arch) names; None: not known yet.
    preset = PRESETS.get(given.get("preset"))
    return preset.arch if preset else given.get("arch")


def _preset_of_arch(name, value, given):
    preset = given.get("preset")
    if preset in PRESETS and PRESETS[preset].arch != value:
        raise ValueError(
            f"`arch={value}` but `preset={preset}` is {PRESETS[preset].arch}; "
            f"choose a {value} preset."
        )


def _msg_only(name, value, given):
    if _arch_of(given) == "progan":
        raise ValueError(
            f"`{name}` applies to MSG discriminators; progan's D has none."
        )


COMMAND_OPTIONS = (
    Option(
        "dataset",
        str,
        None,
        "TFRecord dir, image folder or .zip (default: the emoji demo).",
        MUST_EQUAL,
    ),
    Option(
        "preset",
        str,
        None,
        "Network preset (default: auto for `dataset`, else `arch`'s demo).",
        MUST_EQUAL,
        choices=("auto", *sorted(PRESETS)),
        check=_auto_needs_a_dataset,
    ),
    Option(
        "arch",
        str,
        None,
        "Architecture; without `preset`, its default preset (progan: "
        "progan_demo_32, growing 4x4 to 32x32).",
        MUST_EQUAL,
        choices=ARCHS,
        check=_preset_of_arch,
    ),
    Option(
        "resolution",
        int,
        None,
        "Resolution for image folders/zips (default: the dataset's with "
        "`preset=auto`, else the preset's).",
        MUST_EQUAL,
        check=power_of_two,
    ),
    Option(
        "combine",
        str,
        None,
        "D combine function.",
        MUST_EQUAL,
        choices=COMBINE_FUNCTIONS,
        check=_msg_only,
    ),
    Option(
        "use_wscale",
        bool,
        True,
        "Equalized learning rate (off: plain init; {default}).",
        MUST_EQUAL,
    ),
    Option(
        "spectral_norm",
        str,
        "none",
        "Spectral normalisation of every conv/dense layer of D, or of D and G "
        "({default}).",
        MUST_EQUAL,
        choices=("none", "D", "both"),
    ),
    Option(
        "transform",
        str,
        "center-crop",
        "Image folders/zips: how non-square images become square ({default}; "
        "center-crop-wide: NVIDIA's).",
        MUST_EQUAL,
        choices=TRANSFORMS,
        conversion=True,
    ),
    Option(
        "channels",
        int,
        None,
        "Image folders/zips: convert every image to 1 or 3 channels.",
        MUST_EQUAL,
        check=one_or_three,
        conversion=True,
    ),
    Option(
        "labels_from",
        str,
        "auto",
        "Image folders/zips: labels from NVIDIA's dataset.json, a class per top "
        "folder, or none ({default}: dataset.json when the dataset has one, "
        "else none).",
        MUST_EQUAL,
        choices=LABELS_FROM,
        conversion=True,
    ),
    Option(
        "outdir",
        str,
        "results",
        "Where run directories are created ({default}).",
        PROCESS,
    ),
    Option(
        "resume",
        str,
        None,
        "'latest' or a run directory or checkpoint path; alone, or added to the "
        "command that started the run (options that cannot change must then "
        "equal the run's).",
        PROCESS,
    ),
    Option("cache_dir", str, None, "Where image folders/zips are converted.", PROCESS),
    Option(
        "deterministic",
        bool,
        False,
        "Deterministic ops (bit-exact reruns; {default}).",
        PROCESS,
    ),
    Option(
        "dry_run",
        bool,
        False,
        "Print the resolved options and exit ({default}).",
        PROCESS,
    ),
)
