"""Peak memory when the input is hostile: 1M unique long words beside 1M ordinary queries.

    python benchmarks/memory.py                 # 1,000,000 queries of each kind (an hour of CPU)
    python benchmarks/memory.py --quick         # 2,000 of each (seconds; what CI runs)
    python benchmarks/memory.py --n 1000000 --n-adversarial 50000 --json out.json

Each kind is scored in a fresh interpreter that loads the default model and
streams its queries through ``Classifier.score_batch`` in batches of 1,000,
the way ``searchsafe score`` does; the child reports its peak RSS (``VmHWM``)
after load, at ten checkpoints along the stream and at its end, so a flat
curve is visible and not only a final number. The two children run at the
same time (one core each). *Ordinary* queries are unique real-length
queries from ``data/`` (``QueryPool``: originals, then recombined), written to
a temporary file the child reads line by line. *Adversarial* queries are
unique 256-character words of random Hangul and kanji (no spaces, so each is
one word with about 1,000 n-grams), generated in the child from a seed: the
input that made the per-word n-gram table grow by 96 KB a word before it was
bounded by bytes (issue #14). The verdict compares the two peaks measured in
the same run: memory is flat if hostile input costs at most 1.5x the ordinary
stream's peak.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402

BATCH = 1000
#: Hostile input may cost at most this much more peak memory than ordinary input.
FLAT_RATIO = 1.5
_ALPHABET = [chr(c) for c in range(0xAC00, 0xAC00 + 2350)] + [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]


def _mecab_table_entries(ex: Any) -> int:
    n = 0
    for tok in (ex._ja, ex._ko):
        for table in (tok._word_raw, tok._word_lists):
            # The C WordTable reports (young, old, recent); the Python one holds dicts.
            n += sum(table.sizes()) if hasattr(table, "sizes") else (
                len(table._young) + len(table._old) + len(table._recent))
    return n


def adversarial(n: int, seed: int = 14) -> Iterator[str]:
    """*n* distinct words of MAX_QUERY_CHARS random Hangul and kanji."""
    from searchsafe import MAX_QUERY_CHARS

    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(rng.choices(_ALPHABET, k=MAX_QUERY_CHARS))


def _lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n")


def child(kind: str, n: int, source: str | None) -> dict[str, Any]:
    """Score the stream in this process and report its memory (run in a fresh interpreter)."""
    from benchmarks._probe import rss_mb, rss_parts_mb

    import searchsafe

    clf = searchsafe.load()
    after_load = rss_mb()
    stream = adversarial(n) if kind == "adversarial" else _lines(str(source))
    t0 = time.perf_counter()
    done = flagged = 0
    every = max(BATCH, n // 10)
    checkpoints: list[list[float]] = []
    batch: list[str] = []
    for q in stream:
        batch.append(q)
        if len(batch) == BATCH:
            flagged += int(clf.predict_batch(batch).any(axis=1).sum())
            done += len(batch)
            batch = []
            if done % every == 0:
                checkpoints.append([done, round(rss_mb(), 1)])
                C.log(f"memory: {kind} {done}/{n}, peak RSS {checkpoints[-1][1]} MB")
    if batch:
        flagged += int(clf.predict_batch(batch).any(axis=1).sum())
        done += len(batch)
    seconds = time.perf_counter() - t0
    ex = clf._extractor
    return {
        "kind": kind,
        "n": done,
        "mean_chars": None,
        "peak_rss_after_load_mb": round(after_load, 1),
        "peak_rss_mb": round(rss_mb(), 1),
        **{k: round(v, 1) for k, v in rss_parts_mb().items()},
        # The feature cache of the Python path and the MeCab word tables both paths fill.
        "word_table_entries": len(ex._word_grams) + len(ex._old_grams) + _mecab_table_entries(ex),
        "word_table_bytes_budget": ex._WORD_CACHE_BYTES,
        "seconds": round(seconds, 1),
        "queries_per_s": round(done / seconds, 1) if seconds else None,
        "flagged": flagged,
        "checkpoints": checkpoints,
    }


def _start_child(kind: str, n: int, source: str | None) -> subprocess.Popen:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--n", str(n)]
    if source:
        cmd += ["--source", source]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=C.child_env())


def _result(kind: str, proc: subprocess.Popen) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"memory child {kind} failed with exit {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def run(quick: bool = False, n: int | None = None, n_adversarial: int | None = None) -> dict[str, Any]:
    n = n or (2_000 if quick else 1_000_000)
    n_adv = n_adversarial or n
    C.log(f"memory: writing {n} ordinary queries")
    pool = C.QueryPool()
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        ordinary_file = f.name
        chars = 0
        for start in range(0, n, 10_000):
            qs = pool.take("mixed", min(10_000, n - start))
            chars += sum(map(len, qs))
            f.write("\n".join(qs) + "\n")
    try:
        C.log(f"memory: scoring {n} ordinary queries and {n_adv} adversarial words, each in its own process")
        procs = {"ordinary": _start_child("ordinary", n, ordinary_file),
                 "adversarial": _start_child("adversarial", n_adv, None)}
        ordinary = _result("ordinary", procs["ordinary"])
        hostile = _result("adversarial", procs["adversarial"])
        ordinary["mean_chars"] = round(chars / n, 1)
        hostile["mean_chars"] = float(len(next(adversarial(1))))
    finally:
        for proc in locals().get("procs", {}).values():
            if proc.poll() is None:
                proc.kill()
        os.unlink(ordinary_file)
    ratio = hostile["peak_rss_mb"] / ordinary["peak_rss_mb"]
    command = "python benchmarks/memory.py" + (" --quick" if quick else "")
    if not quick and n != 1_000_000:
        command += f" --n {n}"
    if n_adversarial and n_adversarial != n:
        command += f" --n-adversarial {n_adversarial}"
    return {
        "command": command,
        "n": n,
        "batch": BATCH,
        "ordinary": ordinary,
        "adversarial": hostile,
        "peak_ratio": round(ratio, 3),
        "flat_ratio_target": FLAT_RATIO,
        "flat": ratio <= FLAT_RATIO,
        "pool": pool.stats(),
    }


def tables(res: dict[str, Any]) -> str:
    rows = []
    for kind in ("ordinary", "adversarial"):
        r = res[kind]
        curve = ", ".join(f"{C.fmt_int(k)}: {C.fmt(v)}" for k, v in r.get("checkpoints", []))
        rows.append([kind, C.fmt_int(r["n"]), C.fmt(r["mean_chars"]), C.fmt(r["peak_rss_after_load_mb"]),
                     C.fmt(r["peak_rss_mb"]), C.fmt_int(r["queries_per_s"]), C.fmt_int(r["word_table_entries"]),
                     curve or "-"])
    table = C.markdown_table(
        ["input", "queries", "mean chars", "peak RSS after load (MB)", "peak RSS after stream (MB)",
         "queries/s", "word-table entries", "peak RSS (MB) after N queries"], rows)
    verdict = (f"adversarial / ordinary peak: {res['peak_ratio']:.2f} "
               f"({'flat' if res['flat'] else 'NOT flat'}; target <= {res['flat_ratio_target']})")
    return f"{table}\n\n{verdict}\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 queries of each kind")
    ap.add_argument("--n", type=int, help="queries of each kind (default 1,000,000)")
    ap.add_argument("--n-adversarial", type=int, help="adversarial words, when fewer than --n (they cost 10x more)")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    ap.add_argument("--child", choices=("ordinary", "adversarial"), help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.n, args.source)))
        return 0
    res = run(quick=args.quick, n=args.n, n_adversarial=args.n_adversarial)
    print(tables(res))
    if args.json:
        C.atomic_write_text(args.json, json.dumps(res, indent=1, ensure_ascii=False))
    return 0 if res["flat"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
