"""The documentation (README.md and docs/*.md) and the command-line tools
agree on their flags.

Every flag a CLI defines is written as `--name` (or `--noname`) in a section
that names the CLI, or in a subsection of one, in any of those files (sections
are per file); every `--name` in them is a flag of one of the repository's
tools (the CLIs, bench/), the `--noname` negation of a boolean one, absl's own,
or another program's in `OTHER_TOOLS`.
"""

import ast
import functools
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLIS = (
    "train",
    "selfcheck",
    "dataset_tool",
    "run_metrics",
    "generate",
    "export",
    "convert",
    "plot_stability",
    "project",
)
# Flags absl adds to every program (app.run) that a README may mention.
ABSL_FLAGS = {"help", "helpshort", "helpfull", "helpxml", "flagfile", "undefok"}
# Flags of other programs the docs may show: pip's, pytest's, tensorboard's.
OTHER_TOOLS = {"upgrade", "user", "durations", "logdir"}
README_FLAG = re.compile(r"(?<![\w-])--([A-Za-z][\w-]*)")

# Import each CLI in turn and list the flags its import defined (wherever they
# are defined), then remove them: CLIs share flag names such as --outdir.
COLLECT = """
import importlib, json, sys
from absl import app, flags, logging
FLAGS = flags.FLAGS
result = {}
for module in sys.argv[1:]:
    before = set(FLAGS)
    importlib.import_module(module)
    new = sorted(set(FLAGS) - before)
    result[module] = {n: isinstance(FLAGS[n], flags.BooleanFlag) for n in new}
    for name in new:
        delattr(FLAGS, name)
print(json.dumps(result))
"""


@functools.cache
def cli_flags():
    """{cli: {flag: is_boolean}} for the CLIs, imported in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-c", COLLECT, *CLIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def bench_flags():
    """{flag: is_boolean} of the bench/ scripts, from their `flags.DEFINE_*`
    calls (importing them loads TensorFlow)."""
    found = {}
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("DEFINE_")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found[node.args[0].value] = node.func.attr == "DEFINE_boolean"
    return found


def sections(markdown):
    """(own text, text with its subsections) of each section of `markdown`;
    the title (`# `) holds no subsections; `#` lines in code blocks are code."""
    parts, fenced = [(0, [])], False  # (heading level, lines)
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#{1,6}) ", line)
        if heading:
            parts.append((len(heading.group(1)), []))
        parts[-1][1].append(line)
    result = []
    for i, (level, lines) in enumerate(parts):
        end = i + 1
        while end < len(parts) and parts[end][0] > level >= 2:
            end += 1
        nested = [line for _, more in parts[i:end] for line in more]
        result.append(("\n".join(lines), "\n".join(nested)))
    return result


def markdown_files():
    """README.md and every docs/*.md page: {relative path: text}."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return {str(path.relative_to(ROOT)): path.read_text() for path in paths}


def names_cli(text, cli):
    return re.search(rf"(?<![\w/.-]){cli}\.py\b", text) is not None


def undocumented(files, clis):
    """{"cli.py": ["--flag", ...]} of flags absent from the sections on it.

    Args:
        files: the markdown texts (an iterable); sections are per text.
        clis: {cli: {flag: is_boolean}}.
    """
    parts = [part for markdown in files for part in sections(markdown)]
    missing = {}
    for cli, defined in clis.items():
        about = [nested for own, nested in parts if names_cli(own, cli)]
        written = {name for text in about for name in README_FLAG.findall(text)}
        gaps = [
            f"--{name}"
            for name, boolean in sorted(defined.items())
            if name not in written and not (boolean and "no" + name in written)
        ]
        if gaps:
            missing[f"{cli}.py"] = gaps
    return missing


def unknown(markdown, defined):
    """README flags that are not in `defined` ({flag: is_boolean}), not the
    negation of a boolean one, nor absl's or another program's."""
    known = set(defined) | ABSL_FLAGS | OTHER_TOOLS
    known |= {"no" + name for name, boolean in defined.items() if boolean}
    return sorted({f"--{n}" for n in README_FLAG.findall(markdown) if n not in known})


def test_every_cli_flag_is_in_a_section_about_that_cli():
    for cli, defined in cli_flags().items():
        assert defined, f"{cli}.py defines no flags: is it still an absl CLI?"
    missing = undocumented(markdown_files().values(), cli_flags())
    assert not missing, (
        f"flags missing from the sections on each CLI in README.md and docs/: {missing}"
    )


def test_every_documented_flag_belongs_to_a_tool():
    defined = bench_flags()
    for flags in cli_flags().values():
        defined.update(flags)
    extra = {}
    for path, markdown in markdown_files().items():
        if flags := unknown(markdown, defined):
            extra[path] = flags
    assert not extra, f"documented flags that no tool defines: {extra}"


def test_the_docs_are_read():
    files = markdown_files()
    assert "README.md" in files
    assert any(path.startswith("docs/") for path in files), files


def test_the_checks_read_markdown():
    line = "| `--use_wscale=false`, `--nocheck` | x--y |---| --G_smoothing_kimg"
    assert README_FLAG.findall(line) == ["use_wscale", "nocheck", "G_smoothing_kimg"]
    assert README_FLAG.findall("pip install --no-cache-dir") == ["no-cache-dir"]
    assert names_cli("run `python train.py --x`", "train")
    assert not names_cli("bench/train_throughput.py", "train")
    assert not names_cli("msg_stylegan_tf2/formats/export.py", "export")
    readme = "\n".join(
        [
            "# Title: a.py",
            "## A",
            "`python a.py --x`",
            "```",
            "# code, not a heading: --y",
            "```",
            "### Sub",
            "`--noz`",
            "## B",
            "`--w` (b.py), `--help`, `--upgrade`, `--v`",
        ]
    )
    clis = {"a": {"x": False, "y": False, "z": True, "w": False}, "b": {"w": False}}
    assert undocumented([readme], clis) == {"a.py": ["--w"]}
    # Sections are per file: a page that names b.py covers b's flags, and a
    # heading in one file does not extend into the next.
    page = "\n".join(["## B: b.py", "`--w`"])
    assert undocumented([readme, page], clis) == {"a.py": ["--w"]}
    assert undocumented(["## A: a.py\n`--x`", "`--y --noz --w`"], clis) == {
        "a.py": ["--w", "--y", "--z"],
        "b.py": ["--w"],
    }
    assert unknown(readme, {"x": False, "y": False, "z": True, "w": False}) == ["--v"]


def resume_options():
    """(must-equal, changeable, process-only) option names of a resume, from
    their declarations."""
    from msg_stylegan_tf2.training import options

    fixed = set(options.RESUME_MUST_EQUAL)
    changeable = set(options.RESUME_CHANGEABLE) | set(options.PROCESS_OPTIONS)
    process = {
        name
        for name, declared in options.OPTIONS.items()
        if declared.resume == "process" and name not in options.PROCESS_OPTIONS
    }
    return fixed, changeable, process


def test_train_py_has_a_flag_for_each_declared_option_and_no_other():
    from msg_stylegan_tf2.training.options import OPTIONS

    defined = cli_flags()["train"]
    assert set(defined) == set(OPTIONS)
    for name, declared in OPTIONS.items():
        assert defined[name] == (declared.type is bool), name


def sentence(marker):
    """The flags of the one sentence, in README.md or docs/, that starts at
    `marker` and ends at the first period followed by a space or newline."""
    found = [(path, text) for path, text in markdown_files().items() if marker in text]
    assert len(found) == 1, f"{marker!r} in {[path for path, _ in found]}"
    text = found[0][1]
    start = text.index(marker)
    end = re.compile(r"\.(\s|$)").search(text, start).start()
    return set(README_FLAG.findall(text[start:end]))


def test_readme_lists_every_flag_a_resume_refuses():
    fixed, _, _ = resume_options()
    assert sentence("The flags fixed for a run are") == fixed


def test_docs_list_every_flag_a_resume_may_change():
    _, changeable, _ = resume_options()
    assert sentence("The other training flags given with") - {"resume"} == changeable


def test_docs_list_every_flag_of_the_process_only():
    _, _, process = resume_options()
    assert sentence("`--outdir`, `--deterministic`, `--cache_dir`") == process - {
        "resume"
    }
