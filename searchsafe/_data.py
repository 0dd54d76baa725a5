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
import re
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
                      (".tsv", "tsv"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return f
    if name.endswith((".txt", ".txt.gz")):
        # Elsewhere a .txt file is one query per line: it holds no labels.
        raise DataError(f"{path}: a .txt file is one query per line and holds no labels; "
                        f"name a labeled table .tsv, .csv or .jsonl, or pass --format ({', '.join(FORMATS)})")
    raise DataError(f"{path}: cannot tell the format from the file name; pass --format ({', '.join(FORMATS)})")


def _text_lines(path: Path, encoding: str = "utf-8") -> Iterator[str]:
    """The decoded lines of a file (gzipped or not), endings kept; errors name the line."""
    import gzip
    import zlib

    from ._encoding import decode_error_message, python_encoding

    codec = python_encoding(encoding)
    name = str(path)
    lineno = 0
    try:
        with (gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb")) as f:
            # Decoded line by line, not through a text wrapper, so that a bad
            # byte is reported on its line rather than at a buffer's offset.
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode(codec)
                except UnicodeDecodeError:
                    raise DataError(decode_error_message(name, encoding, lineno=lineno, raw=raw)) from None
                yield line.lstrip("\ufeff") if lineno == 1 else line
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{name}:{lineno + 1}: the gzip data is truncated or corrupt ({exc}); "
                        f"{lineno} lines were read before it") from None


_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INT_DIGITS = 4000


def _int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        raise _TooLong(len(text))
    return int(text)


class _TooLong(Exception):
    pass


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def iter_jsonl(lines: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from JSON Lines; *name* is the file named in errors."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.lstrip("\ufeff"), parse_int=_int)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{lineno}: not valid JSON ({exc.msg})") from None
        except _TooLong as exc:
            raise DataError(f"{name}:{lineno}: a number of {exc.args[0]} digits; at most "
                            f"{_MAX_INT_DIGITS} are read") from None
        except RecursionError:
            raise DataError(f"{name}:{lineno}: arrays or objects nested too deeply to read") from None
        if not isinstance(rec, dict):
            raise DataError(f"{name}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        # A \ud800 escape decodes to half a surrogate pair: no UTF-8 writer can
        # write it back, so the line is refused here rather than in an output.
        if "\\u" in line and _has_surrogate(rec):
            raise DataError(f"{name}:{lineno}: a \\uD800-\\uDFFF escape that is not half of a surrogate pair; "
                            "the line is not valid Unicode")
        yield lineno, rec


def iter_delimited(stream: Iterable[str], delimiter: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from CSV or TSV with a header line.

    TSV has no quoting: each line is split at tabs and a quote is a character
    like any other. CSV follows RFC 4180; a quote left open is reported on the
    line where it opened.
    """
    if delimiter == "\t":
        yield from _iter_tsv(stream, name)
        return
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    start = 1
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(_csv_error(name, 1, reader.line_num, exc)) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(_csv_error(name, start, reader.line_num, exc)) from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            where = f"{name}:{start}" + (f"-{reader.line_num}" if reader.line_num > start else "")
            raise DataError(f"{where}: expected {len(header)} fields, got {len(row)}"
                            + ("; a quote opened on line " + str(start) + " may be unbalanced"
                               if reader.line_num > start else ""))
        yield start, dict(zip(header, row))


def _csv_error(name: str, start: int, end: int, exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc) or end > start:
        return (f"{name}:{start}: a quoted field opened on this line is not closed before "
                f"{'the end of the file' if 'end of data' in str(exc) else 'line ' + str(end)} ({exc})")
    return f"{name}:{start}: {exc}"


def _iter_tsv(stream: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    header: list[str] | None = None
    for lineno, line in enumerate(stream, 1):
        line = line.rstrip("\r\n")
        if header is None:
            header = [h.strip().lstrip("\ufeff") for h in line.split("\t")]
            continue
        if not line.strip():
            continue
        row = line.split("\t")
        if len(row) != len(header):
            raise DataError(f"{name}:{lineno}: expected {len(header)} tab-separated fields, got {len(row)}")
        yield lineno, dict(zip(header, row))


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
        lines = _text_lines(path, encoding)
        try:
            if fmt == "jsonl":
                yield from iter_jsonl(lines, str(path))
            else:
                yield from iter_delimited(lines, "," if fmt == "csv" else "\t", str(path))
        finally:
            lines.close()
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
