"""What a run directory's `training_options.json` says of its networks (and
of the data they learnt from), read without the training code or TensorFlow."""

import dataclasses
import json
import pathlib

from msg_stylegan_tf2.networks.presets import ARCHS
from msg_stylegan_tf2.validation import (
    check_fields,
    check_network_options,
    parse_json_object,
)

OPTIONS_FILE = "training_options.json"
# Written with the options of imported networks (`write_network_run`), so
# that the training code reads such a run as one trained in float32:
# `mixed_precision` resolved, never "auto".
IMPORTED_OPTIONS = {"mixed_precision": "off"}


@dataclasses.dataclass(frozen=True)
class NetworkRunOptions:
    """The options of a run that building and using its networks needs; the
    file holds the training's too (`training/config.py`), which this ignores.

    Fields keep the names (and the required ones) of `TrainingConfig`.
    """

    dataset: str
    preset: str
    arch: str
    G_kwargs: dict
    D_kwargs: dict
    mirror_augment: bool = False

    @classmethod
    def from_json(cls, text, where=OPTIONS_FILE):
        """The network options in `text`, checked as a file from a stranger
        may need: an object whose options here are of the right JSON types, a
        known `arch`, and network options that are plain and bounded
        (`validation.check_network_options`).

        Raises:
            ValueError: one line starting with `where`.
        """
        data = parse_json_object(text, where)
        check_fields(data, cls, where, known_only=False)
        check_network_options(data, where, ARCHS)
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: data[name] for name in names if name in data})

    def to_json(self, **others):
        """The options as `training_options.json` holds them, with `others`."""
        return json.dumps(
            {**dataclasses.asdict(self), **others}, indent=2, sort_keys=True
        )


def run_directory(path):
    """The run directory of `path`: a run directory, or its
    `checkpoints/ckpt-N`."""
    path = pathlib.Path(path).expanduser()
    return path if path.is_dir() else path.parent.parent


def read_run_options(run_dir):
    """`NetworkRunOptions` of `<run_dir>/training_options.json`.

    Raises:
        ValueError: one line naming the file: missing, or refused
            (`NetworkRunOptions.from_json`).
    """
    path = pathlib.Path(run_dir) / OPTIONS_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing; is {run_dir} a training run directory?")
    return NetworkRunOptions.from_json(path.read_text(), str(path))
