"""searchsafe on Spark: 1M queries from Parquet with local[1] and local[2] beside single-process score_batch.

    python benchmarks/spark.py            # 1,000,000 queries; rewrites the Spark block of benchmarks/RESULTS.md
    python benchmarks/spark.py --quick    # 20,000 queries, seconds of scoring; writes nothing but --json

The queries come from ``data/*.jsonl`` through the suite's deterministic query
pool (originals, then recombinations), written once to
``benchmarks/out/spark/queries-<n>.parquet`` as 16 files. Each Spark
configuration runs in a fresh process with its own JVM, so none inherits
another's warm workers. Per configuration it measures:

- session start (JVM launch),
- the first job on 16 rows: Python workers start, import searchsafe and load
  and verify the model (once per worker; the count is checked),
- a pass-through job: the same Arrow batches go to Python and back with as many
  added columns as scoring adds, but no scoring: the JVM <-> Python transfer,
- the scoring job (``score(df)`` into Spark's ``noop`` sink, so no output
  file is written and every row is computed),
- peak memory: the driver/executor JVM's and each Python worker's peak RSS.

Single-process ``score_batch`` reads the same Parquet with pyarrow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402

OUT = C.BENCH / "out" / "spark"
FILES = 16
BEGIN, END = "<!-- spark:begin -->", "<!-- spark:end -->"


def make_queries(n: int) -> Path:
    """The benchmark's Parquet directory of *n* queries (built once; the same bytes every time)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = OUT / f"queries-{n}"
    if (target / "_DONE").is_file():
        return target
    C.log(f"writing {n:,} queries to {target}")
    texts = C.QueryPool(seed=0).take("mixed", n)
    tmp = OUT / f".queries-{n}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    per = -(-n // FILES)
    for i in range(FILES):
        chunk = texts[i * per:(i + 1) * per]
        table = pa.table({"id": pa.array(range(i * per, i * per + len(chunk)), pa.int64()), "query": chunk})
        pq.write_table(table, tmp / f"part-{i:02d}.parquet", row_group_size=16384)
    (tmp / "_DONE").write_text(f"{n}\n", encoding="utf-8")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return round(int(m.group(1)) / 1024, 1) if m else None


def single_process(path: Path) -> dict[str, Any]:
    """score_batch over the same Parquet in this process, in chunks of 10,000."""
    code = (
        "import json, resource, time, sys, pyarrow.dataset as ds, searchsafe\n"
        f"t = ds.dataset({str(path)!r}, format='parquet').to_table(columns=['query'])\n"
        "texts = t.column('query').to_pylist()\n"
        "t0 = time.perf_counter(); clf = searchsafe.load(); load = time.perf_counter() - t0\n"
        "t0 = time.perf_counter()\n"
        "for i in range(0, len(texts), 10000): clf.score_batch(texts[i:i + 10000])\n"
        "s = time.perf_counter() - t0\n"
        "print(json.dumps({'n': len(texts), 'load_s': round(load, 3), 'score_s': round(s, 2),\n"
        "  'queries_per_s': round(len(texts) / s), 'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF)"
        ".ru_maxrss / 1024, 1)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=C.child_env(), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spark_run(path: str, master: str) -> dict[str, Any]:
    """One Spark configuration, in this (fresh) process."""
    import pyarrow as pa

    from searchsafe import spark as ss

    res: dict[str, Any] = {"master": master}
    t0 = time.perf_counter()
    spark = ss.session(master, f"searchsafe-bench-{master}", **{
        # One partition per file: the 16 files are small, and Spark would pack them into one or two.
        "spark.sql.files.maxPartitionBytes": "1m", "spark.sql.files.openCostInBytes": "1m"})
    spark.sparkContext.setLogLevel("ERROR")
    res["session_start_s"] = round(time.perf_counter() - t0, 2)
    df = spark.read.parquet(path)
    n = df.count()
    res["n"] = n
    res["partitions"] = df.rdd.getNumPartitions()

    t0 = time.perf_counter()
    ss.score(spark.createDataFrame([(f"猫 {i}",) for i in range(16)], "query string")
             .repartition(spark.sparkContext.defaultParallelism)).write.format("noop").mode("overwrite").save()
    res["first_job_s"] = round(time.perf_counter() - t0, 2)

    k = 8
    extra = ", ".join([f"score_{j} float" for j in range(k)] + [f"flag_{j} boolean" for j in range(k)])

    def passthrough(batches):
        import numpy as np

        for b in batches:
            zeros = pa.array(np.zeros(b.num_rows, dtype=np.float32))
            falses = pa.array(np.zeros(b.num_rows, dtype=bool))
            yield pa.RecordBatch.from_arrays(list(b.columns) + [zeros] * k + [falses] * k,
                                             names=list(b.schema.names) + [f"score_{j}" for j in range(k)]
                                             + [f"flag_{j}" for j in range(k)])

    t0 = time.perf_counter()
    df.mapInArrow(passthrough, f"id long, query string, {extra}").write.format("noop").mode("overwrite").save()
    res["transfer_s"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    ss.score(df).write.format("noop").mode("overwrite").save()
    res["score_s"] = round(time.perf_counter() - t0, 2)
    res["queries_per_s"] = round(n / res["score_s"])

    def probe(batches):
        import os as _os
        import resource

        from searchsafe import spark as w

        for _ in batches:
            pass
        yield pa.RecordBatch.from_pylist([{
            "pid": _os.getpid(), "loads": json.dumps(w.loads_in_this_process()),
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}])

    parts = spark.sparkContext.defaultParallelism * 4
    rows = spark.range(0, parts, numPartitions=parts).mapInArrow(probe, "pid long, loads string, rss_mb double").collect()
    workers = {r["pid"]: (json.loads(r["loads"]), r["rss_mb"]) for r in rows}
    res["python_workers"] = len(workers)
    res["model_loads_per_worker"] = sorted({v for loads, _ in workers.values() for v in loads.values()})
    res["python_worker_peak_rss_mb"] = sorted(rss for _, rss in workers.values())
    gateway = spark.sparkContext._gateway
    proc = getattr(gateway, "proc", None)
    res["jvm_peak_rss_mb"] = _vm_hwm_mb(proc.pid) if proc is not None else None
    res["jvm_heap_max_mb"] = round(spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20)
    spark.stop()
    return res


def model_load() -> dict[str, Any]:
    code = ("import time, searchsafe; t = time.perf_counter(); searchsafe.load(); "
            "print(round(time.perf_counter() - t, 3))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=C.child_env(), check=True)
    return {"load_s": float(out.stdout.strip().splitlines()[-1])}


def run(quick: bool = False, n: int | None = None) -> dict[str, Any]:
    n = n or (20_000 if quick else 1_000_000)
    path = make_queries(n)
    res: dict[str, Any] = {"n": n, "quick": quick, "machine": C.machine_info(), "versions": C.versions(),
                           "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    import pyspark

    res["versions"]["pyspark"] = pyspark.__version__
    C.log("single process score_batch")
    res["single"] = single_process(path)
    res["model_load"] = model_load()
    for master in ("local[1]", "local[2]"):
        C.log(f"Spark {master}")
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", master, str(path)],
                             capture_output=True, text=True, env=C.child_env())
        if out.returncode != 0:
            raise RuntimeError(f"Spark {master} failed:\n{out.stderr[-3000:]}")
        res[master] = json.loads(out.stdout.strip().splitlines()[-1])
    res["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return res


def tables(res: dict[str, Any]) -> str:
    s = res["single"]
    rows = [("single process `score_batch`", "–", C.fmt_int(s["queries_per_s"]), "1.00×", f"{s['score_s']:.1f}",
             "–", "–", f"{s['peak_rss_mb']:.0f} MB (one process)")]
    for m in ("local[1]", "local[2]"):
        r = res[m]
        rss = r["python_worker_peak_rss_mb"]
        rows.append((f"Spark `{m}`", str(r["partitions"]), C.fmt_int(r["queries_per_s"]),
                     f"{r['queries_per_s'] / s['queries_per_s']:.2f}×", f"{r['score_s']:.1f}",
                     f"{r['transfer_s']:.1f} ({r['transfer_s'] / r['score_s']:.0%})", f"{r['first_job_s']:.1f}",
                     f"JVM {r['jvm_peak_rss_mb']:.0f} MB + {len(rss)} × {max(rss):.0f} MB Python"))
    head = ("| run | partitions | queries/s | vs single | scoring s | pass-through job s (JVM↔Python transfer, tasks) | "
            "first job s (workers start, load model) | peak memory |")
    lines = [head, "|" + "---|" * 8] + ["| " + " | ".join(r) + " |" for r in rows]
    one, two = res["local[1]"], res["local[2]"]
    lines += [
        "",
        f"{res['n']:,} queries ({res['n'] // FILES:,} per Parquet file, {FILES} files). local[2] runs "
        f"{two['queries_per_s'] / one['queries_per_s']:.2f}× as fast as local[1]. Session start (JVM): "
        f"{one['session_start_s']:.1f} s / {two['session_start_s']:.1f} s. Model load in a fresh process: "
        f"{res['model_load']['load_s']:.2f} s; each Python worker loaded the model "
        f"{'/'.join(map(str, two['model_loads_per_worker']))} time(s) ({two['python_workers']} workers for local[2]). "
        f"JVM heap limit {two['jvm_heap_max_mb']} MB. Load average before / after: {res['load_before']} / "
        f"{res['load_after']}.",
    ]
    return "\n".join(lines)


def write_results(res: dict[str, Any]) -> None:
    results = C.BENCH / "RESULTS.md"
    text = results.read_text(encoding="utf-8") if results.exists() else "# searchsafe benchmark results\n"
    block = (f"{BEGIN}\n## Spark\n\nMeasured on {time.strftime('%Y-%m-%d', time.gmtime())} with "
             f"`python benchmarks/spark.py` (pyspark {res['versions']['pyspark']}, Java "
             f"{_java_version()}).\n\n{tables(res)}\n{END}")
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    C.atomic_write_text(results, text)
    C.atomic_write_text(OUT / "results.json", json.dumps(res, indent=1))


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True)
        m = re.search(r'version "([^"]+)"', out.stderr)
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:
        print(json.dumps(spark_run(argv[2], argv[1])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 queries; does not touch RESULTS.md")
    ap.add_argument("--n", type=int, help="number of queries (default: 1,000,000; 20,000 with --quick)")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    args = ap.parse_args(argv)
    res = run(quick=args.quick, n=args.n)
    print(tables(res))
    if args.json:
        C.atomic_write_text(args.json, json.dumps(res, indent=1, ensure_ascii=False))
    if not args.quick:
        write_results(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
