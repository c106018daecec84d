"""The scripts' shared error line: library option names shown as their flags."""

from dnnlib.cli import as_flags, fail, out_of_memory


def test_options_become_the_scripts_flags():
    message = (
        "mixed colour modes; pass `channels=3` (or 1). `dataset`: x does not "
        "exist; pass `inception_unverified=True`, not `shuffle=False`; `other`."
    )
    shown = as_flags(
        message, ["channels", "dataset", "inception_unverified", "shuffle"]
    )
    assert shown == (
        "mixed colour modes; pass --channels=3 (or 1). --dataset: x does not "
        "exist; pass --inception_unverified, not --noshuffle; `other`."
    )
    assert as_flags(message, []) == message  # The Python API's words.


def test_fail_prints_one_line(capsys):
    assert fail("tool.py", "`loss` must be one of [...]", ["loss"]) == 1
    assert capsys.readouterr().err == "tool.py: error: --loss must be one of [...]\n"


def test_out_of_memory_names_the_flag_to_lower(capsys):
    assert out_of_memory("generate.py", "batch", 4000) == 1
    assert capsys.readouterr().err == (
        "generate.py: error: out of memory at --batch=4000; lower --batch.\n"
    )
    assert out_of_memory("export.py") == 1  # A script without a batch flag.
    assert capsys.readouterr().err == (
        "export.py: error: out of memory; free memory or use a machine with more.\n"
    )
