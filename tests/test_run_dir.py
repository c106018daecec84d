"""Run directories: ids that never collide, one trainer per run directory."""

import multiprocessing
import pathlib
import subprocess
import sys

import pytest

from dnnlib.run_dir import RunLock, create_run_dir, latest_run

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _create_many(outdir, desc, count, barrier):
    barrier.wait()  # All processes scan and create at once.
    return [create_run_dir(outdir, desc).name for _ in range(count)]


def test_concurrent_run_ids_never_collide(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = 8
    with context.Manager() as manager:
        barrier = manager.Barrier(workers)
        with context.Pool(workers) as pool:
            jobs = [
                pool.apply_async(_create_many, (tmp_path, f"w{i}", 5, barrier))
                for i in range(workers)
            ]
            names = [name for job in jobs for name in job.get(timeout=120)]
    ids = sorted(int(name[:5]) for name in names)
    assert ids == list(range(workers * 5))


def test_latest_run_is_the_newest_with_options(tmp_path):
    assert latest_run(tmp_path) is None
    old = create_run_dir(tmp_path, "a")
    (old / "training_options.json").write_text("{}")
    create_run_dir(tmp_path, "b")  # Killed before it wrote its options.
    assert latest_run(tmp_path) == old


def test_a_run_directory_has_one_trainer(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(ValueError) as error:
            with RunLock(tmp_path):
                pass
    message = str(error.value)
    assert message.startswith(f"{tmp_path}: in use by pid ") and "\n" not in message
    with RunLock(tmp_path):  # Released on exit.
        pass


def test_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from dnnlib.run_dir import RunLock; "
            f"lock = RunLock({str(tmp_path)!r}).__enter__(); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(ValueError, match=f"pid {holder.pid} on "):
        RunLock(tmp_path).__enter__()
    holder.kill()
    holder.wait()
    with RunLock(tmp_path):  # SIGKILL released it.
        pass
