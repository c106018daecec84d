"""The classic datasets' source readers: the pickle loader, in a fresh process
for each hostile CIFAR batch (one line naming the file, no crash, nothing run)."""

import re

import pickle_attacks
import pytest

# Why each hostile batch of pickle_attacks.cifar_attacks must be refused.
CIFAR_REASONS = {
    "object array from pointer bytes": "refused the dtype O;",
    "dtype fields out of bounds": "refused the dtype V8;",
    "shared nested lists": "refused more than 2000000 values",
    "self-containing list": "refused a container that contains itself",
    "deep tuple as dict key": "refused a dict key of type tuple",
    "shape larger than its bytes": "needs 4000 bytes; the pickle gives 8",
    "system call": "refused to load the global posix.system",
}


def test_the_hostile_set_is_complete():
    assert sorted(pickle_attacks.cifar_attacks("M")) == sorted(CIFAR_REASONS)


@pytest.mark.parametrize("name", sorted(CIFAR_REASONS))
def test_hostile_batches_are_refused_in_their_own_process(tmp_path, name):
    # Read and checked as create_cifar100 does, in a fresh Python: one line
    # naming the file, no crash, hang or traceback, nothing run.
    marker = tmp_path / "MARKER"
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(pickle_attacks.cifar_attacks(marker)[name])
    result = pickle_attacks.load_in_subprocess(folder, "cifar")
    pickle_attacks.assert_refused_in_one_line(result, folder / "train", marker)
    assert re.search(f": cannot unpickle \\(.*{CIFAR_REASONS[name]}", result.stdout)
