"""What every command shares: exit codes, the one-line error, argument types and option groups,
atomic output, model loading and the readers of queries and labeled files."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import os
import sys
import tempfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TextIO

import numpy as np


EXIT_OK = 0
#: ``score --fail-on`` matched, ``diff`` found disagreements, ``agreement --min-kappa`` missed.
EXIT_FOUND = 1
#: Usage error or bad input: missing file, wrong column, unknown category, empty file,
#: malformed line, category-set mismatch, unusable model.
EXIT_BAD_INPUT = 2
#: ``verify`` found a problem with the model.
EXIT_VERIFY_FAILED = 3
EXIT_INTERRUPTED = 130
#: Stopped by SIGTERM (128 + 15), after the same clean-up as an interrupt.
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141

DEFAULT_MODEL = "default"
BATCH_SIZE = 4096
_TABLE_SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}


class CliError(Exception):
    """A problem reported as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


# -- argument parsing ------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors become one-line :class:`CliError`\\ s."""

    def error(self, message: str):  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def int_in(low: int, high: int | None) -> Any:
    """An argparse type: an integer from *low* to *high* (no upper bound when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {bounds}; got {text!r}")
        return value

    return parse


def float_arg(accept, message: str):
    """An argparse type: a float that *accept* admits, else ``message; got 'TEXT'``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{message}; got {text!r}")
        return value

    return parse


# nan fails every comparison, so text that is not a number is refused too.
positive_float = float_arg(lambda v: 0 < v < float("inf"), "must be a positive number")
fraction = float_arg(lambda v: 0.0 < v < 1.0, "must be a fraction between 0 and 1 (exclusive)")
unit_interval = float_arg(lambda v: 0.0 <= v <= 1.0, "must be a number from 0 to 1")
below_one = float_arg(lambda v: 0.0 <= v < 1.0, "must be a number from 0 up to (not including) 1")
kappa_bound = float_arg(lambda v: -1.0 <= v <= 1.0, "must be a number from -1 to 1")


def target_arg(text: str) -> tuple[str | None, float]:
    """``0.9`` (every category) or ``hate=0.95`` (one category)."""
    category, _, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 < number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1] or CATEGORY=NUMBER; got {text!r}")
    return (category.strip() or None) if _ else None, number


def encoding_arg(text: str) -> str:
    from .._encoding import check_encoding

    try:
        return check_encoding(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_ENCODING_HELP = ("text encoding of the input: utf-8 (default), cp932 for Shift-JIS, cp949 for Korean "
                  "(EUC-KR), euc-jp, or any Python codec name")


def category_list(text: str) -> tuple[str, ...]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"must be distinct comma-separated category names; got {text!r}")
    return tuple(names)


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries on stderr")


def add_query_input(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument(
        "--format", choices=("lines", "jsonl", "csv", "tsv", "parquet"),
        help="input format; default from the file name: .csv .tsv .jsonl .parquet are tables, "
        "anything else (and stdin) is one query per line",
    )
    g.add_argument("--text-column", default="text", metavar="NAME", help="column holding the query (default: text)")
    g.add_argument("--id-column", metavar="NAME", help="column to carry through as each row's id")
    g.add_argument("--encoding", type=encoding_arg, default="utf-8", metavar="NAME", help=_ENCODING_HELP)


def add_labeled_input(p: argparse.ArgumentParser, *, id_column: bool = False) -> None:
    g = p.add_argument_group("labeled input")
    g.add_argument("--format", choices=("jsonl", "csv", "tsv", "parquet"),
                   help="data format; default from the file name (needed for stdin)")
    g.add_argument("--text-column", default="text", metavar="NAME", help="column holding the query (default: text)")
    g.add_argument(
        "--labels-column", default="labels", metavar="NAME",
        help="column holding the labels: a list, or names separated by commas (empty = benign); "
        "without it, one 0/1 column per category is read (default: labels)",
    )
    if id_column:
        g.add_argument("--id-column", metavar="NAME", help="align rows by this column instead of by their text")
    g.add_argument("--encoding", type=encoding_arg, default="utf-8", metavar="NAME", help=_ENCODING_HELP)


# -- plumbing --------------------------------------------------------------
def one_line(message: str) -> str:
    return " ".join(str(message).split())


def say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def progress(args: argparse.Namespace, *, total: int | None = None, desc: str = "", unit: str = " queries"):
    """A progress bar on stderr, unless --quiet; it appears only for work that lasts over half a second."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=getattr(args, "quiet", False), file=sys.stderr,
                leave=False, dynamic_ncols=True, delay=0.5)


@contextlib.contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Show the library's UserWarnings (e.g. a category without positives) as messages, not tracebacks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        text = one_line(str(w.message))
        if issubclass(w.category, UserWarning) and text not in seen:
            seen.add(text)
            print(f"searchsafe: warning: {text}", file=sys.stderr)


def check_inputs(paths: Iterable[str | None]) -> None:
    """Fail at once on an input file that is not there, before any slow import or model load."""
    for path in paths:
        if path in (None, "-"):
            continue
        p = Path(path)
        if p.is_dir():
            raise CliError(f"{path}: is a directory, not a data file")
        if not p.is_file():
            raise CliError(f"{path}: no such file")


class _PipeSafeStdout(io.TextIOBase):
    """Standard output written with ``os.write`` until every byte is out.

    CPython's buffered stdout can report a write as complete when the reader
    closed the pipe in the middle of it (``searchsafe score big.txt | head -1``),
    and the command then ends with 0; an unbuffered loop of ``os.write`` sees
    the closed pipe as BrokenPipeError every time, and the command exits 141.
    """

    def __init__(self, fd: int, encoding: str, errors: str | None):
        super().__init__()
        self._fd = fd
        self._encoding = encoding
        self._errors = errors or "strict"
        self._pending: list[bytes] = []
        self._size = 0

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, text: str) -> int:
        data = text.encode(self._encoding, self._errors)
        self._pending.append(data)
        self._size += len(data)
        if self._size >= 1 << 16:
            self.flush()
        return len(text)

    def flush(self) -> None:
        view = memoryview(b"".join(self._pending))
        self._pending, self._size = [], 0
        while view:
            view = view[os.write(self._fd, view):]


@contextlib.contextmanager
def pipe_safe_stdout() -> Iterator[None]:
    """Route ``sys.stdout`` through :class:`_PipeSafeStdout` while a command runs (real stdout only)."""
    real = sys.stdout
    try:
        fd = real.fileno() if real is sys.__stdout__ else -1
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0:  # captured (tests) or replaced by the caller: leave it alone
        yield
        return
    real.flush()
    sys.stdout = writer = _PipeSafeStdout(fd, real.encoding or "utf-8", real.errors)
    try:
        yield
        writer.flush()
    finally:
        sys.stdout = real


def check_output(path: str | None) -> None:
    """Fail before any work if *path* cannot be written."""
    if path in (None, "-"):
        return
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{path}: is a directory; give a file name")
    parent = p.parent
    if not parent.is_dir():
        raise CliError(f"{path}: cannot write: no directory {parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def output(path: str | os.PathLike[str] | None, *, encoding: str = "utf-8", newline: str | None = None,
           binary: bool = False) -> Iterator[Any]:
    """A text stream to *path* that appears there only when complete (temp file + os.replace); stdout for ``-``.

    With *binary*, a byte stream (images, gzip files); *encoding* and *newline* then do not apply.
    """
    if path in (None, "-"):
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    from .._modelio import discard_temporary, remove_stale_siblings

    check_output(path)
    p = Path(path)
    # The pid in the temporary name lets the next run remove what a killed one left.
    remove_stale_siblings(p)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.tmp-{os.getpid()}-", suffix=".tmp",
                                   dir=p.parent)
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline=newline)) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except OSError as exc:
        discard_temporary(tmp, p, ".tmp")
        if exc.filename is None:  # a failed write (disk full) names no file by itself
            raise OSError(exc.errno, exc.strerror or str(exc), str(p)) from None
        raise
    except BaseException:
        discard_temporary(tmp, p, ".tmp")
        raise


def write_text(path: str | os.PathLike[str] | None, text: str, *, encoding: str = "utf-8",
               newline: str | None = None) -> None:
    with output(path, encoding=encoding, newline=newline) as f:
        f.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with output(path, binary=True) as f:
        f.write(data)


def csv_encoding(path: str | None) -> str:
    # A byte-order mark lets spreadsheet programs open Japanese and Korean CSV
    # correctly; searchsafe and pandas (encoding="utf-8-sig") read it either way.
    return "utf-8" if path in (None, "-") else "utf-8-sig"


def sha256(path: str) -> str | None:
    if path == "-":
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- models ----------------------------------------------------------------
def model_path(spec: str) -> Path:
    from .._classifier import default_model_path

    return default_model_path() if spec == DEFAULT_MODEL else Path(spec)


def load_model(spec: str):
    """A :class:`~searchsafe.Classifier` for ``default`` or a model directory; CliError when there is none."""
    from .._classifier import load

    if spec == DEFAULT_MODEL:
        return load()
    path = Path(spec)
    if not path.exists():
        raise CliError(f"{spec}: no such model directory (use 'default' for the bundled model)")
    return load(path)


def check_categories(names: Iterable[str], categories: Sequence[str], option: str) -> list[str]:
    out = []
    for name in names:
        if name not in categories:
            raise CliError(f"{option}: unknown category {name!r}; the model has: {', '.join(categories)}")
        if name not in out:
            out.append(name)
    return out


def thresholds_of(clf: Any) -> np.ndarray:
    return np.array([clf.thresholds[c] for c in clf.categories], dtype=np.float32)


def score_all(args: argparse.Namespace, clf: Any, texts: Sequence[str], desc: str = "scoring") -> np.ndarray:
    out = np.zeros((len(texts), len(clf.categories)), dtype=np.float32)
    with progress(args, total=len(texts), desc=desc) as bar:
        for start in range(0, len(texts), BATCH_SIZE):
            block = texts[start:start + BATCH_SIZE]
            out[start:start + len(block)] = clf.score_batch(block)
            bar.update(len(block))
    return out


# -- reading ---------------------------------------------------------------
@dataclass
class Query:
    """One query of an unlabeled input."""

    lineno: int
    where: str
    text: str
    id: str | None = None
    #: The row's other columns, with ``iter_queries(..., keep_columns=True)``.
    columns: dict[str, Any] | None = None


def query_format(source: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if source == "-":
        return "lines"
    name = source.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _TABLE_SUFFIXES.get(Path(name).suffix, "lines")


def iter_lines(source: str, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    from .._encoding import decode_error_message, python_encoding
    from .._ooc import STDIN_NAME, standard_input

    codec = python_encoding(encoding)

    name = STDIN_NAME if source == "-" else source
    if source == "-":
        stdin = standard_input()
        raw = getattr(stdin, "buffer", None)
        if raw is None:  # a text stream without bytes underneath
            lineno = 0
            try:
                for lineno, line in enumerate(stdin, 1):
                    yield lineno, (line.lstrip("\ufeff") if lineno == 1 else line).rstrip("\r\n")
            except UnicodeDecodeError:
                raise CliError(decode_error_message(name, encoding, lineno=lineno + 1)) from None
            return
        stream, close = raw, False
    else:
        path = Path(source)
        if path.is_dir():
            raise CliError(f"{source}: is a directory, not a data file")
        if not path.is_file():
            raise CliError(f"{source}: no such file")
        if source.endswith(".gz"):
            stream, close = gzip.open(path, "rb"), True
        else:
            stream, close = open(path, "rb"), True
    lineno = 0
    try:
        # One decoder for the whole stream: a multi-byte encoding keeps its state across lines.
        import codecs

        decoder = codecs.getincrementaldecoder(codec)()
        for lineno, raw_line in enumerate(stream, 1):
            try:
                line = decoder.decode(raw_line)
            except UnicodeDecodeError:
                raise CliError(decode_error_message(name, encoding, lineno=lineno, raw=raw_line + stream.read(1 << 16))
                               ) from None
            if lineno == 1:
                line = line.lstrip("\ufeff")
            yield lineno, line.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CliError(f"{name}:{lineno + 1}: the gzip data is truncated or corrupt ({exc}); "
                       f"{lineno} lines were read before it") from None
    finally:
        if close:
            stream.close()


def iter_queries(source: str, fmt: str | None, text_column: str, id_column: str | None,
                 encoding: str = "utf-8", *, keep_columns: bool = False) -> Iterator[Query]:
    """Stream the queries of a file (one per line, or a column of a table) or of stdin, decoded with *encoding*.

    With *keep_columns*, each query of a table carries the row's other columns.
    """
    from .._data import text_of
    from .._ooc import display_name, iter_records

    fmt = query_format(source, fmt)
    name = display_name(source)
    n = 0
    if fmt == "lines":
        if id_column is not None:
            raise CliError("--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line")
        for lineno, text in iter_lines(source, encoding):
            n += 1
            yield Query(lineno, f"{name}:{lineno}", text)
    else:
        for lineno, rec in iter_records(source, fmt, encoding=encoding):
            where = f"{name}:{lineno}"
            text = text_of(rec, text_column, where)
            ident = None
            if id_column is not None:
                if id_column not in rec:
                    raise CliError(
                        f"{where}: no column {id_column!r} (columns: {', '.join(map(str, rec))}); use --id-column"
                    )
                ident = "" if rec[id_column] is None else str(rec[id_column])
            n += 1
            others = {k: v for k, v in rec.items() if k not in (text_column, id_column)} if keep_columns else None
            yield Query(lineno, where, text, ident, others)
    if n == 0:
        raise CliError(f"{name}: empty: no queries")


@dataclass
class Labeled:
    """Labeled rows read into memory, in file order."""

    rows: list[Any]
    categories: tuple[str, ...]
    #: Labels dropped because they are outside the categories, with how many rows had each.
    ignored: dict[str, int] = field(default_factory=dict)
    #: Per file: (rows whose labels cell was blank, rows).
    blank: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.rows]

    def matrix(self) -> np.ndarray:
        index = {c: j for j, c in enumerate(self.categories)}
        Y = np.zeros((len(self.rows), len(self.categories)), dtype=bool)
        for i, r in enumerate(self.rows):
            for label in r.labels:
                Y[i, index[label]] = True
        return Y

    def langs(self) -> list[str]:
        from .._lang import detect_language
        from .._normalize import normalize

        return [r.lang or detect_language(normalize(r.text) if r.text else "") for r in self.rows]


def labeled_reader(args: argparse.Namespace, source: str, categories: Sequence[str] | None, against: str,
            id_column: str | None = None, *, others: str = "error", weight_column: str | None = None):
    from .._ooc import LabeledReader

    return LabeledReader(
        source, categories, text_column=args.text_column, labels_column=args.labels_column, fmt=args.format,
        id_column=id_column, against=against, encoding=getattr(args, "encoding", "utf-8"), others=others,
        weight_column=weight_column,
    )


def read_labeled(args: argparse.Namespace, sources: Sequence[str], categories: Sequence[str] | None,
                  against: str, *, others: str = "error", weight_column: str | None = None) -> Labeled:
    """Read labeled files; categories inferred from the first file when *categories* is None.

    With ``others="ignore"``, labels of the taxonomy outside *categories* are
    dropped and counted in :attr:`Labeled.ignored` (see :func:`say_ignored`).
    """
    from .._ooc import display_name

    rows: list[Any] = []
    cats = tuple(categories) if categories is not None else None
    ignored: dict[str, int] = {}
    blank: dict[str, tuple[int, int]] = {}
    for source in sources:
        reader = labeled_reader(args, source, cats, against, others=others, weight_column=weight_column)
        rows.extend(reader)
        for label, count in reader.ignored.items():
            ignored[label] = ignored.get(label, 0) + count
        blank[display_name(source)] = (reader.blank_labels, reader.n_rows)
        if cats is None:
            cats = reader.categories
            against = f"the first data file ({display_name(source)})"
    assert cats is not None
    return Labeled(rows, cats, ignored, blank)


def say_ignored(args: argparse.Namespace, ignored: dict[str, int], categories: Sequence[str], whose: str) -> None:
    """The one line that says which labels of the file were left out, and how often."""
    if ignored:
        counts = ", ".join(f"{label} ({n} row{'' if n == 1 else 's'})" for label, n in sorted(ignored.items()))
        say(args, f"ignoring labels outside {whose} ({', '.join(categories)}): {counts}")
