"""Turn a results dict into RESULTS.md, plots and the README summary; check it is well formed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import _common as C

README_START = "<!-- results:start (written by run_all.py; edit outside these markers) -->"
README_END = "<!-- results:end -->"


# -- validation ---------------------------------------------------------------
def _positive(problems: list[str], where: str, value: Any) -> None:
    if not (C.is_number(value) and value > 0):
        problems.append(f"{where}: expected a number > 0, got {value!r}")


def _fraction(problems: list[str], where: str, value: Any) -> None:
    if not (C.is_number(value) and 0 <= value <= 1):
        problems.append(f"{where}: expected a number in [0, 1], got {value!r}")


def validate(results: dict[str, Any],
             parts: tuple[str, ...] = ("speed", "peers", "public", "realtraffic", "compiled")) -> list[str]:
    """Everything that makes a result unusable; an empty list means well formed."""
    from benchmarks.peers import PEERS, SYSTEMS

    problems: list[str] = []
    for part in parts:
        if part not in results:
            problems.append(f"{part}: missing")
        elif "error" in results[part]:
            problems.append(f"{part}: failed: {results[part]['error'].strip().splitlines()[-1]}")
    s = results.get("speed")
    if "speed" in parts and s and "error" not in s:
        try:
            for lang in C.LANGS:
                for bs, v in s["throughput"]["unique"][lang].items():
                    _positive(problems, f"speed.throughput.unique.{lang}.{bs}", v)
            for bs, v in s["throughput"]["zipf"].items():
                _positive(problems, f"speed.throughput.zipf.{bs}", v)
            for bs, v in s["throughput"].get("zipf_cached", {}).items():
                _positive(problems, f"speed.throughput.zipf_cached.{bs}", v)
            if len(s["throughput"]["unique"]["mixed"]) != 3:
                problems.append("speed: expected three batch sizes")
            for key in ("p50_us", "p99_us", "p99_9_us"):
                _positive(problems, f"speed.latency.mixed.{key}", s["latency"]["mixed"][key])
            for key in ("total_us", "tokenizer_us"):
                _positive(problems, f"speed.stages.{key}", s["stages"][key])
            for n in ("1", "2"):
                _positive(problems, f"speed.scaling.workers.{n}.qps", s["scaling"]["workers"][n]["qps"])
            for key in ("ready_s", "rss_after_load_mb"):
                _positive(problems, f"speed.load.{key}", s["load"][key])
            if set(s["targets"]) != {"batch_unique_qps", "single_p99_us", "load_s", "rss_mb"}:
                problems.append(f"speed.targets: wrong keys {sorted(s['targets'])}")
            for key, t in s["targets"].items():
                _positive(problems, f"speed.targets.{key}.measured", t["measured"])
        except (KeyError, TypeError) as exc:
            problems.append(f"speed: malformed ({type(exc).__name__}: {exc})")
    p = results.get("peers")
    if "peers" in parts and p and "error" not in p:
        try:
            missing = set(SYSTEMS) - set(p["systems"])
            if missing:
                problems.append(f"peers: missing systems {sorted(missing)}")
            for name, sys_ in p["systems"].items():
                _positive(problems, f"peers.{name}.batch_qps", sys_["batch_qps"])
                _positive(problems, f"peers.{name}.latency.p50_us", sys_["latency"]["p50_us"])
                _positive(problems, f"peers.{name}.memory.rss_after_load_mb", sys_["memory"]["rss_after_load_mb"])
                _positive(problems, f"peers.{name}.memory.ready_s", sys_["memory"]["ready_s"])
                q = sys_["quality"]
                for key in ("macro_f1", "hard_negative_fp_rate", "evasion_recall", "benign_flag_rate"):
                    _fraction(problems, f"peers.{name}.quality.{key}", q[key])
                for cat, m in q["categories"].items():
                    _fraction(problems, f"peers.{name}.quality.categories.{cat}.f1", m["f1"])
            for name in PEERS:
                for key in ("batch_throughput", "single_p50", "single_p99"):
                    _positive(problems, f"peers.ratios.{name}.{key}", p["ratios"][name][key])
        except (KeyError, TypeError) as exc:
            problems.append(f"peers: malformed ({type(exc).__name__}: {exc})")
    u = results.get("public")
    if "public" in parts and u and "error" not in u and not u.get("skipped"):
        try:
            t = u["tasks"]
            _fraction(problems, "public.beep.macro_f1_3class", t["beep"]["macro_f1_3class"])
            _fraction(problems, "public.apeach.beep_trained.macro_f1", t["apeach"]["beep_trained"]["macro_f1"])
            _fraction(problems, "public.apeach.default.macro_f1",
                      t["apeach"]["default_zero_shot_hate_or_harassment"]["macro_f1"])
            _fraction(problems, "public.unsmile.macro_f1", t["unsmile"]["macro_f1"])
            _fraction(problems, "public.unsmile.micro_f1", t["unsmile"]["micro_f1"])
            _fraction(problems, "public.curse.f1", t["curse"]["f1"])
            _fraction(problems, "public.curse.accuracy", t["curse"]["accuracy"])
            _fraction(problems, "public.kmhas.hate.f1", t["kmhas"]["hate"]["f1"])
            for name in ("beep", "unsmile", "curse"):
                _positive(problems, f"public.{name}.speed.qps", t[name]["speed"]["qps"])
            for name in ("apeach", "kmhas"):
                _positive(problems, f"public.{name}.speed_default_model.qps", t[name]["speed_default_model"]["qps"])
        except (KeyError, TypeError) as exc:
            problems.append(f"public: malformed ({type(exc).__name__}: {exc})")
    r = results.get("realtraffic")
    if "realtraffic" in parts and r and "error" not in r:
        try:
            for part in ("words", "pairs", "proper", "latin"):
                for lang in ("ja", "ko"):
                    v = r[part][lang]
                    if v["entries"] < 1:
                        problems.append(f"realtraffic.{part}.{lang}: no entries")
                    for name in ("searchsafe", "keyword"):
                        _fraction(problems, f"realtraffic.{part}.{lang}.{name}.false_positive_share",
                                  v["systems"][name]["false_positive_share"])
            for lang in ("ja", "ko"):
                for name in ("searchsafe", "keyword"):
                    _fraction(problems, f"realtraffic.context.{lang}.{name}.kept_share",
                              r["context"][lang]["systems"][name]["kept_share"])
                if not isinstance(r["worst"][lang], list):
                    problems.append(f"realtraffic.worst.{lang}: not a list")
            pub = r["public"]
            if not pub.get("skipped"):
                for name, v in pub.items():
                    if not v.get("skipped"):
                        for sys_name in ("searchsafe", "keyword"):
                            _fraction(problems, f"realtraffic.public.{name}.{sys_name}.f1", v["systems"][sys_name]["f1"])
        except (KeyError, TypeError) as exc:
            problems.append(f"realtraffic: malformed ({type(exc).__name__}: {exc})")
    c = results.get("compiled")
    if "compiled" in parts and c and "error" not in c:
        try:
            for name, v in c["batch_qps"].items():
                _positive(problems, f"compiled.batch_qps.{name}", v)
            for key, v in c["ratios"].items():
                _positive(problems, f"compiled.ratios.{key}", v)
            _positive(problems, "compiled.floor.floor_us", c["floor"]["floor_us"])
        except (KeyError, TypeError) as exc:
            problems.append(f"compiled: malformed ({type(exc).__name__}: {exc})")
    return problems


# -- markdown -----------------------------------------------------------------
def header(results: dict[str, Any]) -> str:
    m = results["meta"]
    mach = m["machine"]
    v = m["versions"]
    lines = [
        f"Measured on {m['date']} with `{m['command']}`"
        + (" (quick mode: small samples, numbers only prove the suite runs)" if m["quick"] else "") + ".",
        f"Machine: {mach['cpu']}, {mach['cores']} cores ({mach['usable_cores']} usable), "
        f"{mach['memory_gb']} GB RAM, {mach['os']}, {mach['implementation']} {mach['python']}. "
        f"Load average before / after the run: {m['load_before']} / {m['load_after']} "
        "(other work on the machine slows every number here alike; compare ratios measured in the same run).",
        "Libraries: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        f"Suite time: {m['total_s']:.0f} s ("
        + ", ".join(f"{k} {val:.0f} s" for k, val in m["durations_s"].items()) + ").",
    ]
    model = m.get("model")
    if model:
        lines.append(
            f"Model: `{model['path']}` ({model['name']}, {model['n_weights']:,} weights, {model['size_mb']} MB), "
            + ("trained on the data files in data/ as they are now."
               if model["trained_on_current_data"]
               else f"**trained on older versions of {', '.join(model['data_files_differ'])}** than data/ holds now: "
                    "its test numbers may include rows it was trained on, or miss newer ones.")
        )
    measured = m.get("parts_measured") or {}
    if len(set(measured.values())) > 1:
        lines.append("Parts measured at different times (`run_all.py --only`): " + "; ".join(
            f"{name} {when}" for name, when in measured.items()) + ". The model line above is the latest run's.")
    if m.get("model_replaced_during_run"):
        lines.append("**The default model was replaced while this suite ran** (someone retrained it): parts that "
                     "ran before and after measured different models. Run the suite again.")
    return "\n\n".join(lines)


def render(results: dict[str, Any], plots: dict[str, str]) -> str:
    from benchmarks import peers, public, realtraffic, speed

    out = ["# searchsafe benchmark results", "", header(results), ""]
    if "speed" in results:
        out += ["## Speed", ""]
        out.append(speed.tables(results["speed"]) if "error" not in results["speed"]
                   else f"Failed:\n\n```\n{results['speed']['error']}\n```")
        if "throughput" in plots:
            out += ["", f"![throughput by batch size]({plots['throughput']})"]
        out.append("")
    if "peers" in results:
        out += ["## Peers: same training data, same test queries, same run", ""]
        out.append(peers.tables(results["peers"]) if "error" not in results["peers"]
                   else f"Failed:\n\n```\n{results['peers']['error']}\n```")
        if "peers" in plots:
            out += ["", f"![quality against speed]({plots['peers']})"]
        out.append("")
    if "public" in results:
        out += ["## Public Korean datasets", ""]
        out.append(public.tables(results["public"]) if "error" not in results["public"]
                   else f"Failed:\n\n```\n{results['public']['error']}\n```")
        out.append("")
    if "realtraffic" in results:
        out += ["## Real traffic: text nobody here wrote, held-out entries, beside the keyword list", ""]
        out.append(realtraffic.tables(results["realtraffic"]) if "error" not in results["realtraffic"]
                   else f"Failed:\n\n```\n{results['realtraffic']['error']}\n```")
        out.append("")
    if "compiled" in results:
        from benchmarks import compiled

        out += ["## Compiled path: against the Python path, the tokenizer floor and the peers", ""]
        out.append(compiled.tables(results["compiled"]) if "error" not in results["compiled"]
                   else f"Failed:\n\n```\n{results['compiled']['error']}\n```")
        out.append("")
    out += ["## Reading these numbers", "", CAVEATS]
    return "\n".join(out) + "\n"


CAVEATS = """\
- Unique queries are queries this process has never scored (drawn from data/*.jsonl, at most 32 characters,
  then recombined from their words once the originals run out; the counts are in results.json under
  `speed.pool`). Recombined queries hold words MeCab has already parsed, so they meet its per-word table
  as repeat traffic does. The Zipf stream repeats head queries as search traffic does; the speed part scores
  it with the query cache off (the default for `load()`), where repetition helps only through that per-word
  table, and again through a 65,536-entry cache that has seen only an earlier warm-up stream (a fresh one per
  run). `benchmarks/policy.py` (the Search policy section) measures the cache on a harder stream whose
  200,000 distinct queries outnumber the cache.
- The machine is shared and noisy (±20–30 % between runs). Ratios between systems measured in one run are
  the numbers to quote; the absolute ones move.
- Peak RSS is the kernel's high-water mark (VmHWM) of a fresh process. `ru_maxrss` would be wrong here: Linux
  carries it across exec, so a child of the benchmark process reports the parent's size.
- The keyword list is made of the same lexicon rows our synthetic queries were generated from, so its
  test recall is a best case. Its false positives on hard negatives are the real cost.
- Quality on data/test.jsonl is on our own labeling policy (shared/TAXONOMY.md). The public datasets
  measure comment toxicity, a neighbouring task: long comments, not search queries.
- No prediction is certain truth: every system here flags innocent queries and misses harmful ones.
"""


def readme_summary(results: dict[str, Any]) -> str:
    """The short block that benchmarks/README.md quotes."""
    from benchmarks import speed

    m = results["meta"]
    mach = m["machine"]
    out = [f"Measured {m['date'][:10]} on {mach['cpu']} ({mach['cores']} cores), Python {mach['python']}; "
           f"load average {m['load_before']} before the run. Full tables: [RESULTS.md](RESULTS.md).", ""]
    s = results.get("speed")
    if s and "error" not in s:
        out.append("**Targets**, default model, one core:\n")
        out.append(speed.tables(s).split("Targets (issue 5, one core):\n", 1)[-1].strip())
        out.append("")
    p = results.get("peers")
    if p and "error" not in p:
        rows = []
        for name, x in p["systems"].items():
            q = x["quality"]
            rows.append([name, C.fmt(q["macro_f1"], 3), C.fmt(q["hard_negative_fp_rate"], 3),
                         C.fmt(q["evasion_recall"], 3), C.fmt_int(x["batch_qps"]), x["latency"]["p50_us"],
                         f"{x['memory']['rss_after_load_mb']:.0f}"])
        out.append("**Peers** on data/test.jsonl, same run, same queries:\n")
        out.append(C.markdown_table(["system", "macro-F1", "hard-neg FP ↓", "evasion recall", "queries/s (batch)",
                                     "single p50 µs", "RSS MB"], rows))
        out.append("")
    u = results.get("public")
    if u and "error" not in u and not u.get("skipped"):
        from benchmarks import public

        out.append("**Public Korean datasets** (ours beside the best published transformer):\n")
        out.append(public.tables(u).split("\n\n", 1)[0])
        out.append("")
    r = results.get("realtraffic")
    if r and "error" not in r:
        from benchmarks import realtraffic

        out.append("**Real traffic** (issue 8 targets, default model, held-out entries):\n")
        out.append(realtraffic.tables(r).split("### Targets (issue 8), searchsafe on held-out entries\n", 1)[-1]
                   .split("\n### ", 1)[0].strip())
        out.append("")
    return "\n".join(out)


def update_readme(readme: Path, block: str) -> bool:
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    C.atomic_write_text(readme, head + README_START + "\n" + block.rstrip() + "\n" + README_END + tail)
    return True


# -- plots ----------------------------------------------------------------------
def plots(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write the PNGs; returns {name: file name} for those written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def thousands(ax, axis: str, log: bool = True, subs: tuple[float, ...] = (1.0, 2.0, 5.0)) -> None:
        target = ax.xaxis if axis == "x" else ax.yaxis
        if log:
            target.set_major_locator(LogLocator(base=10, subs=subs))
            target.set_minor_formatter(NullFormatter())
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))

    written: dict[str, str] = {}
    s = results.get("speed")
    if s and "error" not in s:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        thr = s["throughput"]
        lines = [("ja, unique", thr["unique"]["ja"], "o-"), ("ko, unique", thr["unique"]["ko"], "s-"),
                 ("mixed, unique", thr["unique"]["mixed"], "^-"), ("mixed, Zipf stream", thr["zipf"], "v--")]
        for label, series, style in lines:
            xs = [int(b) for b in series]
            ax.plot(xs, [series[b] for b in series], style, label=label)
        target = s["targets"]["batch_unique_qps"]["target"]
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target:,.0f}/s")
        ax.set_xscale("log")
        ax.set_xticks([int(b) for b in thr["unique"]["mixed"]])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(bottom=0)
        thousands(ax, "y", log=False)
        ax.set_xlabel("batch size (queries per call)")
        ax.set_ylabel("queries per second, one core")
        ax.set_title("searchsafe default model: throughput by batch size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        C.atomic_savefig(fig, out_dir / "throughput_by_batch.png")
        plt.close(fig)
        written["throughput"] = "throughput_by_batch.png"
    p = results.get("peers")
    if p and "error" not in p:
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), dpi=110, sharey=True)
        for name, x in p["systems"].items():
            f1 = x["quality"]["macro_f1"]
            for ax, speed_value in ((axes[0], x["batch_qps"]), (axes[1], x["latency"]["p50_us"])):
                ax.scatter([speed_value], [f1], s=60, marker="*" if name == "searchsafe" else "o")
                ax.annotate(name, (speed_value, f1), textcoords="offset points", xytext=(6, 4), fontsize=8)
        axes[0].set_xscale("log")
        thousands(axes[0], "x")
        axes[0].set_xlabel(f"queries/s, batches of {p['config']['batch']:,} (→ better)")
        axes[0].set_ylabel("macro-F1 on data/test.jsonl")
        axes[1].set_xscale("log")
        thousands(axes[1], "x", subs=(1.0,))
        axes[1].set_xlabel("single-query p50 latency, µs (← better)")
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
        fig.suptitle("Quality against speed, same run, same queries")
        fig.tight_layout()
        C.atomic_savefig(fig, out_dir / "peers_quality_speed.png")
        plt.close(fig)
        written["peers"] = "peers_quality_speed.png"
    return written
