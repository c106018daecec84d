"""A run's jsonl files: appended records, and those after a resumed kimg dropped."""

import json

from dnnlib.jsonl import JsonLines


def test_records_after_a_kimg_are_dropped_atomically(tmp_path):
    records = JsonLines(tmp_path / "stats.jsonl")
    records.drop_after(1.0)  # No file yet: nothing to do.
    for kimg in (0.5, 1.0, 1.5, 2.0):
        records.append({"kimg": kimg, "loss": kimg * 2})
    records.drop_after(1.0)
    lines = (tmp_path / "stats.jsonl").read_text().splitlines()
    assert [json.loads(line)["kimg"] for line in lines] == [0.5, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.jsonl"]
    records.append({"kimg": 1.5, "loss": 3.0})
    assert json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[-1]) == {
        "kimg": 1.5,
        "loss": 3.0,
    }


def test_records_are_dropped_by_the_kimg_a_layout_keeps(tmp_path):
    def kimg(record):
        return record["Progress/kimg"]["mean"]

    records = JsonLines(tmp_path / "stats.jsonl", kimg)
    for k in (0.5, 1.0, 1.5):
        records.append({"Progress/kimg": {"num": 1, "mean": k, "std": 0.0}})
    records.drop_after(0.5)
    lines = (tmp_path / "stats.jsonl").read_text().splitlines()
    assert [kimg(json.loads(line)) for line in lines] == [0.5]
