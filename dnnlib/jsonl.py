"""A run's `<name>.jsonl` files: one JSON object a line."""

import json
import os
import pathlib


def _kimg(record):
    return record["kimg"]


class JsonLines:
    """A run's `<name>.jsonl`: one JSON object a line.

    Args:
        path: the file (created at the first record).
        kimg: `kimg(record)`, the kimg that `drop_after` reads from a record
            (default its `kimg` entry).
    """

    def __init__(self, path, kimg=_kimg):
        self.path = pathlib.Path(path)
        self.kimg = kimg

    def append(self, record):
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def drop_after(self, kimg):
        """Keeps the records up to `kimg` (a resume redoes the rest), atomically."""
        if not self.path.is_file():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if self.kimg(json.loads(line)) <= kimg + 1e-9]
        if len(kept) == len(lines):
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(kept))
        os.replace(tmp, self.path)
