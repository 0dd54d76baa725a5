"""``searchsafe spark score``: score a query log on Apache Spark, Parquet (or CSV, JSON Lines) in and out.

By default it starts a local Spark session on all cores (``--master local[*]``);
``--master yarn`` or ``spark://...`` runs it on a cluster, and under
``spark-submit`` (see :mod:`searchsafe.cli.spark_submit`) the master and
settings are spark-submit's. Needs ``pip install 'searchsafe[spark]'`` and Java.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ._util import DEFAULT_MODEL, EXIT_OK, CliError, positive_int, say

COMMANDS = ("spark",)
FORMATS = ("parquet", "csv", "tsv", "jsonl", "lines")
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
             ".ndjson": "jsonl", ".json": "jsonl", ".txt": "lines"}


def add_parser(sub: Any) -> None:
    """Add the ``spark`` command family (``spark score``) to the subparsers *sub*."""
    from ._util import Parser

    p = sub.add_parser("spark", help="score query logs on Apache Spark (needs searchsafe[spark] and Java)",
                       description="Run searchsafe on Apache Spark: on this machine's cores by default, on a "
                       "cluster with --master or under spark-submit.")
    inner = p.add_subparsers(dest="spark_command", metavar="COMMAND", parser_class=Parser)
    s = inner.add_parser(
        "score", help="add score_<category> and flag_<category> columns to every row",
        description="Read INPUT (a Parquet, CSV, TSV or JSON Lines file, a directory of them, or a glob; "
        ".txt is one query per line), add score_<category> (float) and flag_<category> (boolean) for every "
        "category, and with --policy the action and escalate columns, and write OUTPUT as a directory of "
        "part files. The output appears only when complete. One line per finished Spark stage goes to stderr.")
    s.add_argument("input", metavar="INPUT")
    s.add_argument("--out", required=True, metavar="OUTPUT", help="output directory (part files)")
    s.add_argument("--model", default=DEFAULT_MODEL, help="model directory or 'default' (default: default)")
    s.add_argument("--master", metavar="URL",
                   help="Spark master: local[*] (the default, all local cores), local[2], yarn, spark://host:7077; "
                   "under spark-submit its --master applies")
    s.add_argument("--text-column", default="text", metavar="NAME", help="column holding the queries (default: text)")
    s.add_argument("--policy", metavar="FILE", help="policy file: adds the action and escalate columns")
    s.add_argument("--market", metavar="MARKET", help="the policy's market, e.g. jp or kr")
    s.add_argument("--format", choices=FORMATS, help="input format; default from the file name")
    s.add_argument("--output-format", choices=("parquet", "csv", "jsonl"),
                   help="default: from --out's suffix, else parquet")
    s.add_argument("--partition-by", action="append", default=[], metavar="COLUMN",
                   help="write one subdirectory per value of COLUMN (repeatable), e.g. a date column")
    s.add_argument("--partitions", type=positive_int, metavar="N",
                   help="write N part files (repartitions the rows first; default: as Spark read them)")
    s.add_argument("--distribute", choices=("ship", "path"), default="ship",
                   help="ship the model with the job (default), or read it at the same path on every executor")
    s.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting, e.g. spark.executor.memory=2g (repeatable)")
    s.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    s.add_argument("-q", "--quiet", action="store_true", help="no messages on stderr (errors still)")
    s.set_defaults(func=run_score)
    p.set_defaults(func=_need_subcommand)


def _need_subcommand(args: argparse.Namespace) -> int:
    raise CliError("choose a spark command: score (see 'searchsafe spark --help')")


def _local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _strip_scheme(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _input_format(source: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    name = source.rstrip("/")
    p = Path(_strip_scheme(name))
    if _local(source) and p.is_dir():
        for child in sorted(p.rglob("*")):
            if child.is_file() and not child.name.startswith(("_", ".")):
                suffix = Path(child.name.removesuffix(".gz")).suffix.lower()
                if suffix in _SUFFIXES:
                    return _SUFFIXES[suffix]
                if ".snappy" in child.name or child.name.endswith(".parquet"):
                    return "parquet"
        raise CliError(f"{source}: cannot tell the format of the files in this directory; pass --format")
    suffix = Path(name.removesuffix(".gz")).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise CliError(f"{source}: cannot tell the format from the file name; pass --format ({', '.join(FORMATS)})")


def _output_format(out: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    suffix = Path(out.rstrip("/")).suffix.lower()
    found = _SUFFIXES.get(suffix)
    if found == "lines" or found == "tsv":
        raise CliError(f"--out {out}: Spark writes parquet, csv or jsonl here; pass --output-format")
    return found or "parquet"


def _conf(items: list[str]) -> dict[str, str]:
    conf = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--conf {item!r}: expected KEY=VALUE, e.g. spark.executor.memory=2g")
        conf[key.strip()] = value.strip()
    return conf


def _read(spark: Any, source: str, fmt: str, text_column: str) -> Any:
    reader = spark.read
    if fmt == "parquet":
        return reader.parquet(source)
    if fmt in ("csv", "tsv"):
        # Every column as a string, as the single-machine readers see a CSV: no type guessing.
        return (reader.option("header", True).option("inferSchema", False).option("encoding", "UTF-8")
                .option("sep", "," if fmt == "csv" else "\t").csv(source))
    if fmt == "jsonl":
        return reader.json(source)
    return reader.text(source).withColumnRenamed("value", text_column)


def _write(df: Any, target: str, fmt: str, partition_by: list[str]) -> None:
    writer = df.write.mode("errorifexists")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if fmt == "parquet":
        writer.parquet(target)
    elif fmt == "csv":
        writer.option("header", True).option("encoding", "UTF-8").csv(target)
    else:
        writer.json(target)


class StageReporter:
    """Prints one line per finished Spark stage of a job group, from a polling thread."""

    def __init__(self, sc: Any, group: str, out: Any = None, interval: float = 0.25):
        self._sc, self._group, self._interval = sc, group, interval
        self._out = out if out is not None else sys.stderr
        self._done: set[int] = set()
        self._started: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="searchsafe-stages", daemon=True)
        self.lines: list[str] = []

    def __enter__(self) -> "StageReporter":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(Exception):
            self._poll()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # the JVM may be going away as we stop
                self._poll()

    def _poll(self) -> None:
        tracker = self._sc.statusTracker()
        for job_id in sorted(tracker.getJobIdsForGroup(self._group)):
            job = tracker.getJobInfo(job_id)
            if job is None:
                continue
            for stage_id in sorted(job.stageIds):
                if stage_id in self._done:
                    continue
                info = tracker.getStageInfo(stage_id)
                if info is None:
                    continue
                self._started.setdefault(stage_id, time.monotonic())
                if info.numTasks and info.numCompletedTasks >= info.numTasks:
                    self._done.add(stage_id)
                    seconds = time.monotonic() - self._started[stage_id]
                    name = info.name.split(" at ")[0]
                    line = (f"stage {stage_id} ({name}): {info.numCompletedTasks}/{info.numTasks} tasks"
                            + (f", {info.numFailedTasks} failed and retried" if info.numFailedTasks else "")
                            + f", {seconds:.1f} s")
                    self.lines.append(line)
                    print(line, file=self._out, flush=True)


@contextlib.contextmanager
def _spark_session(args: argparse.Namespace) -> Iterator[Any]:
    from .. import spark as ss

    ss._pyspark()
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()
    master = args.master if args.master is not None else (None if ss.under_spark_submit() else "local[*]")
    conf = _conf(args.conf)
    started = time.monotonic()
    try:
        spark = ss.session(master, "searchsafe spark score", **conf)
    except Exception as exc:  # Java missing, a bad master URL: one line, not a JVM traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot start Spark (--master {master or 'from spark-submit'}): {first}; "
                       "Spark needs Java 17 or newer") from None
    if existing is None:
        spark.sparkContext.setLogLevel("ERROR")
        say(args, f"started Spark {spark.version} on {spark.sparkContext.master} "
                  f"({spark.sparkContext.defaultParallelism} cores) in {time.monotonic() - started:.1f} s")
    try:
        yield spark
    finally:
        if existing is None:
            spark.stop()


def run_score(args: argparse.Namespace) -> int:
    """Score every row of INPUT on Spark and write OUTPUT."""
    from .. import spark as ss

    if args.market is not None and args.policy is None:
        raise CliError("--market needs --policy")
    source, out = args.input, args.out.rstrip("/") or args.out
    if _local(source):
        src = Path(_strip_scheme(source))
        if not any(ch in source for ch in "*?[") and not src.exists():
            raise CliError(f"{source}: no such file or directory")
    fmt = _input_format(source, args.format)
    out_fmt = _output_format(out, args.output_format)
    target = out
    if _local(out):
        out_path = Path(_strip_scheme(out))
        if out_path.exists() and not args.force:
            raise CliError(f"{out}: already exists; pass --force to replace it")
        parent = out_path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)  # as Spark itself does for a new output
        except OSError as exc:
            raise CliError(f"{out}: cannot write: {parent}: {exc.strerror or exc}") from None
        # Spark writes next to the target and the result takes its place only when complete.
        target = str(parent / f".{out_path.name}.tmp-{uuid.uuid4().hex[:8]}")
    from pyspark.errors import AnalysisException

    with _spark_session(args) as spark:
        sc = spark.sparkContext
        group = f"searchsafe-{uuid.uuid4().hex[:8]}"
        sc.setJobGroup(group, f"searchsafe spark score {source}")
        try:
            df = _read(spark, source, fmt, args.text_column)
            if args.text_column not in df.columns:
                raise CliError(f"{source}: no column {args.text_column!r} (columns: {', '.join(df.columns)}); "
                               "use --text-column")
            for col in args.partition_by:
                if col not in df.columns:
                    raise CliError(f"--partition-by {col}: no such column in {source} (columns: "
                                   f"{', '.join(df.columns)})")
            scored, counts, clf = ss.scored_with_counts(df, args.text_column, args.model, args.policy,
                                                        args.market, distribute=args.distribute)
            if args.partitions:
                scored = scored.repartition(args.partitions)
            k = df.rdd.getNumPartitions()
            say(args, f"scoring {source} ({fmt}, {k} partition{'' if k == 1 else 's'}) with "
                      f"{clf.manifest.get('name', args.model)}; writing {out_fmt} to {out}")
            started = time.monotonic()
            with StageReporter(sc, group, out=io.StringIO() if args.quiet else sys.stderr):
                ss._run(lambda: _write(scored, target, out_fmt, args.partition_by))
            seconds = time.monotonic() - started
        except AnalysisException as exc:
            _discard(target, out)
            raise CliError(f"{source}: {str(exc).strip().splitlines()[0]}") from None
        except BaseException:
            _discard(target, out)
            raise
    if target != out:
        out_path = Path(_strip_scheme(out))
        if out_path.exists():
            old = out_path.with_name(f".{out_path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out_path, old)
            os.replace(target, out_path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(target, out_path)
    value = counts.value
    n = int(value[0])
    summary = ", ".join(f"{c} {int(k)}" for c, k in zip(clf.categories, value[1:]) if k) or "none"
    rate = f"; {n / seconds:,.0f} rows/s" if seconds > 0 else ""
    say(args, f"scored {n} rows in {seconds:.1f} s{rate}; flagged: {summary}")
    say(args, f"wrote {out}")
    return EXIT_OK


def _discard(target: str, out: str) -> None:
    if target != out:
        shutil.rmtree(target, ignore_errors=True)
