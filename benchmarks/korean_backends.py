#!/usr/bin/env python
"""Measure every Korean tokenizer backend on the same Korean queries.

    python benchmarks/korean_backends.py [--n 5000] [--jvm-n 500]

Each backend runs in a fresh process: start-up (create the tagger and
tokenize one query) and throughput over unique Korean queries from data/.
The JVM taggers are slow, so they read fewer queries (--jvm-n). Writes
benchmarks/korean_backends.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _common as C  # noqa: E402

_CHILD = r"""
import json, sys, time, resource
t0 = time.perf_counter()
from searchsafe._tokenize import get_tokenizer
from searchsafe._normalize import normalize
tok = get_tokenizer(sys.argv[1], language="ko")
tok.tokens("자살 방법")
startup = time.perf_counter() - t0
queries = [normalize(q) for q in json.loads(sys.stdin.read())]
t = time.perf_counter()
for q in queries:
    tok.tokens(q)
elapsed = time.perf_counter() - t
print(json.dumps({"startup_s": startup, "queries": len(queries), "per_s": len(queries) / elapsed,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sample": tok.tokens(normalize("성매매 처벌 기준"))}))
"""


def korean_queries(n: int) -> list[str]:
    seen: dict[str, None] = {}
    for split in ("test", "dev", "train"):
        for line in (ROOT / "data" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["lang"] == "ko" and not row["source"].startswith("public"):
                seen.setdefault(row["text"], None)
    return list(seen)[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--jvm-n", type=int, default=500)
    args = ap.parse_args(argv)
    from searchsafe import KOREAN_BACKENDS

    results = {}
    for backend in KOREAN_BACKENDS:
        n = args.jvm_n if backend in ("konlpy-okt", "konlpy-komoran", "konlpy-hannanum", "konlpy-kkma") else args.n
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, backend], input=json.dumps(korean_queries(n)),
            capture_output=True, text=True, cwd=ROOT,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            results[backend] = {"error": last}
            print(f"{backend}: unavailable: {last}", file=sys.stderr)
            continue
        results[backend] = json.loads(proc.stdout)
        print(f"{backend}: {results[backend]['per_s']:,.0f} queries/s", file=sys.stderr)
    meta = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0]}
    C.atomic_write_text(ROOT / "benchmarks" / "korean_backends.json",
                        json.dumps({"meta": meta, "results": results}, ensure_ascii=False, indent=2) + "\n")
    print("| backend | queries/s | start-up | peak RSS | 성매매 처벌 기준 → |")
    print("|---|---|---|---|---|")
    for backend, r in results.items():
        if "error" in r:
            print(f"| `{backend}` | unavailable: {r['error']} | | | |")
        else:
            print(f"| `{backend}` | {r['per_s']:,.0f} | {r['startup_s'] * 1000:,.0f} ms | {r['rss_mb']:,.0f} MB | "
                  f"{' / '.join(r['sample'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
