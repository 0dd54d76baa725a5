"""The README's console walkthrough runs as written, in a copy of the checkout.

Every ``$ command`` line of the README's ``console`` blocks runs in order in one
shell working directory, as a reader would type them; a command followed by
``$ echo $?`` must exit with the code printed under it, every other one with 0.
Every line the README prints under a command must appear in what it printed
(stdout or stderr): a rebuild of the data or the model that changes an output
fails here until the README shows the new one. A line ``...`` stands for lines
left out; inside a line, ``...`` and ``…`` match anything. Timings, digests,
library versions and the machine's core count are masked on both sides. Commands
that need a cluster, an install or a placeholder the reader fills in are left
out, and the Spark ones run only where Java and pyspark are present.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

# Installs, a cluster, a digest the reader substitutes and the Parquet log the Spark
# section shows as an example (the walkthrough writes none): not runnable here.
_NOT_HERE = re.compile(r"^(pip install|spark-submit)|--master yarn|hdfs://|\bDIGEST\b|\blogs\.parquet\b")
_SPARK = re.compile(r"^searchsafe spark ")
# Commands whose exit code the README gives in prose ("exits 1 when anything changes",
# "Both exit 1 when they find a disagreement"): 0 or 1, depending on the data.
_DIFF = re.compile(r"^searchsafe (policy )?diff ")


@dataclass
class Step:
    line: int
    command: str
    expect: int
    shown: list[tuple[int, str]] = field(default_factory=list)  # (README line, text) printed under it


# What differs between two runs or two machines, masked before comparing.
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(\.\d+)? s\b"), "<t> s"),
    (re.compile(r"[\d,.]+ rows/s"), "<n> rows/s"),
    (re.compile(r"\(\d+ cores?\)"), "(<n> cores)"),
    (re.compile(r"^(versions:\s+).*"), r"\1<versions>"),
]


def _masked(text: str) -> str:
    text = text.strip()
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _pattern(shown: str) -> re.Pattern[str]:
    """A shown line as a pattern over one printed line: "..." and "…" match anything."""
    parts = re.split(r"\.\.\.|…", _masked(shown))
    return re.compile("^" + ".*".join(re.escape(p) for p in parts) + "$")


def missing_lines(step: Step, printed: str) -> list[tuple[int, str]]:
    """The lines the README shows under *step* that its run did not print."""
    got = [_masked(line) for line in printed.splitlines()]
    out = []
    for line, shown in step.shown:
        if shown.strip() in ("", "...", "…"):
            continue
        pattern = _pattern(shown)
        if not any(pattern.match(g) for g in got):
            out.append((line, shown))
    return out


def _commands(block: list[str], first_line: int) -> list[Step]:
    """The block's commands (continuations joined), each with the exit code the README shows for it."""
    steps: list[Step] = []
    k = 0
    while k < len(block):
        text = block[k]
        if not text.startswith("$ "):
            k += 1
            continue
        line = first_line + k
        command = text[2:]
        while command.rstrip().endswith("\\") and k + 1 < len(block):
            k += 1
            command = command.rstrip()[:-1] + " " + block[k].strip()
        command = re.sub(r"\s+#.*$", "", command).strip()
        if command == "echo $?":
            shown = block[k + 1].strip() if k + 1 < len(block) else ""
            if steps and shown.isdigit():
                steps[-1].expect = int(shown)
        else:
            steps.append(Step(line, command, 0))
            while k + 1 < len(block) and not block[k + 1].startswith("$ "):
                k += 1
                steps[-1].shown.append((first_line + k, block[k]))
        k += 1
    return steps


def walkthrough() -> list[Step]:
    lines = README.read_text(encoding="utf-8").splitlines()
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```console"):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            steps += _commands(lines[i + 1 : j], i + 2)
            i = j
        i += 1
    return steps


def _spark_ready() -> bool:
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


def test_the_walkthrough_parses() -> None:
    steps = walkthrough()
    commands = [s.command for s in steps]
    assert "python examples/make_labels.py" in commands
    assert any(c.startswith("searchsafe train ") for c in commands)
    # The exit codes the README prints under `echo $?` are read.
    assert any(s.expect != 0 for s in steps)


@pytest.mark.parametrize(
    "shown, printed, found",
    [
        ("1510 entries, 2 flagged (0.13 %)", "1510 entries, 2 flagged (0.13 %)\n", True),
        ("1510 entries, 2 flagged (0.13 %)", "1510 entries, 3 flagged (0.20 %)\n", False),
        ("verified .../models/default", "verified /home/x/models/default", True),
        ("stage 0 (parquet): 1/1 tasks, … s", "stage 0 (parquet): 1/1 tasks, 4.4 s", True),
        ("wrote my-model (58067 weights, 3.6 s)", "wrote my-model (58067 weights, 2.9 s)", True),
        ("wrote my-model (58067 weights, 3.6 s)", "wrote my-model (58066 weights, 3.6 s)", False),
        ("digest: sha256:5ce571a60f8abf5d (pin it)", "digest: sha256:0123456789abcdef (pin it)", True),
        ("started Spark 4.3.0 on local[*] (2 cores) in … s", "started Spark 4.3.0 on local[*] (8 cores) in 9.1 s", True),
        ("versions:   searchsafe 0.1.0, numpy 2.4.6", "versions:   searchsafe 0.1.0, numpy 2.5.0", True),
        ("...", "anything", True),
    ],
)
def test_shown_lines_are_compared_with_what_was_printed(shown: str, printed: str, found: bool) -> None:
    step = Step(1, "cmd", 0, [(2, shown)])
    assert (missing_lines(step, printed) == []) is found


def test_the_lines_shown_under_a_command_belong_to_it() -> None:
    steps = _commands(["$ searchsafe sweep default top.txt", "1510 entries", "$ echo $?", "0", "$ ls"], 10)
    assert [(s.command, s.expect, s.shown) for s in steps] == [
        ("searchsafe sweep default top.txt", 0, [(11, "1510 entries")]),
        ("ls", 0, []),
    ]


def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    # A copy of examples/ (never the checkout's own examples/out) beside the real data/.
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("out", "__pycache__"))
    (tmp_path / "data").symlink_to(REPO / "data", target_is_directory=True)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    cwd = tmp_path
    spark = _spark_ready()
    failures = []
    for step in walkthrough():
        c = step.command
        if c.startswith("cd "):
            cwd = (cwd / c[3:].strip()).resolve()
            assert tmp_path in (cwd, *cwd.parents), f"README line {step.line}: cd leaves the walkthrough folder"
            continue
        if _NOT_HERE.search(c) or (_SPARK.search(c) and not spark):
            continue
        proc = subprocess.run(["bash", "-c", c], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        allowed = {0, 1} if _DIFF.search(c) and step.expect == 0 else {step.expect}
        if proc.returncode not in allowed:
            failures.append(f"README line {step.line}: $ {c}\n  exit {proc.returncode}, README shows "
                            f"{' or '.join(map(str, sorted(allowed)))}\n  stderr: {proc.stderr.strip()[-1500:]}")
            continue
        missing = missing_lines(step, proc.stdout + "\n" + proc.stderr)
        if missing:
            printed = (proc.stdout + proc.stderr).strip()[-2000:]
            failures.append(f"README line {step.line}: $ {c}\n  the README shows lines it did not print:\n"
                            + "\n".join(f"    line {n}: {t}" for n, t in missing)
                            + f"\n  it printed:\n{printed}")
    assert not failures, "\n".join(failures)
