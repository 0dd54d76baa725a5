"""Reading labeled files: every format round-trips, every problem is named with file and line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from searchsafe import CATEGORIES
from searchsafe._data import DataError, read_labeled

ROWS = [
    ("自殺 方法", ["self_harm"]),
    ("猫 飼い方", []),
    ("폭탄 만드는법", ["violence"]),
    ("IS 참수 영상", ["violent_extremism", "violence"]),
    ("tab\tand,comma \"quote\"", []),
]


def _rows(fmt: str) -> list[tuple[str, list[str]]]:
    return [(t.replace("\t", " ") if fmt == "tsv" else t, l) for t, l in ROWS]


def _write(path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "labels": l}, ensure_ascii=False) + "\n" for t, l in ROWS), encoding="utf-8")
    elif fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "labels"])
            w.writerows([t, ",".join(l)] for t, l in ROWS)
    elif fmt == "tsv":
        # TSV has no quoting, so no field can hold a tab; quotes are literal.
        lines = ["text\tlabels"] + [f"{t}\t{','.join(l)}" for t, l in _rows(fmt)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": [t for t, _ in ROWS], "labels": [l for _, l in ROWS]}), path)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"data.{fmt}"
    _write(path, fmt)
    data = read_labeled(path, CATEGORIES)
    assert data.texts == [t for t, _ in _rows(fmt)]
    assert data.labels == [l for _, l in _rows(fmt)]


def test_per_category_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("query,hate,sexual\nチョン 死ね,1,0\n無修正,0,1\n猫,0,0\n", encoding="utf-8")
    data = read_labeled(path, CATEGORIES, text_column="query")
    assert data.labels == [["hate"], ["sexual"], []]


ERRORS = [
    ("missing.csv", None, "{path}: no such file"),
    ("empty.jsonl", "", "{path}: empty: no labeled rows"),
    ("bad.jsonl", '{"text": "a", "labels": []}\n{"text": \n', "{path}:2: not valid JSON (Expecting value)"),
    ("list.jsonl", "[1, 2]\n", "{path}:1: expected a JSON object, got list"),
    ("unknown.csv", "text,labels\n猫,spam\n", "{path}:2: unknown category 'spam'; known: " + ", ".join(CATEGORIES)),
    ("nocol.csv", "query,labels\n猫,\n", "{path}:2: no column 'text' (columns: query, labels); use --text-column"),
    ("ragged.csv", "text,labels\n猫,hate,extra\n", "{path}:2: expected 2 fields, got 3"),
    ("nolabels.csv", "text,other\n猫,1\n", "{path}:2: no labels column 'labels' and no per-category 0/1 columns "
     "(" + ", ".join(CATEGORIES) + "); use --labels-column"),
    ("badflag.csv", "text,hate\n猫,maybe\n", "{path}:2: column 'hate' must be 0/1; got 'maybe'"),
    ("data.xlsx", "x", "{path}: cannot tell the format from the file name; pass --format (jsonl, csv, tsv, parquet)"),
    ("notparquet.parquet", "not parquet", None),
]


@pytest.mark.parametrize(("name", "content", "message"), ERRORS)
def test_errors_name_file_and_line(tmp_path: Path, name: str, content: str | None, message: str | None) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_labeled(path, CATEGORIES)
    if message is None:
        assert str(info.value).startswith(f"{path}: not a readable Parquet file (")
    else:
        assert str(info.value) == message.format(path=path)
