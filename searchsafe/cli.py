"""The ``searchsafe`` command line: retrain on your own labels, evaluate, explain, compare, audit.

Commands (``searchsafe COMMAND --help`` for each)::

    score      [FILE|-]               queries in, JSON Lines of scores and flags out (streams)
    train      DATA... --out DIR      train a model directory from labeled files
    evaluate   MODEL DATA...          metrics as JSON and a self-contained HTML report
    explain    MODEL QUERY...         normalized text, tokens and the features behind each score
    diff       MODEL_A MODEL_B DATA   queries two models (or a model and the labels) disagree on
    sample     MODEL DATA --n N       a stratified, reproducible audit sample as CSV
    agreement  LABELS...              inter-annotator agreement (Cohen's / Fleiss' kappa)
    info       [MODEL]                a model's manifest: versions, thresholds, metrics
    verify     MODEL                  check a model's hashes and compatibility

Wherever a MODEL is expected, ``default`` names the bundled model; anything
else is a model directory. Data goes to stdout, messages to stderr, and ``-``
means stdin (or stdout for an output file).

Exit codes: 0 success; 1 a ``score --fail-on`` category was flagged, ``diff``
found disagreements, or ``agreement --min-kappa`` was not reached; 2 bad
input or usage (one line ``searchsafe: error: <file>:<line>: <problem>`` on
stderr, and no output file is left half-written); 3 ``verify`` found a
problem; 130 interrupted; 141 stdout was closed early (``| head``).

Examples
--------
>>> main(["--version"])
searchsafe 0.1.0
0
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TextIO

import numpy as np

__all__ = ["main", "EXIT_OK", "EXIT_FOUND", "EXIT_BAD_INPUT", "EXIT_VERIFY_FAILED"]

EXIT_OK = 0
#: ``score --fail-on`` matched, ``diff`` found disagreements, ``agreement --min-kappa`` missed.
EXIT_FOUND = 1
#: Usage error or bad input: missing file, wrong column, unknown category, empty file,
#: malformed line, category-set mismatch, unusable model.
EXIT_BAD_INPUT = 2
#: ``verify`` found a problem with the model.
EXIT_VERIFY_FAILED = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

COMMANDS = ("score", "train", "evaluate", "explain", "diff", "sample", "agreement", "info", "verify")
DEFAULT_MODEL = "default"
BATCH_SIZE = 4096
_TABLE_SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
_FEATURE_KINDS = {
    "w": "characters in a word", "c": "characters", "m": "morpheme", "b": "morpheme pair",
    "p": "subword piece", "k": "Korean initials", "l": "language",
}


class CliError(Exception):
    """A problem reported as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


# -- argument parsing ------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors become one-line :class:`CliError`\\ s."""

    def error(self, message: str):  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def _int_in(low: int, high: int | None) -> Any:
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


# Each solver's loss wants its own regularisation scale.
_DEFAULT_C = {"linear_svc": 0.03, "liblinear": 16.0, "sgd": 4.0}


def _float_arg(accept, message: str):
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
_positive_float = _float_arg(lambda v: 0 < v < float("inf"), "must be a positive number")
_fraction = _float_arg(lambda v: 0.0 < v < 1.0, "must be a fraction between 0 and 1 (exclusive)")
_unit_interval = _float_arg(lambda v: 0.0 <= v <= 1.0, "must be a number from 0 to 1")
_kappa_bound = _float_arg(lambda v: -1.0 <= v <= 1.0, "must be a number from -1 to 1")


def _target(text: str) -> tuple[str | None, float]:
    """``0.9`` (every category) or ``hate=0.95`` (one category)."""
    category, _, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 < number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1] or CATEGORY=NUMBER; got {text!r}")
    return (category.strip() or None) if _ else None, number


def _category_list(text: str) -> tuple[str, ...]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"must be distinct comma-separated category names; got {text!r}")
    return tuple(names)


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries on stderr")


def _add_query_input(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument(
        "--format", choices=("lines", "jsonl", "csv", "tsv", "parquet"),
        help="input format; default from the file name: .csv .tsv .jsonl .parquet are tables, "
        "anything else (and stdin) is one query per line",
    )
    g.add_argument("--text-column", default="text", metavar="NAME", help="column holding the query (default: text)")
    g.add_argument("--id-column", metavar="NAME", help="column to carry through as each row's id")


def _add_labeled_input(p: argparse.ArgumentParser, *, id_column: bool = False) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """The ``searchsafe`` argument parser."""
    from . import __version__

    parser = _Parser(
        prog="searchsafe",
        description="Harmful-intent scores for Japanese and Korean search queries: score, retrain, evaluate, "
        "explain, compare and audit models from the command line.",
        epilog="MODEL is a model directory, or 'default' for the bundled model. '-' means stdin. "
        "Exit codes: 0 ok; 1 --fail-on matched, diff found disagreements or --min-kappa missed; "
        "2 bad input; 3 verify failed.",
    )
    parser.add_argument("--version", action="version", version=f"searchsafe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # score
    p = sub.add_parser("score", help="score queries; JSON Lines of scores and flags on stdout",
                       description="Score queries (one per line, or a column of a table file) and write one JSON "
                       "object per query: line, text, scores, flagged. Streams in batches: memory stays flat.")
    p.add_argument("input", nargs="?", default="-", metavar="FILE", help="queries; '-' or nothing for stdin")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model directory or 'default' (default: default)")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--fail-on", action="append", default=[], metavar="CATEGORY",
                   help="exit 1 if any query is flagged for CATEGORY (repeatable)")
    p.add_argument("--batch-size", type=_positive_int, default=BATCH_SIZE, metavar="N",
                   help=f"queries scored per batch (default: {BATCH_SIZE})")
    _add_query_input(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_score)

    # train
    p = sub.add_parser("train", help="train a model directory from labeled files",
                       description="Train a model from labeled files (CSV, TSV, JSON Lines, Parquet) and write a "
                       "model directory in the same format as the default model. The directory is written "
                       "atomically: an interrupted run leaves no half model.")
    p.add_argument("data", nargs="+", metavar="DATA", help="labeled files ('-' for stdin, with --format)")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--force", action="store_true", help="replace a model already at --out")
    p.add_argument("--name", help="model name in the manifest (default: the --out directory's name)")
    p.add_argument("--categories", type=_category_list, metavar="A,B,...",
                   help="categories to train; default the taxonomy's eight (or the 0/1 columns present)")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--dev", action="append", metavar="FILE",
                      help="labeled file to choose thresholds on and report metrics for (repeatable)")
    held.add_argument("--validation-split", type=_fraction, metavar="FRACTION",
                      help="hold out this fraction of the rows (whole groups) as the dev data")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split and the solver (default: 0)")
    p.add_argument("--target-precision", type=_target, action="append", default=[], metavar="P|CATEGORY=P",
                   help="choose thresholds for this precision; global or per category (repeatable); "
                   "default 0.95 for critical, 0.9 for high severity categories, best F1 for the others")
    p.add_argument("--target-recall", type=_target, action="append", default=[], metavar="R|CATEGORY=R",
                   help="choose thresholds for this recall instead; needs --dev or --validation-split")
    m = p.add_argument_group("model")
    m.add_argument("--C", type=_positive_float, default=None,
                   help="inverse regularisation strength (default: 0.03 for linear_svc, 16 for liblinear, "
                   "4 for sgd and --out-of-core)")
    m.add_argument("--solver", choices=("linear_svc", "liblinear", "sgd"), default="linear_svc",
                   help="linear SVM, logistic regression, or SGD (default: linear_svc)")
    m.add_argument("--hash-bits", type=_int_in(10, 26), default=20, metavar="BITS",
                   help="feature space of 2**BITS buckets, 10-26 (default: 20; 16 trains small data much faster)")
    m.add_argument("--sentencepiece-vocab-size", type=_int_in(0, None), default=8000, metavar="N",
                   help="subword vocabulary learned from the data; 0 turns subwords off (default: 8000)")
    m.add_argument("--japanese-backend", default="ipadic", help="(default: ipadic)")
    m.add_argument("--korean-backend", default="mecab-ko-dic", help="(default: mecab-ko-dic)")
    o = p.add_argument_group("out-of-core training (files larger than memory)")
    o.add_argument("--out-of-core", action="store_true",
                   help="stream the data in chunks with incremental SGD instead of loading it")
    o.add_argument("--chunk-size", type=_positive_int, default=100_000, metavar="ROWS",
                   help="rows per chunk (default: 100000)")
    o.add_argument("--epochs", type=_positive_int, default=5, help="passes over the data (default: 5)")
    _add_labeled_input(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_train)

    # evaluate
    p = sub.add_parser("evaluate", help="metrics as JSON and an HTML report",
                       description="Evaluate a model on labeled data: precision, recall, F1 and PR-AUC per "
                       "category and language, confusion between categories, calibration, threshold sweeps and "
                       "false positives on hard negatives. Without --json or --html, JSON goes to stdout.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON ('-' for stdout)")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (needs searchsafe[report])")
    p.add_argument("--max-examples", type=_positive_int, default=100, metavar="N",
                   help="rows listed per list of errors (default: 100)")
    _add_labeled_input(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_evaluate)

    # explain
    p = sub.add_parser("explain", help="why a query got its scores",
                       description="Show the normalized text, language, tokens, scores and the features that "
                       "drove each score: the root-cause view of a wrong call.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="queries; '-' reads one per line from stdin")
    p.add_argument("--category", action="append", default=[], metavar="CATEGORY",
                   help="explain this category (repeatable); default the flagged ones, else the top-scoring one")
    p.add_argument("--all", action="store_true", help="explain every category")
    p.add_argument("--top", type=_positive_int, default=10, metavar="N", help="features per category (default: 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.set_defaults(func=cmd_explain)

    # diff
    p = sub.add_parser("diff", help="queries on which two models, or a model and the labels, disagree",
                       description="List the queries on which MODEL_A and MODEL_B disagree, grouped by category "
                       "and direction with counts. MODEL_B 'labels' compares MODEL_A with the labels in DATA. "
                       "Exits 1 when there are disagreements, like diff(1).")
    p.add_argument("model_a", metavar="MODEL_A")
    p.add_argument("model_b", metavar="MODEL_B", help="a model, 'default', or 'labels'")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--output-format", choices=("json", "csv"),
                   help="default: csv if --out ends in .csv, else json")
    p.add_argument("--max-items", type=int, default=0, metavar="N",
                   help="queries listed per group, biggest disagreement first; 0 lists all (default)")
    g = p.add_argument_group("input")
    g.add_argument("--format", choices=("lines", "jsonl", "csv", "tsv", "parquet"),
                   help="input format; default from the file name")
    g.add_argument("--text-column", default="text", metavar="NAME", help="(default: text)")
    g.add_argument("--labels-column", default="labels", metavar="NAME", help="with MODEL_B 'labels' (default: labels)")
    g.add_argument("--id-column", metavar="NAME", help="column to carry through as each row's id")
    _add_quiet(p)
    p.set_defaults(func=cmd_diff)

    # sample
    p = sub.add_parser("sample", help="a stratified audit sample as CSV",
                       description="Draw an audit sample stratified by category and score band, with the "
                       "uncertain band over-sampled; reproducible from --seed. A query's stratum is the category "
                       "whose score is closest to (or furthest above) its threshold, with the band of that score: "
                       "uncertain (within --uncertain-width of the threshold) or high; queries far below every "
                       "threshold form the stratum none/low. Draws go to strata in proportion to the square root "
                       "of their size, times --oversample for uncertain ones; the weight column says how many "
                       "queries each sampled one stands for. The CSV has empty audit_labels and audit_notes "
                       "columns for the labelers.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--n", type=_positive_int, required=True, help="sample size")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--out", metavar="FILE.csv", help="write here (atomically) instead of stdout")
    p.add_argument("--uncertain-width", type=_unit_interval, default=0.1, metavar="W",
                   help="a score within W of its threshold is in the uncertain band (default: 0.1)")
    p.add_argument("--oversample", type=_positive_float, default=3.0, metavar="X",
                   help="weight of the uncertain strata relative to the others (default: 3)")
    p.add_argument("--blind", action="store_true", help="leave the model's scores and flags out of the CSV")
    _add_query_input(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_sample)

    # agreement
    p = sub.add_parser("agreement", help="inter-annotator agreement per category",
                       description="Agreement between labelers who labeled the same queries, one file each: "
                       "Cohen's kappa per category for two files, Fleiss' kappa for three or more, and the items "
                       "they disagree on. Rows are aligned by text, or by --id-column.")
    p.add_argument("labels", nargs="+", metavar="LABELS")
    p.add_argument("--categories", type=_category_list, metavar="A,B,...",
                   help="categories; default the taxonomy's eight (or the 0/1 columns of the first file)")
    p.add_argument("--out", metavar="FILE", help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--disagreements", metavar="FILE.csv", help="also write the disagreements as CSV")
    p.add_argument("--min-kappa", type=_kappa_bound, metavar="K",
                   help="exit 1 if any category's kappa is below K")
    _add_labeled_input(p, id_column=True)
    _add_quiet(p)
    p.set_defaults(func=cmd_agreement)

    # info
    p = sub.add_parser("info", help="a model's manifest: versions, thresholds, metrics",
                       description="Show a model's manifest (the default model without MODEL).")
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL, metavar="MODEL")
    p.add_argument("--json", action="store_true", help="the whole manifest as JSON")
    p.set_defaults(func=cmd_info)

    # verify
    p = sub.add_parser("verify", help="check a model's files, hashes and compatibility (exit 3 on failure)",
                       description="Check that a model directory is complete and untampered (every file's sha256), "
                       "readable by this searchsafe, loadable with the installed tokenizers, and scores sanely. "
                       "Exits 3 on failure.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--strict", action="store_true",
                   help="also fail when the installed tokenizer versions differ from the model's")
    p.set_defaults(func=cmd_verify)
    return parser


# -- plumbing --------------------------------------------------------------
def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def _bar(args: argparse.Namespace, *, total: int | None = None, desc: str = "", unit: str = " queries"):
    """A progress bar on stderr, unless --quiet; it appears only for work that lasts over half a second."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=getattr(args, "quiet", False), file=sys.stderr,
                leave=False, dynamic_ncols=True, delay=0.5)


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show the library's UserWarnings (e.g. a category without positives) as messages, not tracebacks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        text = _one_line(str(w.message))
        if issubclass(w.category, UserWarning) and text not in seen:
            seen.add(text)
            print(f"searchsafe: warning: {text}", file=sys.stderr)


def _check_output(path: str | None) -> None:
    """Fail before any work if *path* cannot be written."""
    if path in (None, "-"):
        return
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{path}: is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"{path}: cannot write: no directory {parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _output(path: str | None, *, encoding: str = "utf-8", newline: str | None = None) -> Iterator[TextIO]:
    """A text stream to *path* that appears there only when complete (temp file + os.replace); stdout for ``-``."""
    if path in (None, "-"):
        yield sys.stdout
        sys.stdout.flush()
        return
    _check_output(path)
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_text(path: str | None, text: str, *, encoding: str = "utf-8") -> None:
    with _output(path, encoding=encoding) as f:
        f.write(text)


def _csv_encoding(path: str | None) -> str:
    # A byte-order mark lets spreadsheet programs open Japanese and Korean CSV
    # correctly; searchsafe and pandas (encoding="utf-8-sig") read it either way.
    return "utf-8" if path in (None, "-") else "utf-8-sig"


def _sha256(path: str) -> str | None:
    if path == "-":
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- models ----------------------------------------------------------------
def _model_path(spec: str) -> Path:
    from ._classifier import default_model_path

    return default_model_path() if spec == DEFAULT_MODEL else Path(spec)


def _load_model(spec: str):
    """A :class:`~searchsafe.Classifier` for ``default`` or a model directory; CliError when there is none."""
    from ._classifier import load

    if spec == DEFAULT_MODEL:
        return load()
    path = Path(spec)
    if not path.exists():
        raise CliError(f"{spec}: no such model directory (use 'default' for the bundled model)")
    return load(path)


def _check_categories(names: Iterable[str], categories: Sequence[str], option: str) -> list[str]:
    out = []
    for name in names:
        if name not in categories:
            raise CliError(f"{option}: unknown category {name!r}; the model has: {', '.join(categories)}")
        if name not in out:
            out.append(name)
    return out


def _thresholds(clf: Any) -> np.ndarray:
    return np.array([clf.thresholds[c] for c in clf.categories], dtype=np.float32)


def _score_all(args: argparse.Namespace, clf: Any, texts: Sequence[str], desc: str = "scoring") -> np.ndarray:
    out = np.zeros((len(texts), len(clf.categories)), dtype=np.float32)
    with _bar(args, total=len(texts), desc=desc) as bar:
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


def _query_format(source: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if source == "-":
        return "lines"
    name = source.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _TABLE_SUFFIXES.get(Path(name).suffix, "lines")


def _iter_lines(source: str) -> Iterator[tuple[int, str]]:
    from ._ooc import STDIN_NAME, standard_input

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
                raise CliError(f"{name}:{lineno + 1}: not valid UTF-8") from None
            return
        stream, close = raw, False
    else:
        path = Path(source)
        if path.is_dir():
            raise CliError(f"{source}: is a directory, not a data file")
        if not path.is_file():
            raise CliError(f"{source}: no such file")
        if source.endswith(".gz"):
            import gzip

            stream, close = gzip.open(path, "rb"), True
        else:
            stream, close = open(path, "rb"), True
    try:
        for lineno, raw_line in enumerate(stream, 1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError:
                raise CliError(f"{name}:{lineno}: not valid UTF-8") from None
            if lineno == 1:
                line = line.lstrip("\ufeff")
            yield lineno, line.rstrip("\r\n")
    finally:
        if close:
            stream.close()


def _iter_queries(source: str, fmt: str | None, text_column: str, id_column: str | None) -> Iterator[Query]:
    """Stream the queries of a file (one per line, or a column of a table) or of stdin."""
    from ._data import text_of
    from ._ooc import display_name, iter_records

    fmt = _query_format(source, fmt)
    name = display_name(source)
    n = 0
    if fmt == "lines":
        if id_column is not None:
            raise CliError("--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line")
        for lineno, text in _iter_lines(source):
            n += 1
            yield Query(lineno, f"{name}:{lineno}", text)
    else:
        for lineno, rec in iter_records(source, fmt):
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
            yield Query(lineno, where, text, ident)
    if n == 0:
        raise CliError(f"{name}: empty: no queries")


@dataclass
class Labeled:
    """Labeled rows read into memory, in file order."""

    rows: list[Any]
    categories: tuple[str, ...]

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
        from ._lang import detect_language
        from ._normalize import normalize

        return [r.lang or detect_language(normalize(r.text) if r.text else "") for r in self.rows]


def _reader(args: argparse.Namespace, source: str, categories: Sequence[str] | None, against: str,
            id_column: str | None = None):
    from ._ooc import LabeledReader

    return LabeledReader(
        source, categories, text_column=args.text_column, labels_column=args.labels_column, fmt=args.format,
        id_column=id_column, against=against,
    )


def _read_labeled(args: argparse.Namespace, sources: Sequence[str], categories: Sequence[str] | None,
                  against: str) -> Labeled:
    """Read labeled files; categories inferred from the first file when *categories* is None."""
    from ._ooc import display_name

    rows: list[Any] = []
    cats = tuple(categories) if categories is not None else None
    for source in sources:
        reader = _reader(args, source, cats, against)
        rows.extend(reader)
        if cats is None:
            cats = reader.categories
            against = f"the first data file ({display_name(source)})"
    assert cats is not None
    return Labeled(rows, cats)


# -- score -----------------------------------------------------------------
def cmd_score(args: argparse.Namespace) -> int:
    """Stream queries through a model and write JSON Lines of scores and flags."""
    from ._ooc import batched
    if args.format == "lines" and args.id_column:
        raise CliError("--id-column needs a table input (csv, tsv, jsonl, parquet), not one query per line")
    clf = _load_model(args.model)
    cats = clf.categories
    fail_on = [cats.index(c) for c in _check_categories(args.fail_on, cats, "--fail-on")]
    _check_output(args.out)
    thresholds = _thresholds(clf)
    flagged_counts = np.zeros(len(cats), dtype=np.int64)
    n = 0
    with _output(args.out) as out, _bar(args, desc="scoring") as bar:
        for block in batched(_iter_queries(args.input, args.format, args.text_column, args.id_column),
                              args.batch_size):
            P = clf.score_batch([q.text for q in block])
            F = P >= thresholds
            flagged_counts += F.sum(axis=0)
            lines = []
            for q, p, f in zip(block, P, F):
                rec: dict[str, Any] = {"line": q.lineno}
                if q.id is not None:
                    rec["id"] = q.id
                rec["text"] = q.text
                rec["scores"] = {c: round(float(x), 6) for c, x in zip(cats, p)}
                rec["flagged"] = [c for c, x in zip(cats, f) if x]
                lines.append(json.dumps(rec, ensure_ascii=False))
            out.write("\n".join(lines) + "\n")
            out.flush()
            n += len(block)
            bar.update(len(block))
    summary = ", ".join(f"{c} {int(k)}" for c, k in zip(cats, flagged_counts) if k) or "none"
    _say(args, f"scored {n} queries; flagged: {summary}")
    hits = [cats[j] for j in fail_on if flagged_counts[j]]
    if hits:
        counts = ", ".join(f"{c} ({int(flagged_counts[cats.index(c)])})" for c in hits)
        print(f"searchsafe: --fail-on: queries flagged for {counts}", file=sys.stderr)
        return EXIT_FOUND
    return EXIT_OK


# -- train -----------------------------------------------------------------
def _check_model_out(out: Path, force: bool) -> None:
    if out.exists():
        if not (out / "manifest.json").is_file():
            raise CliError(f"{out}: exists and is not a searchsafe model directory; choose a new --out")
        if not force:
            raise CliError(f"{out}: a model is already there; pass --force to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise CliError(f"{out}: cannot write: {parent} is not a directory")


def _targets(args: argparse.Namespace, categories: Sequence[str]) -> dict[str, tuple[str, float | None]]:
    from ._errors import InvalidParameterError
    from ._ooc import resolve_targets

    precision: dict[str | None, float] = {}
    recall: dict[str | None, float] = {}
    for store, given in ((precision, args.target_precision), (recall, args.target_recall)):
        for category, value in given:
            store[category] = value
    try:
        return resolve_targets(categories, precision, recall)
    except InvalidParameterError as exc:
        raise CliError(str(exc)) from None


def _split(rows: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    from ._ooc import in_validation_split

    train, dev = [], []
    for r in rows:
        (dev if in_validation_split(r, fraction, seed) else train).append(r)
    if not dev:
        raise CliError(f"--validation-split {fraction} held out no rows; raise it or pass --dev FILE")
    if not train:
        raise CliError(f"--validation-split {fraction} held out every row; lower it")
    return train, dev


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model directory from labeled files, in memory or out of core."""
    out = Path(args.out)
    _check_model_out(out, args.force)
    if args.target_recall and not (args.dev or args.validation_split):
        raise CliError("--target-recall needs held-out data to choose thresholds on: "
                       "pass --dev FILE or --validation-split FRACTION")
    if "-" in args.data and len(args.data) > 1:
        raise CliError("stdin ('-') can only be the one DATA input")
    started = time.perf_counter()
    if args.out_of_core:
        return _train_out_of_core(args, out, started)
    against = "--categories" if args.categories else "the first data file"
    train = _read_labeled(args, args.data, args.categories, against)
    cats = train.categories
    targets = _targets(args, cats)
    rows, dev_rows = train.rows, None
    if args.dev:
        dev_rows = _read_labeled(args, args.dev, cats, "the training data").rows
    elif args.validation_split:
        rows, dev_rows = _split(rows, args.validation_split, args.seed)
    _say(args, f"training on {len(rows)} rows{f', {len(dev_rows)} held out' if dev_rows else ''}; "
               f"categories: {', '.join(cats)}")
    from ._classifier import Classifier
    from ._metrics import evaluate_predictions
    from ._ooc import threshold_for_recall
    from ._train import QueryClassifier

    target_precision = {c: (v if kind == "precision" else None) for c, (kind, v) in targets.items()}
    est = QueryClassifier(
        categories=list(cats), C=args.C if args.C is not None else _DEFAULT_C[args.solver], solver=args.solver,
        hash_bits=args.hash_bits,
        sentencepiece_vocab_size=args.sentencepiece_vocab_size, japanese_backend=args.japanese_backend,
        korean_backend=args.korean_backend, target_precision=target_precision, random_state=args.seed,
        verbose=not args.quiet,
    )
    dev = Labeled(dev_rows, cats) if dev_rows else None
    with _warnings_to_stderr():
        est.fit(
            [r.text for r in rows], [r.labels for r in rows],
            groups=[r.group if r.group is not None else r.text.strip() for r in rows],
            X_dev=dev.texts if dev else None, y_dev=[r.labels for r in dev.rows] if dev else None,
        )
    metrics: dict[str, Any] = {}
    if dev:
        clf = Classifier(est.to_model_data())
        Yd, Pd = dev.matrix(), _score_all(args, clf, dev.texts, desc="scoring dev")
        for j, c in enumerate(cats):
            kind, value = targets[c]
            if kind == "recall":
                est.thresholds_[j] = threshold_for_recall(Yd[:, j], Pd[:, j], target_recall=float(value))
        metrics["dev"] = evaluate_predictions(Yd, Pd, est.thresholds_, cats, langs=dev.langs(),
                                              tags=[r.tags for r in dev.rows])
    seconds = time.perf_counter() - started
    est.save(out, name=args.name or out.name, data=_training_record(args, targets, len(rows), dev_rows, seconds),
             metrics=metrics)
    _report_trained(args, out, cats, est.thresholds_, metrics, seconds, est.buckets_.size)
    return EXIT_OK


def _training_record(args: argparse.Namespace, targets: dict[str, tuple[str, float | None]], n_train: int,
                     dev_rows: Sequence[Any] | None, seconds: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "mode": "out-of-core" if args.out_of_core else "in-memory",
        "data_files": {d: _sha256(d) for d in args.data},
        "n_rows": n_train,
        "seed": args.seed,
        "targets": {c: {"kind": k, "value": v} for c, (k, v) in targets.items()},
        "train_seconds": round(seconds, 1),
        "command": "searchsafe " + shlex.join(getattr(args, "argv", []) or []),
    }
    if args.dev:
        record["dev_files"] = {d: _sha256(d) for d in args.dev}
    if args.validation_split:
        record["validation_split"] = args.validation_split
    if dev_rows is not None:
        record["n_dev"] = len(dev_rows)
    return record


def _report_trained(args: argparse.Namespace, out: Path, cats: Sequence[str], thresholds: np.ndarray,
                    metrics: dict[str, Any], seconds: float, n_weights: int) -> None:
    if args.quiet:
        return
    lines = [f"wrote {out} ({n_weights} weights, {seconds:.1f} s)"]
    dev = metrics.get("dev")
    if dev:
        lines.append(f"{'category':<20} {'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6}  (dev)")
        for j, c in enumerate(cats):
            m = dev["overall"]["categories"][c]
            lines.append(f"{c:<20} {float(thresholds[j]):>9.3f} {m['precision']:>9.3f} {m['recall']:>7.3f} "
                         f"{m['f1']:>6.3f}")
        lines.append(f"macro-F1 {dev['overall']['macro_f1']}")
    else:
        lines.append("no held-out data: thresholds come from out-of-fold scores; "
                     "run 'searchsafe evaluate' on held-out data for metrics")
    print("\n".join(lines), file=sys.stderr)


def _train_out_of_core(args: argparse.Namespace, out: Path, started: float) -> int:
    from ._ooc import OutOfCoreTrainer, display_name, in_validation_split

    if "-" in args.data or (args.dev and "-" in args.dev):
        raise CliError("--out-of-core reads the data several times and cannot read stdin; pass a file")
    if not (args.dev or args.validation_split):
        raise CliError("--out-of-core needs held-out data to calibrate and choose thresholds on: "
                       "pass --dev FILE or --validation-split FRACTION")
    cats = args.categories
    against = "--categories"
    if cats is None:
        first = _reader(args, args.data[0], None, "")
        next(iter(first))  # the first row decides the categories (and an empty file fails here)
        cats = first.categories
        against = f"the first data file ({display_name(args.data[0])})"
    targets = _targets(args, cats)
    split, seed = args.validation_split, args.seed

    def train_rows() -> Iterator[Any]:
        for source in args.data:
            for row in _reader(args, source, cats, against):
                if not (split and in_validation_split(row, split, seed)):
                    yield row

    def dev_rows() -> Iterator[Any]:
        if args.dev:
            for source in args.dev:
                yield from _reader(args, source, cats, "the training data")
            return
        for source in args.data:
            for row in _reader(args, source, cats, against):
                if in_validation_split(row, split, seed):
                    yield row

    trainer = OutOfCoreTrainer(
        categories=cats, C=args.C if args.C is not None else _DEFAULT_C["sgd"], hash_bits=args.hash_bits, sentencepiece_vocab_size=args.sentencepiece_vocab_size,
        japanese_backend=args.japanese_backend, korean_backend=args.korean_backend, chunk_size=args.chunk_size,
        epochs=args.epochs, targets=targets, random_state=seed, progress=not args.quiet,
    )
    _say(args, f"training out of core in chunks of {args.chunk_size} rows, {args.epochs} epochs; "
               f"categories: {', '.join(cats)}")
    with _warnings_to_stderr():
        trainer.fit(train_rows, dev_rows)
    seconds = time.perf_counter() - started
    record = _training_record(args, targets, trainer.n_train_, None, seconds)
    record.update(n_dev=trainer.n_dev_, chunk_size=args.chunk_size, epochs=args.epochs)
    metrics = {"dev": trainer.metrics_}
    trainer.save(out, name=args.name or out.name, data=record, metrics=metrics)
    _report_trained(args, out, cats, trainer.model_.thresholds, metrics, seconds, int(trainer.model_.buckets.size))
    return EXIT_OK


# -- evaluate --------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Metrics of a model on labeled data, as JSON and/or an HTML report."""
    from . import __version__
    from ._metrics import evaluate_predictions
    from ._report import REPORT_TITLE, evaluation_details, render_html

    json_path, html_path = args.json, args.html
    if json_path is None and html_path is None:
        json_path = "-"
    if json_path == "-" and html_path == "-":
        raise CliError("--json and --html cannot both write to stdout")
    _check_output(json_path)
    _check_output(html_path)
    if html_path is not None:
        from ._report import _matplotlib

        _matplotlib()  # fail now, not after scoring, if the report cannot be drawn
    clf = _load_model(args.model)
    cats = clf.categories
    data = _read_labeled(args, args.data, cats, f"the model {args.model}")
    Y = data.matrix()
    P = _score_all(args, clf, data.texts)
    thresholds = _thresholds(clf)
    langs = data.langs()
    tags = [r.tags for r in data.rows]
    report: dict[str, Any] = {
        "title": REPORT_TITLE,
        "model": {"name": clf.manifest.get("name"), "path": str(_model_path(args.model))},
        "data": list(args.data),
        "n": len(data.rows),
        "categories": list(cats),
        "thresholds": {c: round(float(t), 6) for c, t in zip(cats, thresholds)},
        "searchsafe_version": __version__,
    }
    report.update(evaluate_predictions(Y, P, thresholds, cats, langs=langs, tags=tags))
    report.update(evaluation_details(Y, P, thresholds, cats, texts=data.texts, wheres=[r.where for r in data.rows],
                                     langs=langs, tags=tags, max_examples=args.max_examples))
    html_text = render_html(report, Y=Y, P=P) if html_path is not None else None
    json_text = json.dumps(report, ensure_ascii=False, indent=2) + "\n" if json_path is not None else None
    if json_text is not None:
        _write_text(json_path, json_text)
    if html_text is not None:
        _write_text(html_path, html_text)
    if not args.quiet:
        lines = [f"{'category':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'PR-AUC':>7} {'support':>8}"]
        for c in cats:
            m = report["overall"]["categories"][c]
            auc = m.get("pr_auc")
            lines.append(f"{c:<20} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                         f"{'-' if auc is None else f'{auc:.3f}':>7} {m['support']:>8}")
        hn = report["hard_negatives"]
        lines.append(f"macro-F1 {report['overall']['macro_f1']}; hard negatives flagged: "
                     f"{hn['false_positive_rate'] if hn['n'] else '-'} of {hn['n']}")
        for path, what in ((args.json, "JSON"), (html_path, "HTML report")):
            if path not in (None, "-"):
                lines.append(f"wrote {what} to {path}")
        print("\n".join(lines), file=sys.stderr)
    return EXIT_OK


# -- explain ---------------------------------------------------------------
def _feature_text(feature: str) -> str:
    kind = _FEATURE_KINDS.get(feature[:1], "feature")
    body = feature[1:]
    if feature[:1] == "w":
        # Word n-grams carry the word's edges as spaces; show them.
        body = body.replace(" ", "␣")
    return f"{body}  ({kind})"


def cmd_explain(args: argparse.Namespace) -> int:
    """Show why each query got its scores."""
    clf = _load_model(args.model)
    cats = clf.categories
    wanted = list(cats) if args.all else _check_categories(args.category, cats, "--category")
    queries: list[str] = []
    for q in args.queries:
        if q == "-":
            queries.extend(text for _, text in _iter_lines("-") if text.strip())
        else:
            queries.append(q)
    if not queries:
        raise CliError("<stdin>: empty: no queries")
    out = sys.stdout
    for i, query in enumerate(queries):
        e = clf.explain(query, categories=wanted or None, top=args.top)
        note = None
        if not wanted and not e["flagged"]:
            best = max(cats, key=lambda c: e["scores"][c] - clf.thresholds[c])
            e = clf.explain(query, categories=[best], top=args.top)
            note = f"nothing flagged; explaining the category closest to its threshold, {best}"
        if args.json:
            e = {**e, "thresholds": dict(clf.thresholds), "features": {c: [[f, v] for f, v in fs]
                                                                       for c, fs in e["features"].items()}}
            out.write(json.dumps(e, ensure_ascii=False) + "\n")
            continue
        lines = [] if i == 0 else [""]
        lines += [
            f"query:      {e['text']}",
            f"normalized: {e['normalized']}",
            f"folded:     {e['folded']}",
            f"language:   {e['lang']}",
            f"tokens:     {' | '.join(e['tokens']) if e['tokens'] else '(none)'}",
            "scores:",
        ]
        for c in cats:
            mark = "FLAGGED" if c in e["flagged"] else ""
            lines.append(f"  {c:<20} {e['scores'][c]:.4f}  (threshold {clf.thresholds[c]:.4f})  {mark}".rstrip())
        if note:
            lines.append(note)
        for c, feats in e["features"].items():
            lines.append(f"features behind {c} (contribution to the logit, largest first):")
            if not feats:
                lines.append("  (no feature of this query carries weight for it)")
            for feature, value in feats:
                lines.append(f"  {value:+8.4f}  {_feature_text(feature)}")
        out.write("\n".join(lines) + "\n")
    return EXIT_OK


# -- diff ------------------------------------------------------------------
def cmd_diff(args: argparse.Namespace) -> int:
    """The queries on which two models, or a model and the labels, disagree."""
    _check_output(args.out)
    fmt_out = args.output_format or ("csv" if (args.out or "").lower().endswith(".csv") else "json")
    a = _load_model(args.model_a)
    labels_mode = args.model_b == "labels"
    if labels_mode:
        if args.format == "lines":
            raise CliError("diff against 'labels' needs a labeled table (jsonl, csv, tsv, parquet)")
        if args.id_column:
            raise CliError("--id-column is not used with 'labels'; rows are named by file and line")
        data = _read_labeled(args, [args.data], a.categories, f"the model {args.model_a}")
        cats = list(a.categories)
        rows = [Query(0, r.where, r.text, None) for r in data.rows]
        Fb = data.matrix()
        b = None
    else:
        b = _load_model(args.model_b)
        cats = [c for c in a.categories if c in b.categories]
        if not cats:
            raise CliError(f"the models share no category: MODEL_A has {', '.join(a.categories)}; "
                           f"MODEL_B has {', '.join(b.categories)}")
        only = sorted(set(a.categories) ^ set(b.categories))
        if only:
            _say(args, f"comparing the {len(cats)} categories both models have; not compared: {', '.join(only)}")
        rows = list(_iter_queries(args.data, args.format, args.text_column, args.id_column))
    texts = [r.text for r in rows]
    ja = [a.categories.index(c) for c in cats]
    Pa = _score_all(args, a, texts, desc="scoring A")[:, ja]
    Fa = Pa >= _thresholds(a)[ja]
    if b is not None:
        jb = [b.categories.index(c) for c in cats]
        Pb = _score_all(args, b, texts, desc="scoring B")[:, jb]
        Fb = Pb >= _thresholds(b)[jb]
        directions = {"a_only": "flagged by MODEL_A, not by MODEL_B", "b_only": "flagged by MODEL_B, not by MODEL_A"}
    else:
        Pb = Fb.astype(np.float32)
        directions = {"false_positive": "flagged by the model, not labeled",
                      "false_negative": "labeled, not flagged by the model"}
    first, second = list(directions)
    groups = []
    counts: dict[str, dict[str, int]] = {}
    for j, c in enumerate(cats):
        counts[c] = {}
        for direction, mask in ((first, Fa[:, j] & ~Fb[:, j]), (second, ~Fa[:, j] & Fb[:, j])):
            idx = np.nonzero(mask)[0]
            counts[c][direction] = int(idx.size)
            if not idx.size:
                continue
            idx = idx[np.argsort(-np.abs(Pa[idx, j] - Pb[idx, j]), kind="stable")]
            if args.max_items > 0:
                idx = idx[:args.max_items]
            items = []
            for i in idx:
                item: dict[str, Any] = {"where": rows[i].where}
                if rows[i].id is not None:
                    item["id"] = rows[i].id
                item["text"] = rows[i].text
                item["score_a"] = round(float(Pa[i, j]), 4)
                if b is not None:
                    item["score_b"] = round(float(Pb[i, j]), 4)
                else:
                    item["labels"] = data.rows[i].labels
                items.append(item)
            groups.append({"category": c, "direction": direction, "count": counts[c][direction], "items": items})
    total = sum(sum(v.values()) for v in counts.values())
    rows_differing = int((Fa != Fb).any(axis=1).sum())
    result = {
        "a": {"model": args.model_a, "name": a.manifest.get("name")},
        "b": "labels" if b is None else {"model": args.model_b, "name": b.manifest.get("name")},
        "data": args.data,
        "n": len(rows),
        "categories": cats,
        "directions": directions,
        "counts": counts,
        "total": total,
        "rows_with_disagreement": rows_differing,
        "groups": groups,
    }
    if fmt_out == "json":
        _write_text(args.out, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        with _output(args.out, encoding=_csv_encoding(args.out), newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["category", "direction", "where", "id", "text", "score_a", "score_b", "labels"])
            for g in groups:
                for it in g["items"]:
                    w.writerow([g["category"], g["direction"], it["where"], it.get("id", ""), it["text"],
                                it["score_a"], it.get("score_b", ""), ",".join(it.get("labels", []))])
    if not args.quiet:
        lines = [f"{len(rows)} queries, {rows_differing} with a disagreement ({total} query-category pairs)"]
        lines.append(f"{'category':<20} {first:>15} {second:>15}")
        for c in cats:
            lines.append(f"{c:<20} {counts[c][first]:>15} {counts[c][second]:>15}")
        print("\n".join(lines), file=sys.stderr)
    return EXIT_FOUND if total else EXIT_OK


# -- sample ----------------------------------------------------------------
_BANDS = ("low", "uncertain", "high")


def _allocate(sizes: dict[Any, int], weights: dict[Any, float], n: int) -> dict[Any, int]:
    """Split *n* draws across strata in proportion to *weights*, capped at each stratum's size.

    Examples
    --------
    >>> _allocate({"a": 100, "b": 2, "c": 100}, {"a": 1, "b": 1, "c": 3}, 10)
    {'a': 2, 'b': 2, 'c': 6}
    """
    alloc = {s: 0 for s in sizes}
    active = [s for s in sizes if sizes[s] > 0]
    remaining = min(n, sum(sizes.values()))
    while remaining > 0 and active:
        total_w = sum(weights[s] for s in active)
        share = {s: remaining * weights[s] / total_w for s in active}
        capped = [s for s in active if alloc[s] + share[s] >= sizes[s]]
        if capped:
            for s in capped:
                remaining -= sizes[s] - alloc[s]
                alloc[s] = sizes[s]
            active = [s for s in active if s not in capped]
            continue
        floors = {s: int(share[s]) for s in active}
        for s in active:
            alloc[s] += floors[s]
        left = remaining - sum(floors.values())
        # Largest remainder first; ties in stratum order, so the result is deterministic.
        for s in sorted(active, key=lambda s: -(share[s] - floors[s]))[:left]:
            alloc[s] += 1
        remaining = 0
    return alloc


def cmd_sample(args: argparse.Namespace) -> int:
    """A stratified, reproducible audit sample as CSV."""
    _check_output(args.out)
    clf = _load_model(args.model)
    cats = clf.categories
    queries = list(_iter_queries(args.data, args.format, args.text_column, args.id_column))
    P = _score_all(args, clf, [q.text for q in queries])
    thresholds = _thresholds(clf)
    margin = P - thresholds
    top = margin.argmax(axis=1)
    top_margin = margin[np.arange(len(queries)), top]
    band = np.where(np.abs(top_margin) <= args.uncertain_width, 1, np.where(top_margin > 0, 2, 0))
    # A query's stratum: the category whose score is closest to (or furthest above) its threshold,
    # with the band of that score; queries far below every threshold form one stratum, none/low.
    strata: list[tuple[str, str]] = [("none", "low")] + [(c, b) for c in cats for b in ("uncertain", "high")]
    members: dict[tuple[str, str], list[int]] = {s: [] for s in strata}
    for i in range(len(queries)):
        members[("none", "low") if band[i] == 0 else (cats[top[i]], _BANDS[band[i]])].append(i)
    sizes = {s: len(members[s]) for s in strata}
    # Square-root allocation: between proportional (the big unflagged stratum takes everything)
    # and equal (it gets too few to estimate misses); the uncertain band counts --oversample times.
    weights = {s: (args.oversample if s[1] == "uncertain" else 1.0) * sizes[s] ** 0.5 for s in strata}
    alloc = _allocate(sizes, weights, args.n)
    rng = np.random.default_rng(args.seed)
    chosen: list[tuple[int, tuple[str, str]]] = []
    for s in strata:
        if alloc[s]:
            picks = rng.choice(len(members[s]), size=alloc[s], replace=False)
            chosen.extend((members[s][p], s) for p in sorted(picks))
    order = rng.permutation(len(chosen))
    has_id = any(q.id is not None for q in queries)
    header = ["sample_id", "text", "where"] + (["id"] if has_id else [])
    if not args.blind:
        header += ["stratum", "category", "band", "score", "threshold", "model_flags", "weight"]
    header += ["audit_labels", "audit_notes"]
    with _output(args.out, encoding=_csv_encoding(args.out), newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for sample_id, k in enumerate(order, 1):
            i, s = chosen[k]
            q = queries[i]
            row: list[Any] = [sample_id, q.text, q.where] + ([q.id or ""] if has_id else [])
            if not args.blind:
                j = int(top[i])
                row += [f"{s[0]}/{s[1]}", cats[j], s[1], f"{P[i, j]:.4f}",
                        f"{thresholds[j]:.4f}", ",".join(c for c, p, t in zip(cats, P[i], thresholds) if p >= t),
                        f"{sizes[s] / alloc[s]:.3f}"]
            row += ["", ""]
            w.writerow(row)
    if not args.quiet:
        lines = [f"sampled {len(chosen)} of {len(queries)} queries (seed {args.seed})",
                 f"{'stratum':<32} {'queries':>8} {'sampled':>8}"]
        for s in strata:
            if sizes[s]:
                lines.append(f"{s[0] + '/' + s[1]:<32} {sizes[s]:>8} {alloc[s]:>8}")
        if args.out not in (None, "-"):
            lines.append(f"wrote {args.out}")
        print("\n".join(lines), file=sys.stderr)
    return EXIT_OK


# -- agreement -------------------------------------------------------------
def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two raters' binary labels; None when chance agreement is total.

    Examples
    --------
    >>> cohen_kappa(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.5
    >>> cohen_kappa(np.array([0, 0]), np.array([0, 0])) is None
    True
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    observed = float((a == b).mean())
    pa, pb = float(a.mean()), float(b.mean())
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1 - 1e-12:
        return None
    return round((observed - expected) / (1 - expected), 4)


def fleiss_kappa(votes: np.ndarray) -> float | None:
    """Fleiss' kappa of binary votes, shape (items, raters); None when chance agreement is total.

    Examples
    --------
    >>> fleiss_kappa(np.array([[1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 0]]))
    0.6571
    """
    votes = np.asarray(votes, dtype=bool)
    n, m = votes.shape
    pos = votes.sum(axis=1).astype(float)
    neg = m - pos
    per_item = (pos * (pos - 1) + neg * (neg - 1)) / (m * (m - 1))
    p1 = pos.sum() / (n * m)
    expected = p1 ** 2 + (1 - p1) ** 2
    if expected >= 1 - 1e-12:
        return None
    return round((float(per_item.mean()) - float(expected)) / (1 - float(expected)), 4)


def cmd_agreement(args: argparse.Namespace) -> int:
    """Inter-annotator agreement per category and the items the labelers disagree on."""
    from ._ooc import display_name

    files = args.labels
    if len(files) < 2:
        raise CliError(f"agreement needs at least two label files, one per labeler; got {len(files)}")
    if len(set(files)) != len(files) or files.count("-") > 1:
        raise CliError("each label file may be given once")
    _check_output(args.out)
    _check_output(args.disagreements)
    cats = args.categories
    against = "--categories" if cats else ""
    tables: list[dict[str, Any]] = []
    for source in files:
        reader = _reader(args, source, cats, against or f"the first file ({display_name(files[0])})",
                         id_column=args.id_column)
        table: dict[str, Any] = {}
        for row in reader:
            if row.key in table:
                hint = "" if args.id_column else " (align with --id-column)"
                raise CliError(f"{row.where}: duplicate item {row.key!r} (also at {table[row.key].where}); "
                               f"each item may appear once per file{hint}")
            table[row.key] = row
        cats = reader.categories
        tables.append(table)
    assert cats is not None
    common = [key for key in tables[0] if all(key in t for t in tables[1:])]
    if not common:
        aligned = f"--id-column {args.id_column}" if args.id_column else "text"
        raise CliError(f"no item appears in every file (aligned by {aligned})")
    index = {c: j for j, c in enumerate(cats)}
    votes = np.zeros((len(common), len(files), len(cats)), dtype=bool)
    for f, table in enumerate(tables):
        for i, key in enumerate(common):
            for label in table[key].labels:
                votes[i, f, index[label]] = True
    names = [display_name(s) for s in files]
    method = "cohen" if len(files) == 2 else "fleiss"
    per_category: dict[str, Any] = {}
    for j, c in enumerate(cats):
        v = votes[:, :, j]
        kappa = cohen_kappa(v[:, 0], v[:, 1]) if method == "cohen" else fleiss_kappa(v)
        per_category[c] = {
            "kappa": kappa,
            "observed_agreement": round(float((v.all(axis=1) | ~v.any(axis=1)).mean()), 4),
            "positives": {name: int(v[:, f].sum()) for f, name in enumerate(names)},
            "disagreements": int((v.any(axis=1) & ~v.all(axis=1)).sum()),
        }
    disagreements = []
    for i, key in enumerate(common):
        split = [j for j in range(len(cats)) if votes[i, :, j].any() and not votes[i, :, j].all()]
        if split:
            disagreements.append({
                "item": key,
                "text": tables[0][key].text,
                "where": {name: tables[f][key].where for f, name in enumerate(names)},
                "categories": {cats[j]: {name: int(votes[i, f, j]) for f, name in enumerate(names)} for j in split},
            })
    result = {
        "files": names,
        "method": "Cohen's kappa" if method == "cohen" else "Fleiss' kappa",
        "aligned_by": args.id_column or "text",
        "n_items": len(common),
        "unmatched": {name: len(t) - len(common) for name, t in zip(names, tables)},
        "categories": per_category,
        "n_disagreements": len(disagreements),
        "disagreements": disagreements,
    }
    json_text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if args.disagreements:
        with _output(args.disagreements, encoding=_csv_encoding(args.disagreements), newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["item", "text", "category", *names])
            for d in disagreements:
                for c, v in d["categories"].items():
                    w.writerow([d["item"], d["text"], c, *(v[name] for name in names)])
    _write_text(args.out, json_text)
    if not args.quiet:
        labeled_by = "both files" if len(files) == 2 else f"all {len(files)} files"
        lines = [f"{len(common)} items labeled by {labeled_by}; {result['method']}; "
                 f"{len(disagreements)} items with a disagreement"]
        skipped = {n: k for n, k in result["unmatched"].items() if k}
        if skipped:
            lines.append("not in every file (left out): " + ", ".join(f"{n} {k}" for n, k in skipped.items()))
        for c, m in per_category.items():
            k = m["kappa"]
            lines.append(f"{c:<20} kappa {'n/a' if k is None else f'{k:+.3f}'}  "
                         f"agreement {m['observed_agreement']:.3f}  disagreements {m['disagreements']}")
        print("\n".join(lines), file=sys.stderr)
    if args.min_kappa is not None:
        low = [c for c, m in per_category.items() if m["kappa"] is not None and m["kappa"] < args.min_kappa]
        if low:
            print(f"searchsafe: --min-kappa {args.min_kappa}: below it: "
                  + ", ".join(f"{c} ({per_category[c]['kappa']})" for c in low), file=sys.stderr)
            return EXIT_FOUND
    return EXIT_OK


# -- info / verify ---------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    """Print a model's manifest, readably or as JSON."""
    from ._modelio import read_manifest

    path = _model_path(args.model)
    if args.model != DEFAULT_MODEL and not path.exists():
        raise CliError(f"{args.model}: no such model directory (use 'default' for the bundled model)")
    manifest = read_manifest(path)
    if args.json:
        sys.stdout.write(json.dumps({"path": str(path), **manifest}, ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    training = manifest.get("training", {})
    metrics = manifest.get("metrics", {})
    split = next((s for s in ("test", "dev") if s in metrics), None)
    lines = [
        f"name:       {manifest.get('name', '-')}",
        f"path:       {path}",
        f"format:     {manifest.get('format')} version {manifest.get('format_version')}",
        f"trained:    {training.get('n_train', '-')} rows; thresholds from {training.get('threshold_source', '-')}"
        + (f"; {training['mode']}" if "mode" in training else ""),
    ]
    if "command" in training:
        lines.append(f"command:    {training['command']}")
    versions = manifest.get("versions", {})
    lines.append("versions:   " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    for lang, tok in manifest.get("tokenizers", {}).items():
        lines.append(f"tokenizer:  {lang}: " + ", ".join(f"{k} {v}" for k, v in tok.items()))
    lines.append(f"weights:    {manifest.get('n_weights', '-')} rows; features {manifest.get('features', {})}")
    header = f"categories ({len(manifest.get('categories', []))}):"
    if split:
        header += f"  precision / recall / F1 on {split}"
    lines.append(header)
    for c in manifest.get("categories", []):
        line = f"  {c:<20} threshold {manifest.get('thresholds', {}).get(c, float('nan')):.4f}"
        m = metrics.get(split, {}).get("overall", {}).get("categories", {}).get(c) if split else None
        if m:
            line += f"   {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f}"
        lines.append(line)
    for s in ("dev", "test"):
        if s in metrics:
            hn = metrics[s].get("hard_negatives", {})
            lines.append(f"{s + ':':<11} macro-F1 {metrics[s]['overall'].get('macro_f1')}, "
                         f"hard negatives flagged {hn.get('false_positive_rate')}")
    for name, digest in manifest.get("files", {}).items():
        lines.append(f"file:       {name} sha256 {digest}")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a model directory; exit 3 on the first problem."""
    from ._classifier import Classifier
    from ._errors import SearchsafeError
    from ._modelio import FORMAT_VERSION, read_manifest, read_model, verify_files

    path = _model_path(args.model)
    if args.model != DEFAULT_MODEL and not path.exists():
        raise CliError(f"{args.model}: no such model directory (use 'default' for the bundled model)")
    out = sys.stdout
    try:
        manifest = read_manifest(path)
        out.write(f"ok  manifest: format version {manifest['format_version']} "
                  f"(this searchsafe reads up to {FORMAT_VERSION})\n")
        verify_files(path, manifest)
        out.write(f"ok  files: {len(manifest['files'])} match their sha256 in the manifest\n")
        data = read_model(path)
        bad = [c for c, t in zip(data.categories, data.thresholds) if not 0.0 < float(t) < 1.0]
        if bad:
            raise CliError(f"{path}: threshold of {bad[0]!r} is outside (0, 1)", EXIT_VERIFY_FAILED)
        out.write(f"ok  weights: {data.buckets.size} rows for {len(data.categories)} categories\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = Classifier(data)
        P = clf.score_batch(["猫 飼い方", "고양이 사료 추천", "死にたい", "자살 방법", ""])
        if not (np.isfinite(P).all() and (P >= 0).all() and (P <= 1).all()):
            raise CliError(f"{path}: scores are not probabilities (NaN or outside [0, 1])", EXIT_VERIFY_FAILED)
        out.write("ok  scoring: tokenizers load and scores are probabilities\n")
        mismatches = []
        for lang, extractor_tok in (("japanese", clf._extractor._ja), ("korean", clf._extractor._ko)):
            recorded = manifest.get("tokenizers", {}).get(lang, {})
            for dist, version in extractor_tok.versions.items():
                if dist in recorded and recorded[dist] != version:
                    mismatches.append(f"{dist} {version} installed, model trained with {recorded[dist]}")
        if mismatches:
            message = "tokenizer versions differ (tokens, so scores, may shift): " + "; ".join(mismatches)
            if args.strict:
                raise CliError(f"{path}: {message}", EXIT_VERIFY_FAILED)
            print(f"searchsafe: warning: {message}", file=sys.stderr)
        else:
            out.write("ok  compatibility: installed tokenizer versions match the model's\n")
    except CliError:
        raise
    except (SearchsafeError, ImportError, OSError, ValueError) as exc:
        raise CliError(str(exc), EXIT_VERIFY_FAILED) from None
    out.write(f"verified {path}\n")
    return EXIT_OK


# -- entry point -----------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the ``searchsafe`` command line and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 ok, 1 something was found (``--fail-on``, ``diff``, ``--min-kappa``),
        2 bad input or usage, 3 ``verify`` failed, 130 interrupted, 141 broken pipe.
    """
    from ._data import DataError
    from ._errors import SearchsafeError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            raise CliError(f"unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)} "
                           "(see 'searchsafe --help')")
        args = parser.parse_args(argv)
        if args.command is None:
            raise CliError(f"choose a command: {', '.join(COMMANDS)} (see 'searchsafe --help')")
    except CliError as exc:
        print(f"searchsafe: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    args.argv = argv
    try:
        # A steep calibration can push a logit past float32's exp range; the
        # score is then exactly 0.0 or 1.0, which is right, so say nothing.
        with np.errstate(over="ignore"):
            return args.func(args)
    except CliError as exc:
        message, code = str(exc), exc.code
    except (DataError, SearchsafeError) as exc:
        message, code = str(exc), EXIT_BAD_INPUT
    except ImportError as exc:  # an optional dependency, e.g. matplotlib for --html
        message, code = str(exc), EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`searchsafe score big.txt | head`): stop quietly.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        where = exc.filename if exc.filename is not None else "searchsafe"
        message, code = f"{where}: {exc.strerror or exc}", EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("searchsafe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"searchsafe: error: {_one_line(message)}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
