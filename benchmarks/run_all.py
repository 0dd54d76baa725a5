"""Run the whole benchmark suite and regenerate its results.

    python benchmarks/run_all.py            # full: 2-5 minutes on 2 cores; rewrites
                                            # benchmarks/RESULTS.md, results.json, *.png
                                            # and the results block of benchmarks/README.md
    python benchmarks/run_all.py --quick    # seconds: small samples, tiny models; writes
                                            # to benchmarks/quick/ (not committed)
    python benchmarks/run_all.py --only realtraffic   # re-run some parts; the others keep their
                                            # numbers from the previous results.json

Tables go to stdout, progress to stderr. Exit codes: 0 every part ran and its
results are well formed; 1 a part failed or produced malformed results (the
messages say which); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402
from benchmarks import _report  # noqa: E402

PARTS = ("speed", "peers", "public", "realtraffic", "compiled")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


#: Parts that run in a process of their own. The MeCab word table is shared by every
#: classifier of a process, so after the other parts had scored the same pool, the
#: compiled part's "fresh" queries found their words parsed already: its MeCab stage
#: read 0.0 µs (2.3-2.6 µs in standalone runs of benchmarks/compiled.py).
FRESH_PROCESS = ("compiled",)


def _run_in_fresh_process(name: str, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        cmd = [sys.executable, "-m", f"benchmarks.{name}", "--json", str(out)] + (["--quick"] if quick else [])
        proc = subprocess.run(cmd, cwd=C.REPO, env=C.child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text(encoding="utf-8"))


def run(quick: bool, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Run *parts* and return the results dict (a failed part holds ``{"error": traceback}``)."""
    from benchmarks import compiled, peers, public, realtraffic, speed

    modules = {"speed": speed, "peers": peers, "public": public, "realtraffic": realtraffic, "compiled": compiled}
    os.environ["PYTHONPATH"] = C.child_env()["PYTHONPATH"]  # for probes and joblib workers
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": "python benchmarks/run_all.py" + (" --quick" if quick else ""),
        "quick": quick,
        "machine": C.machine_info(),
        "versions": C.versions(),
        "load_before": _load(),
        "durations_s": {},
    }
    try:
        meta["model"] = C.model_info()
    except Exception as exc:  # reported by the parts themselves as well
        meta["model_error"] = f"{type(exc).__name__}: {exc}"
    results: dict[str, Any] = {"meta": meta}
    started = time.perf_counter()
    for name in parts:
        C.log(f"== {name}")
        t0 = time.perf_counter()
        try:
            if name in FRESH_PROCESS:
                results[name] = _run_in_fresh_process(name, quick)
            else:
                results[name] = modules[name].run(quick=quick)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
            C.log(f"{name} FAILED:\n{results[name]['error']}")
        meta["durations_s"][name] = round(time.perf_counter() - t0, 1)
    meta["total_s"] = round(time.perf_counter() - started, 1)
    try:
        end = C.model_info()
        meta["model_replaced_during_run"] = end["manifest_sha256"] != meta.get("model", {}).get("manifest_sha256")
    except Exception as exc:
        meta["model_error"] = f"{type(exc).__name__}: {exc}"
    meta["load_after"] = _load()
    return results


def merge_previous(results: dict[str, Any], previous_path: Path) -> None:
    """Keep the parts that did not run from the previous full results, so ``--only`` updates RESULTS.md in place."""
    if not previous_path.is_file():
        return
    try:
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        C.log(f"warning: {previous_path}: unreadable ({exc}); RESULTS.md will hold only the parts that ran")
        return
    earlier = {}
    for name in PARTS:
        if name not in results and name in previous:
            results[name] = previous[name]
            earlier[name] = (previous.get("meta") or {}).get("parts_measured", {}).get(name) or \
                (previous.get("meta") or {}).get("date")
    meta = results["meta"]
    meta["parts_measured"] = {**earlier, **{name: meta["date"] for name in PARTS if name in results
                                            and name not in earlier}}
    meta["durations_s"] = {**{k: v for k, v in ((previous.get("meta") or {}).get("durations_s") or {}).items()
                              if k in earlier}, **meta["durations_s"]}
    meta["total_s"] = round(sum(meta["durations_s"].values()), 1)


def write(results: dict[str, Any], out: Path, *, readme: Path | None) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    written = _report.plots(results, out)
    C.atomic_write_text(out / "results.json", json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n")
    text = _report.render(results, written)
    # benchmarks/policy.py keeps its own block in RESULTS.md; a full run must not drop it.
    from benchmarks.policy import END, START
    prev = (out / "RESULTS.md").read_text(encoding="utf-8") if (out / "RESULTS.md").is_file() else ""
    # So do benchmarks/spark.py's block and, when this run did not measure it, the compiled section.
    for start, end in ((START, END), ("<!-- spark:begin -->", "<!-- spark:end -->")):
        if start in prev and end in prev and start not in text:
            text = text.rstrip("\n") + "\n\n" + start + prev.split(start, 1)[1].split(end, 1)[0] + end + "\n"
    head, tail = "## Compiled path", "## Reading these numbers"
    if head in prev and head not in text and tail in prev.split(head, 1)[1] and tail in text:
        text = text.replace(tail, head + prev.split(head, 1)[1].split(tail, 1)[0] + tail, 1)
    C.atomic_write_text(out / "RESULTS.md", text)
    if readme is not None and not _report.update_readme(readme, _report.readme_summary(results)):
        C.log(f"warning: {readme} has no results markers; its table was not updated")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run searchsafe's benchmark suite.")
    ap.add_argument("--quick", action="store_true", help="small samples and tiny models: seconds, for CI")
    ap.add_argument("--out", type=Path,
                    help="where results go (default: benchmarks/, or benchmarks/quick/ with --quick)")
    ap.add_argument("--only", help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)")
    args = ap.parse_args(argv)
    parts = PARTS
    if args.only:
        parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
        unknown = set(parts) - set(PARTS)
        if unknown or not parts:
            ap.error(f"--only takes {', '.join(PARTS)}; got {args.only!r}")
    out = args.out or (C.BENCH / "quick" if args.quick else C.BENCH)
    # Only a full run of every part at the default place speaks for the README.
    readme = C.BENCH / "README.md" if (not args.quick and args.out is None and parts == PARTS) else None

    results = run(args.quick, parts)
    problems = _report.validate(results, parts)
    results["meta"]["problems"] = problems
    if args.only and args.out is None and not args.quick:
        merge_previous(results, out / "results.json")
    write(results, out, readme=readme)
    print((out / "RESULTS.md").read_text(encoding="utf-8"))
    C.log(f"wrote {out / 'RESULTS.md'}, {out / 'results.json'} and plots in {results['meta']['total_s']:.0f} s")
    if problems:
        C.log("BENCHMARK PROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
