"""A run's `<name>.jsonl` files: one JSON object a line."""

import json
import os
import pathlib


class JsonLines:
    """A run's `<name>.jsonl`: one JSON object a line (with a `kimg` where
    records are dropped by it).

    Args:
        path: the file (created at the first record).
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def append(self, record):
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def drop_after(self, kimg):
        """Keeps the records up to `kimg` (a resume redoes the rest), atomically."""
        if not self.path.is_file():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line)["kimg"] <= kimg + 1e-9]
        if len(kept) == len(lines):
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(kept))
        os.replace(tmp, self.path)
