"""Speed of the default model: throughput, latency, load time, memory, where the time goes, scaling.

    python benchmarks/speed.py            # full (under a minute)
    python benchmarks/speed.py --quick    # seconds, small samples

Every timed query is one the process has never scored before (see
``QueryPool``), except in the Zipf stream, where head queries repeat as they
do in search traffic. Before timing, the process scores other queries so
that its caches are in the state of a server that has been running for a
while; the first batch after load is reported separately.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402

#: The head-query cache's size in the cached Zipf run: the library's default for Guard.
CACHE_SIZE = 65_536

#: Issue 5's targets for the default model on one core of a 2-core machine.
TARGETS = {
    "batch_unique_qps": 50_000,
    "single_p99_us": 100.0,
    "load_s": 1.0,
    "rss_mb": 300.0,
}

FULL = {
    "warm_up": 10_000,
    "batch_sizes": (1, 100, 10_000),
    "queries_per_run": {1: 1_000, 100: 3_000, 10_000: 10_000},
    "repeats": 3,
    "zipf_pool": 20_000,
    "zipf_length": 30_000,
    "zipf_batch1": 3_000,
    "latency_n": 10_000,
    "stage_n": 4_000,
    "stage_repeats": 3,
    "scale_n": 60_000,
    "scale_chunk": 5_000,
    "scale_warm": 3_000,
    "burn": 5_000_000,
    "probe_repeats": 3,
    "probe_score": 20_000,
    "long_probe": 100_000,
}
QUICK = {
    "warm_up": 300,
    "batch_sizes": (1, 100, 1_000),
    "queries_per_run": {1: 100, 100: 300, 1_000: 1_000},
    "repeats": 1,
    "zipf_pool": 500,
    "zipf_length": 2_000,
    "zipf_batch1": 200,
    "latency_n": 300,
    "stage_n": 300,
    "stage_repeats": 1,
    "scale_n": 2_000,
    "scale_chunk": 500,
    "scale_warm": 100,
    "burn": 200_000,
    "probe_repeats": 1,
    "probe_score": 500,
    "long_probe": 0,
}


def _stages(clf, queries: list[str]) -> dict[str, float]:
    """Seconds for each stage of the text pipeline on *queries*, then the full score."""
    from searchsafe import detect_language, normalize
    from searchsafe._normalize import fold
    from searchsafe._tokenize import get_tokenizer

    cfg = clf.manifest.get("features", {})
    ja = get_tokenizer(cfg.get("japanese_backend", "ipadic"), language="ja")
    ko = get_tokenizer(cfg.get("korean_backend", "mecab-ko-dic"), language="ko")
    sp = _sentencepiece(clf)
    out: dict[str, Any] = {}
    surfaces: list[str] = []
    folded: list[str] = []
    langs: list[str] = []

    def norm():
        for q in queries:
            s = normalize(q)
            surfaces.append(s)
            folded.append(fold(s))
            langs.append(detect_language(s))

    def morph():
        for s, lg in zip(surfaces, langs):
            if lg == "ja":
                ja.tokens(s)
            elif lg == "ko":
                ko.tokens(s)
            elif lg == "mixed":
                ja.tokens(s)
                ko.tokens(s)

    def pieces():
        if sp is not None:
            for f in folded:
                if f:
                    sp.encode(f, out_type=str)

    out["has_sentencepiece"] = sp is not None
    out["normalize"] = C.time_call(norm)
    out["morphemes"] = C.time_call(morph)
    out["sentencepiece"] = C.time_call(pieces)
    out["text_pipeline"] = C.time_call(lambda: clf._extractor.analyze_batch(queries))
    out["score_batch"] = C.time_call(lambda: clf.score_batch(queries))
    return out


def _sentencepiece(clf):
    """The model's own sentencepiece processor, or None for a model without pieces."""
    blob = getattr(clf._model, "sentencepiece", None)
    if not blob:
        return None
    import sentencepiece

    proc = sentencepiece.SentencePieceProcessor()
    proc.LoadFromSerializedProto(blob)
    return proc


def _scaling(pool: C.QueryPool, model_path: str, cfg: dict[str, Any], clf) -> dict[str, Any]:
    from joblib import Parallel, delayed

    os.environ["PYTHONPATH"] = C.child_env()["PYTHONPATH"]
    n, chunk = cfg["scale_n"], cfg["scale_chunk"]
    result: dict[str, Any] = {"n_queries": n, "chunk": chunk, "backend": "loky", "workers": {}}
    # In-process reference on a batch of the same size.
    qs = pool.take("mixed", n)
    result["in_process_qps"] = round(n / C.time_call(lambda: clf.score_batch(qs)), 1)
    for n_jobs in (1, 2):
        with Parallel(n_jobs=n_jobs, backend="loky") as par:
            pids: set[int] = set()
            for _ in range(5):
                warm = [pool.take("mixed", cfg["scale_warm"]) for _ in range(2 * n_jobs)]
                pids |= set(par(delayed(C.worker_warm)(model_path, w) for w in warm))
                if len(pids) >= n_jobs:
                    break
            # The same machinery on a fixed pure-Python loop: the most that 2 processes could gain right now
            # (other work on the machine takes cores away).
            t0 = time.perf_counter()
            par(delayed(C.burn)(cfg["burn"]) for _ in range(4))
            burn_s = time.perf_counter() - t0
            qs = pool.take("mixed", n)
            chunks = [qs[i : i + chunk] for i in range(0, n, chunk)]
            t0 = time.perf_counter()
            scores = par(delayed(C.worker_score)(model_path, c) for c in chunks)
            dt = time.perf_counter() - t0
        if sum(len(s) for s in scores) != n:
            raise RuntimeError("scaling: workers returned the wrong number of rows")
        result["workers"][str(n_jobs)] = {"qps": round(n / dt, 1), "seconds": round(dt, 3),
                                          "processes_seen": len(pids), "cpu_loop_s": round(burn_s, 3)}
    q1, q2 = result["workers"]["1"]["qps"], result["workers"]["2"]["qps"]
    result["speedup_2_vs_1"] = round(q2 / q1, 3)
    w = result["workers"]
    result["cpu_loop_speedup_2_vs_1"] = round(w["1"]["cpu_loop_s"] / w["2"]["cpu_loop_s"], 3)
    return result


def run(quick: bool = False) -> dict[str, Any]:
    import searchsafe
    from searchsafe._classifier import default_model_path

    cfg = QUICK if quick else FULL
    reps = cfg["repeats"]
    model_path = str(default_model_path())
    res: dict[str, Any] = {"quick": quick, "targets": {},
                           "config": {k: v for k, v in cfg.items() if k != "queries_per_run"}}
    res["config"]["queries_per_run"] = {str(k): v for k, v in cfg["queries_per_run"].items()}
    res["model"] = C.model_info(Path(model_path))

    C.log("speed: loading the default model in this process")
    t0 = time.perf_counter()
    clf = searchsafe.load()
    res["in_process_load_s"] = round(time.perf_counter() - t0, 4)
    pool = C.QueryPool()

    big = cfg["batch_sizes"][-1]
    first = pool.take("mixed", big)
    res["first_batch_after_load"] = {"batch": big, "qps": round(big / C.time_call(lambda: clf.score_batch(first)), 1)}
    C.log(f"speed: warming up on {cfg['warm_up']:,} other queries")
    clf.score_batch(pool.take("mixed", cfg["warm_up"]))

    # -- throughput on unique queries ----------------------------------
    unique: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, list[float]]] = {}
    for lang in C.LANGS:
        unique[lang], runs[lang] = {}, {}
        for bs in cfg["batch_sizes"]:
            values = []
            for _ in range(reps):
                qs = pool.take(lang, cfg["queries_per_run"][bs])
                values.append(C.throughput_batches(clf.score_batch, qs, bs))
            unique[lang][str(bs)] = round(C.median(values), 1)
            runs[lang][str(bs)] = [round(v, 1) for v in values]
        C.log(f"speed: unique {lang}: " + ", ".join(f"batch {b}: {q:,.0f}/s" for b, q in unique[lang].items()))

    # -- throughput on a Zipf stream -------------------------------------
    zpool = pool.take("mixed", cfg["zipf_pool"])
    warm_stream, _ = C.zipf_stream(zpool, cfg["zipf_length"], seed=1)
    clf.score_batch(warm_stream)  # the head of the traffic has been seen before
    stream, zinfo = C.zipf_stream(zpool, cfg["zipf_length"], seed=0)
    zipf: dict[str, float] = {}
    for bs in cfg["batch_sizes"]:
        qs = stream[: cfg["zipf_batch1"]] if bs == 1 else stream
        zipf[str(bs)] = round(C.median(C.throughput_batches(clf.score_batch, qs, bs) for _ in range(reps)), 1)
    C.log("speed: zipf mixed: " + ", ".join(f"batch {b}: {q:,.0f}/s" for b, q in zipf.items()))
    # The same stream through the head-query cache (issue 9's measure: cached
    # Zipf against unique traffic). Each run starts from a cache that has seen
    # only the warm-up stream, so no run is helped by the run before it.
    cached_clf = searchsafe.load(cache_size=CACHE_SIZE)
    zipf_cached: dict[str, float] = {}
    hit_rates: dict[str, float] = {}
    for bs in cfg["batch_sizes"]:
        qs = stream[: cfg["zipf_batch1"]] if bs == 1 else stream
        values, hits, total = [], 0, 0
        for _ in range(reps):
            cached_clf.cache.clear()
            cached_clf.score_batch(warm_stream)
            before = cached_clf.cache.stats()
            values.append(C.throughput_batches(cached_clf.score_batch, qs, bs))
            after = cached_clf.cache.stats()
            hits += after["hits"] - before["hits"]
            total += after["hits"] + after["misses"] - before["hits"] - before["misses"]
        zipf_cached[str(bs)] = round(C.median(values), 1)
        hit_rates[str(bs)] = round(hits / max(1, total), 4)
    C.log("speed: zipf mixed, cache on: " + ", ".join(f"batch {b}: {q:,.0f}/s" for b, q in zipf_cached.items()))
    res["throughput"] = {"unique": unique, "unique_runs": runs, "zipf": zipf, "zipf_stream": zinfo,
                         "zipf_cached": zipf_cached, "zipf_cache_size": CACHE_SIZE, "zipf_cached_hit_rate": hit_rates,
                         "zipf_cached_vs_unique": {b: round(v / unique["mixed"][b], 2) for b, v in zipf_cached.items()}}

    # -- single-query latency ----------------------------------------------
    clf.score_batch(pool.take("mixed", 200))
    for q in pool.take("mixed", 200):
        clf.score(q)
    qs = pool.take("mixed", cfg["latency_n"])
    lat = C.per_call_latencies(clf.score, qs)
    res["latency"] = {
        "api": "Classifier.score(query)",
        "mixed": C.latency_summary(lat),
        "ja": C.latency_summary(lat[0::2]),
        "ko": C.latency_summary(lat[1::2]),
    }
    mixed = res["latency"]["mixed"]
    C.log(f"speed: single-query latency p50 {mixed['p50_us']} µs, p99 {mixed['p99_us']} µs")

    # -- where the time goes -----------------------------------------------
    # The stages below are the pure-Python pipeline's, so they are timed against
    # its own score_batch; the compiled path's stages are in benchmarks/compiled.py.
    pure = searchsafe.load(compiled=False)
    pure.score_batch(pool.take("mixed", 200))
    stage_runs = [_stages(pure, pool.take("mixed", cfg["stage_n"])) for _ in range(cfg["stage_repeats"])]
    has_sp = stage_runs[0].pop("has_sentencepiece")
    for r in stage_runs[1:]:
        r.pop("has_sentencepiece")
    per_q = {k: C.median(r[k] for r in stage_runs) / cfg["stage_n"] * 1e6 for k in stage_runs[0]}
    tokenizer = per_q["normalize"] + per_q["morphemes"] + per_q["sentencepiece"]
    total = per_q["score_batch"]
    res["stages"] = {
        "n_queries": cfg["stage_n"],
        "model_has_sentencepiece": has_sp,
        "us_per_query": {k: round(v, 2) for k, v in per_q.items()},
        "tokenizer_us": round(tokenizer, 2),
        "feature_strings_us": round(max(per_q["text_pipeline"] - tokenizer, 0.0), 2),
        "scoring_us": round(max(total - per_q["text_pipeline"], 0.0), 2),
        "total_us": round(total, 2),
        "tokenizer_share": round(tokenizer / total, 3),
        "text_pipeline_share": round(per_q["text_pipeline"] / total, 3),
    }
    C.log(f"speed: stages {res['stages']['us_per_query']}")

    # -- scaling with worker processes -----------------------------------
    C.log("speed: scaling with 1 and 2 loky workers")
    res["scaling"] = _scaling(pool, model_path, cfg, clf)

    # -- load time and memory in fresh processes ---------------------------
    C.log("speed: load time and RSS in fresh processes")
    with tempfile.TemporaryDirectory() as tmp:
        qfile = Path(tmp) / "queries.json"
        qfile.write_text(json.dumps(pool.take("mixed", cfg["probe_score"]), ensure_ascii=False), encoding="utf-8")
        res["load"] = C.run_probe("searchsafe", model_path, qfile, cfg["probe_score"], repeats=cfg["probe_repeats"])
        res["python_baseline"] = C.run_probe("python", None, None, 0, repeats=cfg["probe_repeats"])
        if cfg["long_probe"]:
            # Memory of a long-lived process: does anything grow with the queries it has seen?
            qfile.write_text(json.dumps(pool.take("mixed", cfg["long_probe"]), ensure_ascii=False), encoding="utf-8")
            res["load_long"] = C.run_probe("searchsafe", model_path, qfile, cfg["long_probe"], repeats=1)
    res["pool"] = pool.stats()

    batch_qps = unique["mixed"][str(big)]
    measured = {
        "batch_unique_qps": batch_qps,
        "single_p99_us": res["latency"]["mixed"]["p99_us"],
        "load_s": res["load"]["ready_s"],
        "rss_mb": res["load"]["rss_after_load_mb"],
    }
    for key, target in TARGETS.items():
        value = measured[key]
        met = value >= target if key == "batch_unique_qps" else value <= target
        res["targets"][key] = {"target": target, "measured": value, "met": bool(met),
                               "ratio": round(value / target, 3)}
    return res


def tables(res: dict[str, Any]) -> str:
    """Markdown tables of a speed result."""
    out = []
    bss = list(res["throughput"]["unique"]["mixed"])
    rows = []
    for lang in C.LANGS:
        rows.append([f"{lang}, unique"] + [C.fmt_int(res["throughput"]["unique"][lang][b]) for b in bss])
    rows.append(["mixed, Zipf stream"] + [C.fmt_int(res["throughput"]["zipf"][b]) for b in bss])
    if "zipf_cached" in res["throughput"]:
        thr = res["throughput"]
        rows.append([f"mixed, Zipf stream, cache on ({thr['zipf_cache_size']:,})"]
                    + [C.fmt_int(thr["zipf_cached"][b]) for b in bss])
        rows.append(["cached Zipf ÷ mixed unique"] + [f"{thr['zipf_cached_vs_unique'][b]}×" for b in bss])
        rows.append(["cache hit rate"] + [f"{thr['zipf_cached_hit_rate'][b]:.1%}" for b in bss])
    out.append("Throughput, queries/s (median of runs, one process, one core):\n")
    out.append(C.markdown_table(["queries"] + [f"batch {int(b):,}" for b in bss], rows))
    z = res["throughput"]["zipf_stream"]
    out.append(f"\nFirst batch of {res['first_batch_after_load']['batch']:,} right after load (cold caches): "
               f"{C.fmt_int(res['first_batch_after_load']['qps'])} queries/s. "
               f"Zipf stream: {z['length']:,} queries over "
               f"{z['pool']:,} distinct (exponent {z['exponent']}), {z['distinct_fraction']:.0%} distinct, "
               f"top query {z['top1_share']:.1%} of traffic.\n")
    lat = res["latency"]
    out.append(f"Single-query latency, `{lat['api']}`, µs:\n")
    out.append(C.markdown_table(
        ["queries", "n", "p50", "p99", "p99.9", "mean"],
        [[k, f"{lat[k]['n']:,}", lat[k]["p50_us"], lat[k]["p99_us"], lat[k]["p99_9_us"], lat[k]["mean_us"]]
         for k in ("mixed", "ja", "ko")],
    ))
    st = res["stages"]
    u = st["us_per_query"]
    out.append(f"\nWhere the time goes on the pure-Python path (µs per query, batch of {st['n_queries']:,} unique "
               "mixed queries; the compiled path's stages are in its own section below):\n")
    out.append(C.markdown_table(
        ["stage", "µs/query", "share of score_batch"],
        [
            ["normalize + fold + detect language", u["normalize"], f"{u['normalize'] / st['total_us']:.0%}"],
            ["morphemes (MeCab)", u["morphemes"], f"{u['morphemes'] / st['total_us']:.0%}"],
            ["sentencepiece pieces" + ("" if st.get("model_has_sentencepiece", True) else " (this model has none)"),
             u["sentencepiece"], f"{u['sentencepiece'] / st['total_us']:.0%}"],
            ["**tokenizer total**", st["tokenizer_us"], f"{st['tokenizer_share']:.0%}"],
            ["feature strings (rest of the text pipeline)", st["feature_strings_us"],
             f"{st['feature_strings_us'] / st['total_us']:.0%}"],
            ["scoring (lookup, sum, sigmoid)", st["scoring_us"], f"{st['scoring_us'] / st['total_us']:.0%}"],
            ["**score_batch**", st["total_us"], "100%"],
        ],
    ))
    sc = res["scaling"]
    out.append(f"\nScaling, {sc['n_queries']:,} unique queries in chunks of {sc['chunk']:,}, joblib loky workers "
               "that each load the model once:\n")
    out.append(C.markdown_table(
        ["processes", "queries/s", "vs 1 worker"],
        [["in-process (no joblib)", C.fmt_int(sc["in_process_qps"]), "–"],
         ["1 worker", C.fmt_int(sc["workers"]["1"]["qps"]), "1.00×"],
         ["2 workers", C.fmt_int(sc["workers"]["2"]["qps"]), f"{sc['speedup_2_vs_1']:.2f}×"]],
    ))
    if "cpu_loop_speedup_2_vs_1" in sc:
        out.append(f"\nThe same two worker set-ups on a fixed pure-Python loop, just before: "
                   f"{sc['cpu_loop_speedup_2_vs_1']:.2f}× (2.0× when both cores are free; less means other work on "
                   "the machine held a core).")
    ld, base = res["load"], res["python_baseline"]
    out.append(
        f"\nLoad in a fresh process (median of {ld['repeats']}): import {ld['import_s']:.3f} s + load "
        f"{ld['load_s']:.3f} s = {ld['ready_s']:.3f} s. Peak RSS after load {ld['rss_after_load_mb']:.0f} MB "
        f"(a bare python + numpy: {base['rss_after_load_mb']:.0f} MB); after scoring {int(ld.get('n_scored', 0)):,} "
        f"unique queries in batches of {int(ld.get('chunk', 0)):,}, "
        f"peak {ld.get('rss_after_scoring_mb', float('nan')):.0f} MB; "
        "at that point "
        f"{ld.get('rss_file_after_scoring_mb', float('nan')):.0f} MB are pages of memory-mapped files (the MeCab "
        f"dictionaries, shared between processes) and {ld.get('rss_anon_after_scoring_mb', float('nan')):.0f} MB "
        f"the process's own heap. Model files {res['model']['size_mb']} MB.\n"
    )
    if res.get("load_long"):
        lg = res["load_long"]
        out.append(f"After {int(lg['n_scored']):,} unique queries in one process (batches of {int(lg['chunk']):,}): "
                   f"peak RSS {lg['rss_after_scoring_mb']:.0f} MB "
                   f"({lg.get('rss_file_after_scoring_mb', float('nan')):.0f} MB mapped files, "
                   f"{lg.get('rss_anon_after_scoring_mb', float('nan')):.0f} MB heap). Its only tables are "
                   "bounded per-word ones (MeCab output, n-grams) and, off by default, the query cache; most of the "
                   "growth is dictionary pages touched for the first time.\n")
    out.append("Targets (issue 5, one core):\n")
    names = {"batch_unique_qps": "batch throughput, unique queries (mixed, largest batch)",
             "single_p99_us": "single-query p99 latency", "load_s": "load time (import + load)",
             "rss_mb": "peak RSS after load"}
    units = {"batch_unique_qps": "/s", "single_p99_us": " µs", "load_s": " s", "rss_mb": " MB"}
    rows = []
    for key, t in res["targets"].items():
        op = "≥" if key == "batch_unique_qps" else "≤"
        rows.append([names[key], f"{op} {t['target']:,}{units[key]}", f"{t['measured']:,.2f}{units[key]}",
                     "met" if t["met"] else f"**short** ({t['ratio']:.2f}× target)"])
    out.append(C.markdown_table(["target", "goal", "measured", "status"], rows))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return C.part_main(argv, "searchsafe speed benchmark", run, tables)


if __name__ == "__main__":
    sys.exit(main())
