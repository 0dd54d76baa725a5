"""Reading labeled query files: JSON Lines, CSV, TSV and Parquet.

A labeled row has a text and its labels. Labels come either as one column
holding a list (JSON Lines) or a comma-separated string (``"hate,violence"``,
empty = benign), or as one 0/1 column per category. Every problem is reported
as :class:`DataError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ._errors import SearchsafeError

__all__ = ["DataError", "LabeledData", "read_labeled", "iter_table", "detect_format"]

FORMATS = ("jsonl", "csv", "tsv", "parquet")
csv.field_size_limit(1 << 24)


class DataError(SearchsafeError, ValueError):
    """A data file is missing, malformed or does not match what was asked of it."""


@dataclass
class LabeledData:
    """Texts with multi-label targets, plus optional per-row metadata."""

    texts: list[str]
    labels: list[list[str]]
    langs: list[str | None] = field(default_factory=list)
    groups: list[str | None] = field(default_factory=list)
    sources: list[str | None] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def extend(self, other: "LabeledData") -> None:
        for name in ("texts", "labels", "langs", "groups", "sources", "tags"):
            getattr(self, name).extend(getattr(other, name))


def detect_format(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise DataError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    name = str(path).lower()
    for suffix, f in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"), (".csv", "csv"),
                      (".tsv", "tsv"), (".txt", "tsv"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return f
    raise DataError(f"{path}: cannot tell the format from the file name; pass --format ({', '.join(FORMATS)})")


def _open_text(path: Path, encoding: str = "utf-8"):
    from ._encoding import python_encoding

    codec = python_encoding(encoding)
    if str(path).endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding=codec, newline="")
    return open(path, encoding=codec, newline="")


def iter_jsonl(lines: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from JSON Lines; *name* is the file named in errors."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{name}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        yield lineno, rec


def iter_delimited(stream: Iterable[str], delimiter: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from CSV or TSV with a header line."""
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(f"{name}:1: {exc}") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    try:
        for row in reader:
            lineno = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise DataError(f"{name}:{lineno}: expected {len(header)} fields, got {len(row)}")
            yield lineno, dict(zip(header, row))
    except csv.Error as exc:
        raise DataError(f"{name}:{reader.line_num}: {exc}") from None


def iter_table(path: str | os.PathLike[str], fmt: str | None = None, *,
               encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from a table file, streaming where the format allows.

    Text formats are decoded with *encoding* (a UTF-8 byte-order mark is dropped);
    Parquet carries its own.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt in ("jsonl", "csv", "tsv"):
        with _open_text(path, encoding) as f:
            if fmt == "jsonl":
                yield from iter_jsonl(f, str(path))
            else:
                yield from iter_delimited(f, "," if fmt == "csv" else "\t", str(path))
        return
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow "
                        "(or, in a clone of searchsafe, pip install '.[parquet]')") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    lineno = 0
    for batch in pf.iter_batches(batch_size=65536):
        for rec in batch.to_pylist():
            lineno += 1
            yield lineno, rec


def text_of(rec: dict[str, Any], column: str, where: str) -> str:
    """The query text in *column* of one record (missing value = empty), or a DataError naming *where*."""
    if column not in rec:
        raise DataError(f"{where}: no column {column!r} (columns: {', '.join(map(str, rec))}); use --text-column")
    text = rec[column]
    if text is None:
        return ""
    if not isinstance(text, str):
        raise DataError(f"{where}: {column!r} must be a string; got {type(text).__name__}")
    return text


def _parse_labels(value: Any, where: str, categories: Sequence[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise DataError(f"{where}: labels {value!r} are not a valid JSON list") from None
        else:
            value = [v.strip() for v in value.replace(";", ",").replace("|", ",").split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: labels must be a list or a comma-separated string; got {value!r}")
    out = []
    for v in value:
        if not isinstance(v, str):
            raise DataError(f"{where}: label {v!r} is not a string")
        v = v.strip()
        if v in ("", "none", "benign"):
            continue
        if v not in categories:
            raise DataError(f"{where}: unknown category {v!r}; known: {', '.join(categories)}")
        if v not in out:
            out.append(v)
    return out


def _truthy(value: Any, where: str, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "y", "1.0"):
        return True
    if s in ("0", "false", "no", "n", "", "0.0"):
        return False
    raise DataError(f"{where}: column {column!r} must be 0/1; got {value!r}")


def read_labeled(
    path: str | os.PathLike[str],
    categories: Sequence[str],
    *,
    text_column: str = "text",
    labels_column: str | None = "labels",
    fmt: str | None = None,
) -> LabeledData:
    """Read a labeled file into :class:`LabeledData`.

    If *labels_column* is absent from the file, one 0/1 column per category is
    looked for instead.
    """
    data = LabeledData([], [], [], [], [], [])
    per_category_columns: list[str] | None = None
    for lineno, rec in iter_table(path, fmt):
        where = f"{path}:{lineno}"
        text = text_of(rec, text_column, where)
        if labels_column is not None and labels_column in rec:
            labels = _parse_labels(rec[labels_column], where, categories)
        else:
            if per_category_columns is None:
                per_category_columns = [c for c in categories if c in rec]
                if not per_category_columns:
                    raise DataError(
                        f"{where}: no labels column {labels_column!r} and no per-category 0/1 columns "
                        f"({', '.join(categories)}); use --labels-column"
                    )
            labels = [c for c in per_category_columns if _truthy(rec.get(c, 0), where, c)]
        data.texts.append(text)
        data.labels.append(labels)
        data.langs.append(rec.get("lang"))
        data.groups.append(rec.get("group"))
        data.sources.append(rec.get("source"))
        tags = rec.get("tags") or []
        data.tags.append(list(tags) if isinstance(tags, list) else [t for t in str(tags).split(",") if t])
    if not data.texts:
        raise DataError(f"{path}: empty: no labeled rows")
    return data
