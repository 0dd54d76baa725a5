"""Hostile and awkward data files: every problem is one DataError naming file:line (issue #14)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from searchsafe import CATEGORIES
from searchsafe._data import DataError, iter_table, read_labeled

# TSV has no quoting: quotes are part of the query.
TSV_QUOTES = [
    '"自殺" 方法',
    '"자살',
    'he said "hi',
    '""',
    'a "b" c',
]


def test_tsv_is_read_literally(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("text\tlabels\n" + "".join(f"{q}\tself_harm\n" for q in TSV_QUOTES), encoding="utf-8")
    data = read_labeled(path, CATEGORIES)
    assert data.texts == TSV_QUOTES
    assert data.labels == [["self_harm"]] * len(TSV_QUOTES)
    assert [n for n, _ in iter_table(path)] == [2, 3, 4, 5, 6]


def test_csv_quotes_still_work(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('text,labels\n"""自殺"" 方法",self_harm\n"猫, 犬",\n', encoding="utf-8")
    assert read_labeled(path, CATEGORIES).texts == ['"自殺" 方法', "猫, 犬"]


# (file content, exact error after "<path>:")
CSV_ERRORS = [
    ('text,labels\n猫,\n"自殺 方法,self_harm\n猫 飼い方,\n犬,\n',
     '3: a quoted field opened on this line is not closed before the end of the file (unexpected end of data)'),
    ('text,labels\n猫,\n"自殺 方法,self_harm\n猫 "飼い方",\n',
     "3: a quoted field opened on this line is not closed before line 4 (',' expected after '\"')"),
    ('text,labels\n"自殺\n方法"\n', "2-3: expected 2 fields, got 1; a quote opened on line 2 may be unbalanced"),
    ("text,labels\n猫,,\n", "2: expected 2 fields, got 3"),
]


@pytest.mark.parametrize(("content", "message"), CSV_ERRORS)
def test_csv_errors_name_the_line_a_quote_opened(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_labeled(path, CATEGORIES)
    assert str(info.value) == f"{path}:{message}"


def test_txt_is_not_a_labeled_table(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("text\tlabels\n猫\t\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_labeled(path, CATEGORIES)
    assert str(info.value) == (f"{path}: a .txt file is one query per line and holds no labels; name a labeled "
                               "table .tsv, .csv or .jsonl, or pass --format (jsonl, csv, tsv, parquet)")
    assert read_labeled(path, CATEGORIES, fmt="tsv").texts == ["猫"]


def _jsonl(tmp_path: Path, lines: list[str], name: str = "q.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = '{"text": "猫", "labels": []}'
JSONL_ERRORS = [
    ('{"text": "\\ud800 自殺", "labels": []}',
     "a \\uD800-\\uDFFF escape that is not half of a surrogate pair; the line is not valid Unicode"),
    ('{"text": "猫", "labels": [], "x": {"\\udfff": 1}}',
     "a \\uD800-\\uDFFF escape that is not half of a surrogate pair; the line is not valid Unicode"),
    ('{"text": "猫", "x": ' + "[" * 5000 + "]" * 5000 + "}", "arrays or objects nested too deeply to read"),
    ('{"text": "猫", "x": ' + "7" * 5000 + "}", "a number of 5000 digits; at most 4000 are read"),
    ('{"text": "猫"', "not valid JSON (Expecting ',' delimiter)"),
]


@pytest.mark.parametrize(("line", "message"), JSONL_ERRORS)
def test_jsonl_errors_are_one_line(tmp_path: Path, line: str, message: str) -> None:
    path = _jsonl(tmp_path, [GOOD, line])
    with pytest.raises(DataError) as info:
        read_labeled(path, CATEGORIES)
    assert str(info.value) == f"{path}:2: {message}"


def test_a_valid_surrogate_pair_escape_is_fine(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, ['{"text": "\\ud83d\\ude00 猫", "labels": []}'])
    assert read_labeled(path, CATEGORIES).texts == ["😀 猫"]


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes(("text\tlabels\n" + "猫\t\n" * 6000).encode() + "caf\xe9\t\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_labeled(path, CATEGORIES)
    assert str(info.value) == (f"{path}:6002: not valid UTF-8; pass --encoding with the encoding the file was saved in "
                               "(e.g. cp932, cp949)")


def _gzip(path: Path, n: int) -> bytes:
    blob = gzip.compress(("text\tlabels\n" + "猫 飼い方 一二三四五六七八九十\t\n" * n).encode())
    path.write_bytes(blob)
    return blob


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not gzip"])
def test_damaged_gzip_is_one_line(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "q.tsv.gz"
    blob = _gzip(path, 50_000)
    if damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "corrupt":
        path.write_bytes(blob[:200] + bytes(b ^ 0x5A for b in blob[200:400]) + blob[400:])
    else:
        path.write_bytes(b"plain text\n")
    with pytest.raises(DataError) as info:
        read_labeled(path, CATEGORIES)
    message = str(info.value)
    assert message.startswith(f"{path}:") and "\n" not in message
    line = int(message.split(":")[1])
    # Flipped bits may first show as bytes that are not UTF-8, on their line.
    if damage != "corrupt" or "UTF-8" not in message:
        assert f": the gzip data is truncated or corrupt (" in message
        assert message.endswith(f"; {line - 1} lines were read before it")
