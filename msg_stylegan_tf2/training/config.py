"""The resolved training configuration, written as `training_options.json`."""

import dataclasses
import json
import os
import pathlib

from msg_stylegan_tf2.networks.presets import ARCHS
from msg_stylegan_tf2.training.options import RESUME_MUST_EQUAL, TrainingOptions
from msg_stylegan_tf2.validation import (
    check_fields,
    check_network_options,
    parse_json_object,
)


@dataclasses.dataclass(frozen=True)
class TrainingConfig(TrainingOptions):
    """Everything a run needs: its options (`TrainingOptions`, declared in
    options.py) and what resolving them gave (`resolve.resolve`); official
    names where the official code has them."""

    # The TFRecord directory it trains on, the preset and its architecture.
    dataset: str
    preset: str
    arch: str
    G_kwargs: dict
    D_kwargs: dict
    adam_epsilon: float = 1e-8
    # Why `mixed_precision=auto` chose what `mixed_precision` holds (None:
    # given explicitly).
    precision_reason: str | None = None
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
        network options that are plain and bounded
        (`validation.check_network_options`), and a `requested` record of
        plain values.

        Raises:
            ValueError: one line starting with `where`.
        """
        data = parse_json_object(text, where)
        check_fields(data, cls, where)
        check_network_options(data, where, ARCHS)
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
