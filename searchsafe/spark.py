"""Score, sample and evaluate query logs on Apache Spark.

Needs the ``spark`` extra (``pip install 'searchsafe[spark]'``: pyspark and
pyarrow) on the driver and on every executor. This module sits beside the
scoring core: ``import searchsafe`` never imports it, nor pyspark.

:func:`score` adds ``score_<category>`` (float) and ``flag_<category>``
(boolean) columns, plus ``action`` and ``escalate`` with a policy;
:func:`sample` draws the same stratified audit sample as ``searchsafe sample``
(same seed, same rows); :func:`evaluate` gives the metrics of
``searchsafe evaluate`` for labeled rows. Rows travel to Python as Arrow
batches (``mapInArrow``), and each Python worker process loads and verifies
the model once, however many tasks and batches it runs. The model directory
travels with the job (``SparkContext.addFile``) unless ``distribute="path"``
says every executor can read it where the driver does.

Examples
--------
>>> from searchsafe import spark
>>> spark.output_columns(["self_harm", "hate"])
['score_self_harm', 'score_hate', 'flag_self_harm', 'flag_hate']
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ._errors import InvalidParameterError, ModelError, SearchsafeError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["score", "sample", "evaluate", "session", "output_columns", "AuditSample", "DISTRIBUTE"]

#: How the model reaches the executors: ``"ship"`` copies it with ``SparkContext.addFile``;
#: ``"path"`` reads it where the driver does (a shared file system, or the installed package).
DISTRIBUTE = ("ship", "path")
_INSTALL_HINT = "searchsafe.spark needs pyspark and pyarrow: pip install 'searchsafe[spark]'"
_BANDS = ("low", "uncertain", "high")
# Internal columns of sample(); the prefix keeps them clear of a user's names.
_P = "_searchsafe_"


def _pyspark() -> Any:
    try:
        import pyarrow  # noqa: F401
        import pyspark
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None
    return pyspark


def output_columns(categories: Sequence[str], *, policy: bool = False) -> list[str]:
    """Names of the columns :func:`score` adds, in order.

    Examples
    --------
    >>> output_columns(["sexual"], policy=True)
    ['score_sexual', 'flag_sexual', 'action', 'escalate']
    """
    cols = [f"score_{c}" for c in categories] + [f"flag_{c}" for c in categories]
    return cols + (["action", "escalate"] if policy else [])


# -- sessions --------------------------------------------------------------
def session(master: str | None = "local[*]", app_name: str = "searchsafe", **conf: str) -> "SparkSession":
    """A SparkSession for searchsafe: the active one, or a new one on *master*.

    A local master binds the driver to the loopback interface and turns the
    web UI off, so a laptop run opens no port to the network. ``master=None``
    leaves the master to ``spark-submit`` or ``spark-defaults.conf``.

    Parameters
    ----------
    master : str or None
        ``local[*]``, ``local[2]``, ``yarn``, ``spark://host:7077``, ...
    app_name : str
    **conf : str
        Further Spark settings, e.g. ``**{"spark.executor.memory": "2g"}``.
    """
    _pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            # Local Python workers are children of the JVM that starts now, with this environment:
            # make them import the searchsafe this driver runs (a source checkout included).
            root = str(Path(__file__).resolve().parent.parent)
            paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
            if root not in paths:
                os.environ["PYTHONPATH"] = os.pathsep.join([root] + [p for p in paths if p])
            if "PYSPARK_PYTHON" not in os.environ:
                # Workers run this interpreter, with the packages this driver has. PySpark
                # reads only the variable (the spark.pyspark.python setting is ignored
                # outside spark-submit), and without it workers start whatever `python3`
                # is first on PATH: outside an activated venv, one without pyarrow.
                os.environ["PYSPARK_PYTHON"] = sys.executable
            builder = (builder.config("spark.driver.bindAddress", "127.0.0.1")
                       .config("spark.driver.host", "127.0.0.1")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       # 200 shuffle partitions (the default, sized for clusters) cost more than they
                       # bring on a few local cores.
                       .config("spark.sql.shuffle.partitions", "4"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def under_spark_submit() -> bool:
    """Whether this process is a driver that ``spark-submit`` started (it then owns the master and settings)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


# -- errors from the workers ----------------------------------------------
_WORKER_ERROR = re.compile(r"searchsafe\.[\w.]*?(ModelError|DataError|InvalidParameterError|SearchsafeError|"
                           r"BackendUnavailableError|PolicyError): (.*)")


def _worker_error(exc: BaseException) -> SearchsafeError | None:
    """The searchsafe error a Python worker raised, out of Spark's wrapping of its traceback."""
    found = _WORKER_ERROR.findall(str(exc))
    if not found:
        return None
    kind, message = found[-1]
    from ._data import DataError
    from ._errors import BackendUnavailableError

    cls = {"ModelError": ModelError, "DataError": DataError, "InvalidParameterError": InvalidParameterError,
           "BackendUnavailableError": BackendUnavailableError}.get(kind, SearchsafeError)
    return cls(message.strip())


def _run(action: Callable[[], Any]) -> Any:
    """Run a Spark action; an error a worker raised on purpose comes back as itself, in one line."""
    from pyspark.errors import PythonException

    try:
        return action()
    except PythonException as exc:
        err = _worker_error(exc)
        if err is None:
            raise
        raise err from None


# -- the model and policy on the executors --------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class _Artifact:
    """A model directory or policy file as the workers find it: where, and the sha256 it must have."""

    kind: str  # "model" or "policy"
    how: str  # "ship": a SparkFiles name; "path": a path every executor reads
    where: str
    digest: str  # sha256 of the manifest (a model) or of the file (a policy)

    def local_path(self) -> Path:
        if self.how == "ship":
            from pyspark import SparkFiles

            return Path(SparkFiles.get(self.where))
        return Path(self.where)


_STAGING: list[str] = []
_SHIPPED: dict[tuple[str, str], str] = {}
_SHIP_LOCK = threading.Lock()


def _cleanup_staging() -> None:
    for d in _STAGING:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_staging)


def _ship(spark: "SparkSession", source: Path, kind: str, digest: str) -> str:
    """Add *source* to the job's files once per SparkContext, under a name that holds its digest.

    The name changes with the content, so two models (or a retrained one) never
    collide in an executor's file cache, and the same model is added once.
    """
    sc = spark.sparkContext
    key = (sc.applicationId, f"{kind}:{digest}")
    with _SHIP_LOCK:
        if key in _SHIPPED:
            return _SHIPPED[key]
        staging = tempfile.mkdtemp(prefix="searchsafe-spark-")
        _STAGING.append(staging)
        name = f"searchsafe-{kind}-{digest[:16]}" + (source.suffix if source.is_file() else "")
        target = Path(staging) / name
        if source.is_dir():
            shutil.copytree(source, target)
            sc.addFile(str(target), recursive=True)
        else:
            shutil.copyfile(source, target)
            sc.addFile(str(target))
        _SHIPPED[key] = name
        return name


def _model_dir(model: str | os.PathLike[str]) -> Path:
    from ._classifier import default_model_path

    path = default_model_path() if str(model) == "default" else Path(model)
    if not path.exists():
        raise ModelError(f"{model}: no such model directory (use 'default' for the bundled model)")
    return path


def _prepare_model(spark: "SparkSession", model: str | os.PathLike[str], distribute: str) -> tuple[_Artifact, Any]:
    """Verify the model on the driver (fail before any task starts) and say where workers find it."""
    from ._classifier import load

    if distribute not in DISTRIBUTE:
        raise InvalidParameterError(f"distribute must be one of {DISTRIBUTE}; got {distribute!r}")
    path = _model_dir(model)
    clf = load(path)
    digest = _sha256(path / "manifest.json")
    where = _ship(spark, path, "model", digest) if distribute == "ship" else str(path.resolve())
    return _Artifact("model", distribute, where, digest), clf


# One classifier (and guard) per Python worker process, however many tasks and
# batches it runs: Spark reuses its Python workers between tasks.
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()
_LOADS: dict[str, int] = {}


def _verified(artifact: _Artifact) -> Path:
    path = artifact.local_path()
    target = path / "manifest.json" if artifact.kind == "model" else path
    if not target.is_file():
        raise ModelError(f"{path}: the {artifact.kind} is missing on this executor ({artifact.how} {artifact.where})")
    actual = _sha256(target)
    if actual != artifact.digest:
        raise ModelError(
            f"{path}: this executor's {artifact.kind} (sha256 {actual[:12]}…) differs from the driver's "
            f"({artifact.digest[:12]}…); ship it (distribute='ship') or install the same one on every executor"
        )
    return path


def _worker_classifier(model: _Artifact) -> Any:
    key = ("model", model.how, model.where, model.digest)
    with _CACHE_LOCK:
        clf = _CACHE.get(key)
        if clf is None:
            from ._classifier import load

            # load() checks every file's sha256 against the manifest we just verified.
            clf = load(_verified(model))
            _CACHE[key] = clf
            _LOADS[f"model:{model.digest}"] = _LOADS.get(f"model:{model.digest}", 0) + 1
        return clf


def _worker_guard(policy: _Artifact, market: str | None, model: _Artifact) -> Any:
    key = ("policy", policy.how, policy.where, policy.digest, market, model.digest)
    with _CACHE_LOCK:
        guard = _CACHE.get(key)
    if guard is None:
        clf = _worker_classifier(model)
        with _CACHE_LOCK:
            guard = _CACHE.get(key)
            if guard is None:
                if policy.how == "default":
                    import searchsafe

                    if searchsafe.__version__ != policy.digest:
                        raise ModelError(f"this executor has searchsafe {searchsafe.__version__}, the driver "
                                         f"{policy.digest}; the shipped policies differ between versions")
                    guard = _make_guard(None, market, clf)
                else:
                    guard = _make_guard(_verified(policy), market, clf)
                _CACHE[key] = guard
                _LOADS[f"policy:{policy.digest}"] = _LOADS.get(f"policy:{policy.digest}", 0) + 1
    return guard


def loads_in_this_process() -> dict[str, int]:
    """How many times this process loaded each model and policy, by sha256: ``{"model:<sha256>": 1, ...}``."""
    return dict(_LOADS)


# -- policies --------------------------------------------------------------
def _load_policy_function() -> Callable[..., Any]:
    import searchsafe

    fn = getattr(searchsafe, "load_policy", None)
    if fn is None:
        raise InvalidParameterError(
            f"policy= needs searchsafe.load_policy, which this searchsafe {searchsafe.__version__} does not have; "
            "upgrade searchsafe, or score without a policy"
        )
    return fn


def _make_guard(path: Path | None, market: str | None, clf: Any) -> Any:
    """A Guard for the policy file at *path* (None: the shipped default policies) that scores with *clf*."""
    import inspect

    fn = _load_policy_function()
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    if market is not None:
        kwargs["market"] = market
    # Hand the guard the classifier this process already holds rather than a second copy.
    for name in ("classifier", "clf", "model"):
        if name in params:
            kwargs[name] = clf
            break
    return fn(None if path is None else str(path), **kwargs)


def _action_names(guard: Any, codes: Any) -> list[str | None]:
    import searchsafe

    codes = np.asarray(codes)
    if codes.dtype.kind in "US":
        return [str(c) for c in codes]
    if codes.dtype.kind == "O":
        return [None if c is None else getattr(c, "name", str(c)) for c in codes]
    names = getattr(guard, "actions", None) or getattr(searchsafe, "ACTIONS", None)
    if names is None:
        return [str(int(c)) for c in codes]
    names = list(names)
    return [names[int(c)] for c in codes]


def _prepare_policy(spark: "SparkSession", policy: str | os.PathLike[str] | None, market: str | None,
                    clf: Any, distribute: str) -> _Artifact | None:
    if policy is None:
        if market is not None:
            raise InvalidParameterError("market= needs policy=; give the policy file that defines the market")
        return None
    _load_policy_function()
    if str(policy) == "default":
        _make_guard(None, market, clf)  # validate the market on the driver
        # The shipped policies come with searchsafe itself, which every executor has.
        import searchsafe

        return _Artifact("policy", "default", "default", searchsafe.__version__)
    path = Path(policy)
    if not path.is_file():
        raise InvalidParameterError(f"{policy}: no such policy file")
    _make_guard(path, market, clf)  # validate on the driver: a bad policy fails before any task starts
    digest = _sha256(path)
    where = _ship(spark, path, "policy", digest) if distribute == "ship" else str(path.resolve())
    return _Artifact("policy", distribute, where, digest)


# -- score -----------------------------------------------------------------
def _check_text_column(df: "DataFrame", text_col: str) -> int:
    from pyspark.sql.types import NullType, StringType

    if not isinstance(text_col, str):
        raise InvalidParameterError(f"text_col must be a column name (str); got {type(text_col).__name__}")
    names = df.columns
    if text_col not in names:
        raise InvalidParameterError(f"text_col {text_col!r} is not a column of the DataFrame (columns: "
                                    f"{', '.join(names)})")
    if names.count(text_col) > 1:
        raise InvalidParameterError(f"text_col {text_col!r} names {names.count(text_col)} columns; rename them")
    dtype = df.schema[text_col].dataType
    if not isinstance(dtype, (StringType, NullType)):
        # The library takes str or None and nothing else; so does a column.
        raise InvalidParameterError(
            f"text_col {text_col!r} is a {dtype.simpleString()} column; queries must be strings "
            f"(cast it: df.withColumn({text_col!r}, df[{text_col!r}].cast('string')))"
        )
    return names.index(text_col)


def _check_df(df: Any) -> "DataFrame":
    _pyspark()
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise InvalidParameterError(f"df must be a pyspark.sql.DataFrame; got {type(df).__name__}")
    return df


def _check_free(df: "DataFrame", new: Sequence[str]) -> None:
    taken = [c for c in new if c in df.columns]
    if taken:
        raise InvalidParameterError(f"the DataFrame already has columns named {', '.join(taken)}, which score() "
                                    "adds; drop or rename them first")


def _texts(column: Any) -> list[str | None]:
    return column.to_pylist()


def _score_batches(batches: Iterator[Any], text_index: int, model: _Artifact, policy: _Artifact | None,
                   market: str | None, names: list[str], extra: Callable[[Any], Callable] | None,
                   counter: Any = None) -> Iterator[Any]:
    """One partition's Arrow batches in, the same batches with scores, flags (and decisions) out."""
    import pyarrow as pa

    clf = _worker_classifier(model)
    guard = _worker_guard(policy, market, model) if policy is not None else None
    thresholds = clf._threshold_array
    # Extra columns (sample's strata) keep running state over the partition, so one per call.
    more = extra(clf) if extra is not None else None
    for batch in batches:
        texts = _texts(batch.column(text_index))
        P = clf.score_batch(texts)
        F = P >= thresholds
        cols = list(batch.columns)
        cols += [pa.array(P[:, j], type=pa.float32()) for j in range(P.shape[1])]
        cols += [pa.array(F[:, j], type=pa.bool_()) for j in range(F.shape[1])]
        if guard is not None:
            codes = guard.decide_batch(texts)
            cols.append(pa.array(_action_names(guard, codes), type=pa.string()))
            cols.append(pa.array(np.asarray(codes.escalate, dtype=bool), type=pa.bool_()))
        if more is not None:
            cols += more(batch, P, texts)
        if counter is not None:
            counter.add(np.concatenate([[len(P)], F.sum(axis=0)]).astype(np.int64))
        yield pa.RecordBatch.from_arrays(cols, names=names)


def _scored_schema(df: "DataFrame", categories: Sequence[str], policy: bool) -> Any:
    from pyspark.sql.types import BooleanType, FloatType, StringType, StructField, StructType

    fields = list(df.schema.fields)
    fields += [StructField(f"score_{c}", FloatType(), False) for c in categories]
    fields += [StructField(f"flag_{c}", BooleanType(), False) for c in categories]
    if policy:
        fields += [StructField("action", StringType(), True), StructField("escalate", BooleanType(), False)]
    return StructType(fields)


def _map_scores(df: "DataFrame", text_col: str, model: str | os.PathLike[str], policy: Any, market: str | None,
                distribute: str, extra_fields: Sequence[Any] = (), extra: Callable | None = None,
                counter: bool = False) -> tuple["DataFrame", Any, Any]:
    from pyspark.sql.types import StructType

    df = _check_df(df)
    text_index = _check_text_column(df, text_col)
    spark = df.sparkSession
    model_art, clf = _prepare_model(spark, model, distribute)
    cats = list(clf.categories)
    _check_free(df, output_columns(cats, policy=policy is not None))
    policy_art = _prepare_policy(spark, policy, market, clf, distribute)
    schema = StructType(list(_scored_schema(df, cats, policy_art is not None).fields) + list(extra_fields))
    names = [f.name for f in schema.fields]
    acc = (spark.sparkContext.accumulator(np.zeros(len(cats) + 1, dtype=np.int64), _Counts())
           if counter else None)

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        return _score_batches(batches, text_index, model_art, policy_art, market, names, extra, acc)

    return df.mapInArrow(run, schema), clf, acc


class _Counts:
    """Accumulator arithmetic for int64 arrays: rows scored, then flags per category."""

    def zero(self, value: np.ndarray) -> np.ndarray:
        return np.zeros_like(value)

    def addInPlace(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: N802 (Spark's name)
        a += b
        return a


def scored_with_counts(df: "DataFrame", text_col: str = "query", model: str | os.PathLike[str] = "default",
                       policy: str | os.PathLike[str] | None = None, market: str | None = None, *,
                       distribute: str = "ship") -> tuple["DataFrame", Any, Any]:
    """:func:`score`, plus an accumulator that counts rows and flags per category as actions run.

    Returns ``(DataFrame, accumulator, classifier)``; after an action,
    ``accumulator.value`` is ``[rows, flags of category 0, ...]`` (a task that
    Spark retries counts twice).
    """
    out, clf, acc = _map_scores(df, text_col, model, policy, market, distribute, counter=True)
    return out, acc, clf


def score(
    df: "DataFrame",
    text_col: str = "query",
    model: str | os.PathLike[str] = "default",
    policy: str | os.PathLike[str] | None = None,
    market: str | None = None,
    *,
    distribute: str = "ship",
) -> "DataFrame":
    """The DataFrame with its columns plus ``score_<category>`` and ``flag_<category>`` for every category.

    Lazy like any transformation: nothing runs until an action (``write``,
    ``count``, ...). Scores are float32 (Spark ``float``), bit for bit those of
    :meth:`searchsafe.Classifier.score_batch`; flags are
    :meth:`~searchsafe.Classifier.predict_batch`. Null and empty queries score
    0.0, as in the library.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    text_col : str
        The string column that holds the queries. Another type is an
        :class:`~searchsafe.InvalidParameterError` (cast it to string first).
    model : str or path-like
        ``"default"`` for the bundled model, or a model directory on the driver.
        It is verified on the driver before the job starts and again, by its
        manifest's sha256, in every Python worker that loads it.
    policy : str or path-like, optional
        A policy file for :func:`searchsafe.load_policy`, or ``"default"`` for
        the shipped policies; adds ``action`` (string: ``allow``, ``downrank``,
        ...) and ``escalate`` (boolean), as ``Guard.decide_batch`` decides them.
    market : str, optional
        The policy's market, e.g. ``"jp"``.
    distribute : {"ship", "path"}
        ``"ship"`` (default) sends the model (and policy) with the job through
        ``SparkContext.addFile``; ``"path"`` makes each executor read it at the
        driver's path (a shared file system).

    Returns
    -------
    pyspark.sql.DataFrame
    """
    out, _, _ = _map_scores(df, text_col, model, policy, market, distribute)
    return out


# -- sample ----------------------------------------------------------------
def strata_names(categories: Sequence[str]) -> list[str]:
    """The audit strata in the order ``searchsafe sample`` uses: none/low, then uncertain and high per category.

    Examples
    --------
    >>> strata_names(["hate"])
    ['none/low', 'hate/uncertain', 'hate/high']
    """
    return ["none/low"] + [f"{c}/{b}" for c in categories for b in ("uncertain", "high")]


def stratify(P: np.ndarray, thresholds: np.ndarray, uncertain_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top category and stratum index, exactly as ``searchsafe sample`` assigns them.

    The top category is the one whose score is closest to (or furthest above)
    its threshold; within *uncertain_width* of it the query is ``uncertain``,
    above it ``high``; queries far below every threshold are ``none/low`` (0).

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[0.1, 0.85], [0.95, 0.2], [0.1, 0.1]], np.float32)
    >>> top, stratum = stratify(P, np.array([0.5, 0.9], np.float32), 0.1)
    >>> top.tolist(), [strata_names(["a", "b"])[s] for s in stratum]
    ([1, 0, 0], ['b/uncertain', 'a/high', 'none/low'])
    """
    margin = P - thresholds
    top = margin.argmax(axis=1) if len(P) else np.zeros(0, dtype=np.int64)
    top_margin = margin[np.arange(len(P)), top]
    band = np.where(np.abs(top_margin) <= uncertain_width, 1, np.where(top_margin > 0, 2, 0))
    stratum = np.where(band == 0, 0, 1 + 2 * top + (band - 1))
    return top, stratum


def allocate(sizes: dict[Any, int], weights: dict[Any, float], n: int) -> dict[Any, int]:
    """Split *n* draws across strata in proportion to *weights*, capped at each stratum's size.

    The allocation of ``searchsafe sample``: shares are floored, then the largest
    remainders get one more, ties in stratum order.

    Examples
    --------
    >>> allocate({"a": 100, "b": 2, "c": 100}, {"a": 1, "b": 1, "c": 3}, 10)
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
        for s in sorted(active, key=lambda s: -(share[s] - floors[s]))[:left]:
            alloc[s] += 1
        remaining = 0
    return alloc


def draw(sizes: Sequence[int], n: int, seed: int, oversample: float) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """Which members of which strata an audit sample of *n* takes, in sample order.

    Returns ``[(stratum, position in stratum), ...]`` (sample_id 1, 2, ...) and
    the allocation per stratum. Positions count members in the data's order.
    Only the strata's sizes and the seed decide the draw, so a cluster that
    counts its strata draws the sample one machine would.

    Examples
    --------
    >>> picks, alloc = draw([10, 3, 0], 4, seed=7, oversample=3.0)
    >>> alloc, len(picks)
    ({0: 2, 1: 2, 2: 0}, 4)
    """
    ids = list(range(len(sizes)))
    size_of = {s: int(sizes[s]) for s in ids}
    # Square-root allocation: between proportional (the big unflagged stratum takes everything)
    # and equal (it gets too few to estimate misses); the uncertain band counts `oversample` times.
    weights = {s: (oversample if s % 2 == 1 else 1.0) * size_of[s] ** 0.5 for s in ids}
    alloc = allocate(size_of, weights, n)
    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, int]] = []
    for s in ids:
        if alloc[s]:
            picks = rng.choice(size_of[s], size=alloc[s], replace=False)
            chosen.extend((s, int(p)) for p in sorted(picks))
    order = rng.permutation(len(chosen))
    return [chosen[k] for k in order], alloc


@dataclass
class AuditSample:
    """The result of :func:`sample`.

    Attributes
    ----------
    rows : pyspark.sql.DataFrame
        The sampled rows in sample order: the input's columns, then
        ``sample_id`` (1, 2, ...), ``row_number`` (1-based position in the
        input), ``stratum``, ``category``, ``band``, ``score`` and
        ``threshold`` (of that category), ``model_flags`` (comma-separated)
        and ``weight`` (how many input rows each sampled one stands for).
    strata : dict
        ``{stratum: (rows in it, rows sampled)}`` for every stratum, in order.
    total : int
        Rows in the input.
    seed : int
    """

    rows: "DataFrame"
    strata: dict[str, tuple[int, int]]
    total: int
    seed: int


def _sample_columns(clf: Any, width: float) -> Callable[[np.ndarray], list]:
    """Per partition: each row's partition, index, stratum, position in its stratum there, and top category."""
    import pyarrow as pa
    from pyspark import TaskContext

    ctx = TaskContext.get()
    part = ctx.partitionId() if ctx is not None else 0
    thresholds = clf._threshold_array
    seen = np.zeros(2 * len(thresholds) + 1, dtype=np.int64)
    done = [0]

    def columns(batch: Any, P: np.ndarray, texts: list) -> list:
        top, stratum = stratify(P, thresholds, width)
        pos = np.empty(len(P), dtype=np.int64)
        for i, s in enumerate(stratum.tolist()):
            pos[i] = seen[s]
            seen[s] += 1
        index = np.arange(done[0], done[0] + len(P), dtype=np.int64)
        done[0] += len(P)
        return [pa.array(np.full(len(P), part, dtype=np.int32)), pa.array(index),
                pa.array(stratum.astype(np.int32)), pa.array(pos), pa.array(top.astype(np.int32))]

    return columns


def sample(
    df: "DataFrame",
    n: int,
    *,
    text_col: str = "query",
    model: str | os.PathLike[str] = "default",
    seed: int = 0,
    uncertain_width: float = 0.1,
    oversample: float = 3.0,
    distribute: str = "ship",
) -> AuditSample:
    """A stratified audit sample by category and score band, as ``searchsafe sample`` draws it.

    The same seed on the same rows in the same order gives the same sample as
    the single-machine command, row for row. Each query's stratum is computed
    where its partition lives; only the per-partition stratum counts and the
    *n* sampled rows come back to the driver. The scored input is cached for
    the two passes and released afterwards.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    n : int
        Sample size (all rows if there are fewer).
    text_col, model, distribute
        As for :func:`score`.
    seed : int
    uncertain_width : float
        A score within this distance of its threshold is in the uncertain band.
    oversample : float
        Weight of the uncertain strata relative to the others.

    Returns
    -------
    AuditSample
    """
    import bisect

    from pyspark import StorageLevel
    from pyspark.sql import functions as Fn
    from pyspark.sql.types import (DoubleType, FloatType, IntegerType, LongType, StringType, StructField,
                                   StructType)

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidParameterError(f"n must be a positive integer; got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InvalidParameterError(f"seed must be an integer; got {seed!r}")
    if isinstance(uncertain_width, bool) or not (isinstance(uncertain_width, (int, float))
                                                 and 0 <= uncertain_width <= 1):
        raise InvalidParameterError(f"uncertain_width must be a number from 0 to 1; got {uncertain_width!r}")
    if isinstance(oversample, bool) or not (isinstance(oversample, (int, float)) and oversample > 0):
        raise InvalidParameterError(f"oversample must be a positive number; got {oversample!r}")
    # A Python float, as the command line passes it: numpy then compares in float32 the same way.
    width = float(uncertain_width)
    part_c, index_c, stratum_c, pos_c, top_c = (_P + x for x in ("part", "index", "stratum", "pos", "top"))
    extra_fields = [StructField(part_c, IntegerType(), False), StructField(index_c, LongType(), False),
                    StructField(stratum_c, IntegerType(), False), StructField(pos_c, LongType(), False),
                    StructField(top_c, IntegerType(), False)]
    scored, clf, _ = _map_scores(df, text_col, model, None, None, distribute, extra_fields,
                              lambda c: _sample_columns(c, width))
    cats = list(clf.categories)
    names = strata_names(cats)
    spark = df.sparkSession
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = _run(lambda: scored.groupBy(part_c, stratum_c).count().collect())
        per = {(int(r[0]), int(r[1])): int(r[2]) for r in counts}
        parts = sorted({p for p, _ in per})
        sizes = [sum(per.get((p, s), 0) for p in parts) for s in range(len(names))]
        picks, alloc = draw(sizes, n, seed, float(oversample))
        # A stratum's members in data order: partition by partition, in each in row order.
        firsts: dict[int, tuple[list[int], list[int]]] = {}
        for s in range(len(names)):
            starts, owners, acc = [], [], 0
            for p in parts:
                if per.get((p, s), 0):
                    starts.append(acc)
                    owners.append(p)
                    acc += per[(p, s)]
            firsts[s] = (starts, owners)
        wanted = []
        for sample_id, (s, g) in enumerate(picks, 1):
            starts, owners = firsts[s]
            k = bisect.bisect_right(starts, g) - 1
            wanted.append((owners[k], s, g - starts[k], sample_id))
        keys = spark.createDataFrame(wanted, StructType([
            StructField(part_c, IntegerType()), StructField(stratum_c, IntegerType()),
            StructField(pos_c, LongType()), StructField("sample_id", LongType())]))
        joined = scored.join(Fn.broadcast(keys), [part_c, stratum_c, pos_c], "inner")
        got = _run(lambda: joined.collect()) if wanted else []
    finally:
        scored.unpersist()
    first_row, acc = {}, 0
    for p in parts:
        first_row[p] = acc
        acc += sum(per.get((p, s), 0) for s in range(len(names)))
    thresholds = [float(t) for t in clf._threshold_array]
    base = list(df.columns)
    out_rows = []
    for r in sorted(got, key=lambda r: r["sample_id"]):
        s, j = int(r[stratum_c]), int(r[top_c])
        out_rows.append(tuple(r[c] for c in base) + (
            int(r["sample_id"]), first_row[int(r[part_c])] + int(r[index_c]) + 1, names[s], cats[j],
            names[s].split("/")[1], float(r[f"score_{cats[j]}"]), thresholds[j],
            ",".join(c for c in cats if r[f"flag_{c}"]), sizes[s] / alloc[s]))
    out_schema = StructType(list(df.schema.fields) + [
        StructField("sample_id", LongType(), False), StructField("row_number", LongType(), False),
        StructField("stratum", StringType(), False), StructField("category", StringType(), False),
        StructField("band", StringType(), False), StructField("score", FloatType(), False),
        StructField("threshold", FloatType(), False), StructField("model_flags", StringType(), False),
        StructField("weight", DoubleType(), False)])
    return AuditSample(rows=spark.createDataFrame(out_rows, out_schema),
                       strata={names[s]: (sizes[s], alloc[s]) for s in range(len(names))},
                       total=sum(sizes), seed=seed)


# -- evaluate --------------------------------------------------------------
def _tag_list(value: Any) -> list[str]:
    # The labeled-file readers' rule for a tags cell: a list, or a comma-separated string.
    if not value:
        return []
    if isinstance(value, (list, tuple)):
        return [str(t) for t in value]
    return [t.strip() for t in str(value).split(",") if t.strip()]


def _eval_columns(clf: Any, indexes: tuple[int, int | None, int | None], labels_col: str) -> Callable:
    """Per partition: each row's label and flag bit masks, language, hard-negative tag and evasion tags."""
    import pyarrow as pa
    from pyspark import TaskContext

    from ._data import _parse_labels
    from ._lang import detect_language
    from ._normalize import normalize

    ctx = TaskContext.get()
    part = ctx.partitionId() if ctx is not None else 0
    cats = list(clf.categories)
    thresholds = clf._threshold_array
    bits = (1 << np.arange(len(cats), dtype=np.int64))
    labels_i, lang_i, tags_i = indexes
    done = [0]

    def columns(batch: Any, P: np.ndarray, texts: list) -> list:
        labels = batch.column(labels_i).to_pylist()
        langs = batch.column(lang_i).to_pylist() if lang_i is not None else [None] * len(P)
        tags = batch.column(tags_i).to_pylist() if tags_i is not None else [None] * len(P)
        y = np.zeros(len(P), dtype=np.int64)
        for i, value in enumerate(labels):
            where = f"{labels_col!r} in partition {part}, row {done[0] + i + 1}"
            for c in _parse_labels(value, where, cats):
                y[i] |= 1 << cats.index(c)
        done[0] += len(P)
        f = ((P >= thresholds) * bits).sum(axis=1)
        lang_out = [str(l) if l not in (None, "") else detect_language(normalize(t) if t else "")
                    for l, t in zip(langs, texts)]
        tag_lists = [_tag_list(t) for t in tags]
        hard = [("hard_negative" in t) for t in tag_lists]
        evasion = ["\x1f".join(x.split(":", 1)[1] for x in t if x.startswith("evasion:")) if
                   any(x.startswith("evasion:") for x in t) else None for t in tag_lists]
        return [pa.array(y), pa.array(f.astype(np.int64)), pa.array(lang_out, type=pa.string()),
                pa.array(hard, type=pa.bool_()), pa.array(evasion, type=pa.string())]

    return columns


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    """scikit-learn's average_precision_score from counts per distinct score, highest score first."""
    tps = np.cumsum(pos, dtype=np.float64)
    fps = np.cumsum(neg, dtype=np.float64)
    ps = tps + fps
    precision = np.zeros_like(tps)
    np.divide(tps, ps, out=precision, where=(ps != 0))
    recall = tps / tps[-1]
    precision = np.hstack((precision[::-1], 1))
    recall = np.hstack((recall[::-1], 0))
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def _prf(tp: int, fp: int, fn: int, support: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "support": support,
            "tp": tp, "fp": fp, "fn": fn}


def metrics_from_counts(combos: Sequence[tuple[str, int, int, bool, str | None, int]],
                        curves: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
                        categories: Sequence[str]) -> dict[str, Any]:
    """``searchsafe evaluate``'s metrics from aggregated counts instead of one row per query.

    Parameters
    ----------
    combos : sequence of (lang, label mask, flag mask, hard negative, evasion kinds, count)
        Bit *j* of a mask is category *j*; evasion kinds are joined by ``\\x1f`` (None: no evasion tag).
    curves : dict, optional
        ``{(lang, j): (scores, positives, negatives)}``, one entry per distinct
        score, for PR-AUC; None leaves PR-AUC out.
    categories : sequence of str

    Returns
    -------
    dict
        What :func:`searchsafe._metrics.evaluate_predictions` returns for the same rows.

    Examples
    --------
    >>> m = metrics_from_counts([("ja", 1, 1, False, None, 3), ("ja", 0, 1, True, None, 1)], None, ["hate"])
    >>> m["overall"]["categories"]["hate"]["precision"], m["hard_negatives"]["false_positive_rate"]
    (0.75, 1.0)
    """
    k = len(categories)
    rows = [(lang or "", int(y), int(f), bool(h), e, int(c)) for lang, y, f, h, e, c in combos]

    def ap(lang: str | None, j: int) -> float | None:
        if curves is None:
            return None
        parts = [v for (l, jj), v in curves.items() if jj == j and (lang is None or l == lang)]
        if not parts:
            return None
        s = np.concatenate([p[0] for p in parts])
        pos = np.concatenate([p[1] for p in parts])
        neg = np.concatenate([p[2] for p in parts])
        # Merge equal scores across languages, then highest first, as scikit-learn's curve does.
        uniq, inv = np.unique(s, return_inverse=True)
        pos_u = np.bincount(inv, weights=pos, minlength=len(uniq))[::-1]
        neg_u = np.bincount(inv, weights=neg, minlength=len(uniq))[::-1]
        return round(_average_precision(pos_u, neg_u), 4)

    def block(lang: str | None) -> dict[str, Any]:
        sel = [r for r in rows if lang is None or r[0] == lang]
        n = sum(r[5] for r in sel)
        out: dict[str, Any] = {"n": n, "categories": {}}
        f1s = []
        for j, c in enumerate(categories):
            b = 1 << j
            tp = sum(r[5] for r in sel if r[1] & b and r[2] & b)
            fp = sum(r[5] for r in sel if not r[1] & b and r[2] & b)
            fn = sum(r[5] for r in sel if r[1] & b and not r[2] & b)
            support = tp + fn
            m = _prf(tp, fp, fn, support)
            if 0 < support < n:
                value = ap(lang, j)
                if value is not None:
                    m["pr_auc"] = value
            if support:
                f1s.append(m["f1"])
            out["categories"][c] = m
        out["macro_f1"] = round(float(np.mean(f1s)), 4) if f1s else None
        benign = [r for r in sel if r[1] == 0]
        nb = sum(r[5] for r in benign)
        out["benign_flag_rate"] = round(sum(r[5] for r in benign if r[2]) / nb, 4) if nb else None
        return out

    langs = sorted({r[0] for r in rows} - {""})
    result: dict[str, Any] = {"overall": block(None), "by_lang": {lang: block(lang) for lang in langs}}
    hard = [r for r in rows if r[3] and r[1] == 0]
    nh = sum(r[5] for r in hard)

    def rate(sel: list) -> float:
        return round(sum(r[5] for r in sel if r[2]) / sum(r[5] for r in sel), 4)

    result["hard_negatives"] = {
        "n": nh,
        "false_positive_rate": rate(hard) if nh else None,
        "by_lang": {lang: rate([r for r in hard if r[0] == lang]) for lang in langs
                    if any(r[0] == lang for r in hard)},
    }
    ev = [r for r in rows if r[4] is not None and r[1]]
    if ev:
        hit = sum(bin(r[1] & r[2]).count("1") * r[5] for r in ev)
        total = sum(bin(r[1]).count("1") * r[5] for r in ev)
        kinds: dict[str, list[int]] = {}
        for r in ev:
            for kind in r[4].split("\x1f"):
                a = kinds.setdefault(kind, [0, 0])
                a[0] += bin(r[1] & r[2]).count("1") * r[5]
                a[1] += bin(r[1]).count("1") * r[5]
        result["evasion"] = {"n": sum(r[5] for r in ev), "recall": round(float(hit / total), 4),
                             "by_kind": {kk: round(a / b, 4) for kk, (a, b) in sorted(kinds.items()) if b}}
    else:
        result["evasion"] = {"n": 0, "recall": None, "by_kind": {}}
    del k
    return result


def evaluate(
    df: "DataFrame",
    labels_col: str = "labels",
    *,
    text_col: str = "query",
    model: str | os.PathLike[str] = "default",
    lang_col: str | None = "lang",
    tags_col: str | None = "tags",
    pr_auc: bool = True,
    distribute: str = "ship",
) -> dict[str, Any]:
    """Metrics of the model on labeled rows, the numbers ``searchsafe evaluate`` gives for the same rows.

    Precision, recall, F1 and PR-AUC per category and per language, the
    false-positive rate on hard negatives and recall on evasive spellings, as
    a JSON-ready dict. The executors score and count; the driver receives
    counts per combination of labels and flags (and, for PR-AUC, per distinct
    score), never the rows.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    labels_col : str
        Each row's categories: a string (``"hate,violence"``; empty, null,
        ``none`` or ``benign`` for benign) or an array of strings.
    text_col, model, distribute
        As for :func:`score`.
    lang_col, tags_col : str or None
        Optional columns, used when the DataFrame has them: the language
        (detected from the text where missing) and tags (``hard_negative``,
        ``evasion:<kind>``), as in labeled files.
    pr_auc : bool
        PR-AUC needs a count per distinct score and category; False skips it.

    Returns
    -------
    dict
        ``n``, ``categories``, ``thresholds``, ``overall``, ``by_lang``,
        ``hard_negatives`` and ``evasion``.
    """
    from pyspark.sql import functions as Fn
    from pyspark.sql.types import ArrayType, BooleanType, LongType, NullType, StringType, StructField

    df = _check_df(df)
    if not isinstance(labels_col, str) or labels_col not in df.columns:
        raise InvalidParameterError(f"labels_col {labels_col!r} is not a column of the DataFrame (columns: "
                                    f"{', '.join(df.columns)})")
    ltype = df.schema[labels_col].dataType
    if not (isinstance(ltype, (StringType, NullType))
            or (isinstance(ltype, ArrayType) and isinstance(ltype.elementType, (StringType, NullType)))):
        raise InvalidParameterError(f"labels_col {labels_col!r} is a {ltype.simpleString()} column; labels must be "
                                    "a string (comma-separated categories) or an array of strings")
    lang_i = df.columns.index(lang_col) if lang_col is not None and lang_col in df.columns else None
    tags_i = df.columns.index(tags_col) if tags_col is not None and tags_col in df.columns else None
    indexes = (df.columns.index(labels_col), lang_i, tags_i)
    c_y, c_f, c_lang, c_hard, c_ev = (_P + x for x in ("y", "f", "lang", "hard", "evasion"))
    extra_fields = [StructField(c_y, LongType(), False), StructField(c_f, LongType(), False),
                    StructField(c_lang, StringType(), False), StructField(c_hard, BooleanType(), False),
                    StructField(c_ev, StringType(), True)]
    scored, clf, _ = _map_scores(df, text_col, model, None, None, distribute, extra_fields,
                              lambda c: _eval_columns(c, indexes, labels_col))
    cats = list(clf.categories)
    keep = [c_y, c_f, c_lang, c_hard, c_ev] + [f"score_{c}" for c in cats]
    slim = scored.select(*keep)
    curves = None
    if pr_auc:
        from pyspark import StorageLevel

        slim = slim.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        combos = _run(lambda: slim.groupBy(c_lang, c_y, c_f, c_hard, c_ev).count().collect())
        if pr_auc:
            long = slim.select(c_lang, Fn.explode(Fn.array(*[
                Fn.struct(Fn.lit(j).alias("j"), Fn.col(f"score_{c}").alias("s"),
                          ((Fn.col(c_y).bitwiseAND(1 << j)) != 0).alias("y"))
                for j, c in enumerate(cats)])).alias("t"))
            agg = long.groupBy(c_lang, "t.j", "t.s").agg(
                Fn.sum(Fn.col("t.y").cast("long")).alias("pos"), Fn.count(Fn.lit(1)).alias("all"))
            rows = _run(lambda: agg.collect())
            grouped: dict[tuple[str, int], list[tuple[float, int, int]]] = {}
            for r in rows:
                grouped.setdefault((r[0], int(r[1])), []).append((r[2], int(r[3]), int(r[4]) - int(r[3])))
            curves = {}
            for key, items in grouped.items():
                arr = np.array(items, dtype=np.float64)
                curves[key] = (arr[:, 0].astype(np.float32), arr[:, 1], arr[:, 2])
    finally:
        if pr_auc:
            slim.unpersist()
    result = metrics_from_counts([(r[0], r[1], r[2], r[3], r[4], r[5]) for r in combos], curves, cats)
    n = result["overall"]["n"]
    if n == 0:
        raise InvalidParameterError("the DataFrame has no rows to evaluate")
    head = {"n": n, "categories": cats,
            "thresholds": {c: round(float(t), 6) for c, t in zip(cats, clf._threshold_array)}}
    return {**head, **result}
