"""atomic_directory: all or nothing, wherever an interrupt lands."""

import pathlib
import shutil

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


def test_an_interrupt_landing_in_the_cleanup_still_cleans_up(tmp_path, monkeypatch):
    # A second Ctrl-C (or SIGTERM) can land inside the removal itself.
    real_rmtree, calls = shutil.rmtree, []

    def interrupted_rmtree(path, ignore_errors=False):
        calls.append(path)
        if len(calls) == 2:  # The cleanup after the body's interrupt.
            real_rmtree(pathlib.Path(path) / "a")  # Half removed...
            raise KeyboardInterrupt  # ...when the next signal lands.
        real_rmtree(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(tmp_path / "half") as tmp:
            (tmp / "a").mkdir()
            (tmp / "b.txt").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [] and len(calls) == 3


def test_an_interrupt_right_after_mkdir_leaves_nothing(tmp_path, monkeypatch):
    real_mkdir = pathlib.Path.mkdir

    def mkdir_then_interrupt(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if self.name.startswith(".half.tmp-"):
            raise KeyboardInterrupt  # Lands between mkdir and the body.

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(tmp_path / "half"):
            pass
    assert list(tmp_path.iterdir()) == []
