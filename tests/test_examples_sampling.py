"""The example generators sample by a stable hash of each row, so a rebuilt dataset moves only what it changed."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def modules():
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import make_labels
    import make_ops

    return make_labels, make_ops


def _data_without(tmp: Path, drop: int) -> Path:
    """A data/ holding test.jsonl and train.jsonl, test.jsonl without its *drop*-th line."""
    data = tmp / "data"
    data.mkdir()
    shutil.copy(ROOT / "data" / "train.jsonl", data / "train.jsonl")
    lines = (ROOT / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "test.jsonl").write_text("".join(lines[:drop] + lines[drop + 1:]), encoding="utf-8")
    return data


def _rows(path: Path) -> set[tuple[str, ...]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {tuple(r) for r in csv.reader(f)}


def _run(module, data: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "DATA", data)
    monkeypatch.setattr(sys, "argv", [module.__name__, "--out", str(out)])
    module.main()


@pytest.mark.parametrize("drop", [10, 5000])
def test_one_row_fewer_moves_at_most_two_rows_of_a_sample(modules, tmp_path, monkeypatch, drop):
    make_labels, make_ops = modules
    full, fewer = tmp_path / "full", tmp_path / "fewer"
    fewer.mkdir()
    data_full = ROOT / "data"
    data_fewer = _data_without(fewer, drop)
    for module in (make_labels, make_ops):
        _run(module, data_full, full / "out", monkeypatch)
        _run(module, data_fewer, fewer / "out", monkeypatch)
    # A dropped row that was sampled leaves and the next-ranked one comes in; nothing else moves.
    for name in ("holdout.csv", "rca.csv", "quiz_gold.csv"):
        a, b = _rows(full / "out" / name), _rows(fewer / "out" / name)
        assert len(a ^ b) <= 2, name
    # A trainee's answers are the item's own draws: the same items get the same answers.
    for name in ("quiz_akiko.csv", "quiz_kenji.csv"):
        a, b = _rows(full / "out" / name), _rows(fewer / "out" / name)
        assert len(a ^ b) <= 2, name
