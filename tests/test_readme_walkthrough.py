"""The README's console walkthrough runs as written, in a copy of the checkout.

Every ``$ command`` line of the README's ``console`` blocks runs in order in one
shell working directory, as a reader would type them; a command followed by
``$ echo $?`` must exit with the code printed under it, every other one with 0.
The printed outputs are not compared: they move with every rebuild of the data
and the model. What this catches is a command, option or file the README names
that no longer exists or fails. Commands that need a cluster, an install or a
placeholder the reader fills in are left out, and the Spark ones run only where
Java and pyspark are present.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
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
    assert not failures, "\n".join(failures)
