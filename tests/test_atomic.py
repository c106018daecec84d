"""atomic_directory: all or nothing."""

import pytest

from dnnlib.atomic import atomic_directory


def test_success_renames_and_failure_leaves_nothing(tmp_path):
    with atomic_directory(tmp_path / "done") as tmp:
        (tmp / "a.txt").write_text("x")
    assert (tmp_path / "done" / "a.txt").read_text() == "x"
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(tmp_path / "half") as tmp:
            (tmp / "a.txt").write_text("x")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]
    with pytest.raises(ValueError, match="done already exists"):
        with atomic_directory(tmp_path / "done"):
            pass
