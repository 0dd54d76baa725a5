"""Run in a fresh interpreter: import, load one model, report time to ready and peak RSS.

    python benchmarks/_probe.py --kind searchsafe [--path DIR] [--queries FILE --n-score N]

Prints one JSON line. ``--kind python`` measures a bare interpreter with numpy
imported, the floor every other number sits on.

Peak RSS is the kernel's high-water mark ``VmHWM`` from ``/proc/self/status``.
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is only the fallback where there
is no /proc: Linux keeps ru_maxrss across ``execve``, so a child started by a
big benchmark process would report the parent's size (seen here: a bare
interpreter "using" 400 MB).
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Linux reports kilobytes, macOS bytes.
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 / 1024 if sys.platform == "darwin" else r / 1024


def rss_parts_mb() -> dict[str, float]:
    """Current anonymous (heap) and file-backed (mapped files, e.g. dictionaries) resident memory, MB."""
    out = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:")):
                    out[line.split(":")[0].lower().replace("rss", "rss_") + "_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kind", required=True, choices=["python", "searchsafe", "keyword", "tfidf_svc", "fasttext"])
    ap.add_argument("--path")
    ap.add_argument("--queries", help="JSON file with a list of queries to score after loading")
    ap.add_argument("--n-score", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=1000,
                    help="queries per scoring call, as a server would batch them (default: 1000)")
    args = ap.parse_args(argv)
    rss_start = rss_mb()
    t0 = time.perf_counter()
    if args.kind == "python":
        import numpy  # noqa: F401

        t_import = time.perf_counter()
        score = None
        t_ready = time.perf_counter()
    elif args.kind == "searchsafe":
        import searchsafe

        t_import = time.perf_counter()
        clf = searchsafe.load(args.path)
        score = clf.score_batch
        t_ready = time.perf_counter()
    else:
        from benchmarks import peers

        peers.import_backend(args.kind)
        t_import = time.perf_counter()
        system = peers.load_system(args.kind, args.path)
        score = system.score_batch
        t_ready = time.perf_counter()
    out = {
        "import_s": t_import - t0,
        "load_s": t_ready - t_import,
        "ready_s": t_ready - t0,
        "since_interpreter_start_s": t_ready - _T_START,
        "rss_start_mb": rss_start,
        "rss_after_load_mb": rss_mb(),
        # Scoring must never pull in the training stack (checked by tests/test_api.py too).
        "heavy_modules_after_load": sorted(m for m in ("sklearn", "scipy", "konlpy", "jpype") if m in sys.modules),
        **{f"{k[:-3]}_after_load_mb": v for k, v in rss_parts_mb().items()},
    }
    if score is not None and args.queries and args.n_score:
        queries = json.loads(Path(args.queries).read_text(encoding="utf-8"))[: args.n_score]
        for i in range(0, len(queries), args.chunk):
            score(queries[i : i + args.chunk])
        out["n_scored"] = len(queries)
        out["chunk"] = args.chunk
        out["rss_after_scoring_mb"] = rss_mb()
        out.update({f"{k[:-3]}_after_scoring_mb": v for k, v in rss_parts_mb().items()})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
