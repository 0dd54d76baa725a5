"""Import + load time of the default model in fresh interpreters, beside a bare python + numpy.

    python benchmarks/load.py [--repeats 9] [--json FILE]

Each repeat starts a new interpreter that imports searchsafe and calls
``searchsafe.load()`` (``_probe.py``), so nothing is cached in the process;
the operating system's page cache is warm after the first run, as it is on a
server. ``ready`` is import + load measured inside the process, ``process`` the
wall time of the whole child including interpreter start-up and exit. A bare
interpreter importing numpy is measured the same way, interleaved, because on
a shared machine the ratio of the two is steadier than either number. The
machine's load average is printed with the result: on this 2-core machine
shared by other jobs, 0.58-0.83 s has been seen for what takes 0.2 s when idle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402


def run(repeats: int = 9) -> dict[str, Any]:
    from searchsafe._classifier import default_model_path

    model = str(default_model_path())
    runs: dict[str, list[dict[str, Any]]] = {"searchsafe": [], "python": []}
    load_before = os.getloadavg()[0]
    for i in range(repeats):
        C.log(f"load: fresh interpreter {i + 1} of {repeats}")
        runs["searchsafe"].append(C.run_probe("searchsafe", model, None, 0))
        runs["python"].append(C.run_probe("python", None, None, 0))
    out: dict[str, Any] = {"repeats": repeats, "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    for kind, rs in runs.items():
        block: dict[str, Any] = {}
        for key in ("import_s", "load_s", "ready_s", "process_wall_s"):
            values = sorted(r[key] for r in rs)
            block[key] = {"median": round(C.median(values), 4), "min": round(values[0], 4),
                          "max": round(values[-1], 4)}
        block["rss_after_load_mb"] = round(C.median(r["rss_after_load_mb"] for r in rs), 1)
        block["heavy_modules_after_load"] = sorted({m for r in rs for m in r["heavy_modules_after_load"]})
        out[kind] = block
    out["ready_vs_python"] = round(out["searchsafe"]["ready_s"]["median"] / out["python"]["ready_s"]["median"], 2)
    return out


def table(res: dict[str, Any]) -> str:
    lines = [f"fresh interpreters: {res['repeats']} of each kind; 1-min load average {res['loadavg_1min'][0]} "
             f"before, {res['loadavg_1min'][1]} after (2 cores)",
             f"{'':44}{'median':>9}{'min':>10}{'max':>10}"]
    for kind, name in (("searchsafe", "import searchsafe + load()"), ("python", "python + import numpy")):
        for key, where in (("ready_s", "in process"), ("process_wall_s", "whole process")):
            v = res[kind][key]
            lines.append(f"{name + ' (' + where + ')':<44}{v['median']:>7.3f} s {v['min']:>7.3f} s {v['max']:>7.3f} s")
    s = res["searchsafe"]
    lines.append(f"import {s['import_s']['median']:.3f} s + load {s['load_s']['median']:.3f} s; "
                 f"{res['ready_vs_python']}x a bare numpy import; peak RSS {s['rss_after_load_mb']:.0f} MB; "
                 f"heavy modules after load: {', '.join(s['heavy_modules_after_load']) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9, help="fresh interpreters of each kind (default: 9)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    res = run(args.repeats)
    print(table(res))
    if args.json:
        C.atomic_write_text(args.json, json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
