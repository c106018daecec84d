"""The resolved training configuration, written as `training_options.json`."""

import dataclasses
import json
import os
import pathlib
import types
import typing

from msg_stylegan_tf2.networks.presets import ARCHS
from msg_stylegan_tf2.training.resume import RESUME_MUST_EQUAL
from msg_stylegan_tf2.validation import check_option_size, is_name, is_plain_option

# The JSON types each annotation of TrainingConfig accepts (bool is not a number).
_JSON_TYPES = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
    dict: (dict,),
    tuple: (list, tuple),
    type(None): (type(None),),
}


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything a run needs; official names where the official code has them."""

    dataset: str
    preset: str
    arch: str
    G_kwargs: dict
    D_kwargs: dict
    loss: str = "logistic"
    r1_gamma: float | None = None
    r2_gamma: float = 0.0
    # Lazy regularization (StyleGAN2): R1/R2 in a D step of their own every N
    # D steps, weighted by N; D's Adam adjusted by N/(N+1). 1: every step.
    r1_interval: int = 1
    batch: int = 16
    total_kimg: float = 25000.0
    lr: float = 0.003
    g_lr: float | None = None
    d_lr: float | None = None
    lrate_rampup_kimg: float = 0.0
    adam_beta1: float = 0.0
    adam_beta2: float = 0.99
    adam_epsilon: float = 1e-8
    D_repeats: int = 1
    G_smoothing_kimg: float = 10.0
    ema_rampup: float | None = None
    ema_decay: float | None = None
    mirror_augment: bool = False
    # Freeze-D (Mo et al. 2020): D's first blocks, from the highest
    # resolution, that keep their weights (FromRGB/combine of their levels too).
    freeze_d: int = 0
    # Fine-tuning: the run directory, checkpoint or pickle the networks came
    # from (None: trained from scratch).
    finetune_from: str | None = None
    # What D sees (`augment.py`): "none", "diffaug" (DiffAugment, every
    # operation on every image) or "ada" (each with ADA's adaptive p).
    augment: str = "none"
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    tick_kimg: float = 10.0
    image_snapshot_ticks: int = 1
    network_snapshot_ticks: int = 10
    keep_checkpoints: int = 3
    grid_images: int = 36
    seed: int = 0
    strategy: str = "auto"
    # "auto" is resolved when a new run's configuration is made (cli.py), which
    # records "off", "bf16" or "fp16" here and, for auto, why in precision_reason.
    mixed_precision: str = "auto"
    precision_reason: str | None = None
    jit: bool = False
    max_images: int | None = None
    data_percentage: float | None = None
    metrics: tuple = ()
    inception: str | None = None
    inception_unverified: bool = False
    # torchvision's VGG16 file for the pr and ppl metrics (None: the cached
    # download), its check skipped, and ppl on NVIDIA's face crop.
    vgg16: str | None = None
    vgg16_unverified: bool = False
    ppl_crop: bool = False
    # ProGAN's progressive growing (arch "progan"): `TrainingSchedule` options
    # (lod_initial_resolution, lod_training_kimg, lod_transition_kimg,
    # minibatch_base, minibatch_dict, G_lrate_dict, D_lrate_dict); None = off.
    sched: dict | None = None
    reset_opt_for_new_lod: bool = True
    # What the command that started the run asked for of the options a resume
    # must not change (`resume.requested_options`): the same command given
    # again with `resume` is accepted. None in runs from before it was kept.
    requested: dict | None = None
    # Options changed at resumes: `{"kimg": k, "options": {name: {"from": a,
    # "to": b}}}` each, in order.
    changes: tuple = ()

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text, where="training_options.json"):
        """The config in `text`, checked as a file from a stranger may need:
        an object of known options of the right JSON types, a known `arch`,
        and network options that are plain and bounded
        (`validation.check_option_size`).

        Raises:
            ValueError: one line starting with `where`.
        """
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:  # JSONDecodeError: ValueError.
            raise ValueError(f"{where}: not valid JSON ({e}).") from None
        if not isinstance(data, dict):
            raise ValueError(
                f"{where}: expected an object of options, not {type(data).__name__}."
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{where}: unknown options {unknown}.")
        missing = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and name not in data
        ]
        if missing:
            raise ValueError(f"{where}: missing options {missing}.")
        for name, value in data.items():
            allowed = _allowed_types(fields[name].type)
            if type(value) not in allowed:
                raise ValueError(
                    f"{where}: option `{name}` must be "
                    f"{' or '.join(t.__name__ for t in allowed)}. "
                    f"Received: {type(value).__name__}"
                )
        if data["arch"] not in ARCHS:
            raise ValueError(
                f"{where}: `arch` must be one of {ARCHS}. Received: "
                f"{data['arch'][:64]!r}"
            )
        for group in ("G_kwargs", "D_kwargs"):
            for key, value in data[group].items():
                if not is_name(key):
                    raise ValueError(
                        f"{where}: {group} has an option named {key[:64]!r}; "
                        "names are 1 to 256 printable characters."
                    )
                if not is_plain_option(value):
                    raise ValueError(
                        f"{where}: {group} `{key}` must be a number, string, bool "
                        "or a short list of numbers."
                    )
                try:
                    check_option_size(key, value)
                except ValueError as e:
                    raise ValueError(f"{where}: {group} {e}") from None
        requested = data.get("requested") or {}
        for key, value in requested.items():
            if key not in RESUME_MUST_EQUAL or not (
                value is None or type(value) in (str, int, float, bool)
            ):
                raise ValueError(
                    f"{where}: `requested` holds {key[:64]!r}: {str(value)[:64]!r}; "
                    f"expected options of {RESUME_MUST_EQUAL} with plain values."
                )
        data["metrics"] = tuple(data.get("metrics", ()))
        data["changes"] = tuple(data.get("changes", ()))
        return cls(**data)

    def save(self, run_dir):
        """Writes `training_options.json` atomically."""
        path = pathlib.Path(run_dir) / "training_options.json"
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(self.to_json() + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, run_dir):
        path = pathlib.Path(run_dir) / "training_options.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing; is {run_dir} a training run directory?")
        return cls.from_json(path.read_text(), str(path))


def _allowed_types(annotation):
    # The JSON value types of a field annotated `annotation` (e.g. float | None).
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType)
        else (annotation,)
    )
    return tuple(t for member in members for t in _JSON_TYPES[member])
