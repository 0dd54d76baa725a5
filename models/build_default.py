#!/usr/bin/env python
"""Train the bundled default model from the dataset in data/ and write models/default.

    python models/build_default.py

Trains on data/train.jsonl, picks thresholds on data/dev.jsonl, evaluates the
exported compact model on dev and test, and stores the metrics in the
manifest (and as models/default/METRICS.md for people).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from searchsafe import CATEGORIES, QueryClassifier  # noqa: E402
from searchsafe._classifier import Classifier  # noqa: E402
from searchsafe._data import read_labeled  # noqa: E402
from searchsafe._metrics import evaluate_predictions  # noqa: E402
from searchsafe._train import label_matrix  # noqa: E402


def fingerprint(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def metrics_markdown(metrics: dict) -> str:
    lines = []
    for split, m in metrics.items():
        lines.append(f"## {split}\n")
        lines.append("| lang | " + " | ".join(CATEGORIES) + " | macro-F1 | hard-negative FP rate |")
        lines.append("|---|" + "---|" * (len(CATEGORIES) + 2))
        for lang, block in [("all", m["overall"]), *m["by_lang"].items()]:
            cells = [f"{block['categories'][c]['precision']:.2f}/{block['categories'][c]['recall']:.2f}/{block['categories'][c]['f1']:.2f}" for c in CATEGORIES]
            hn = m["hard_negatives"]["false_positive_rate"] if lang == "all" else m["hard_negatives"]["by_lang"].get(lang)
            lines.append(f"| {lang} | " + " | ".join(cells) + f" | {block['macro_f1']:.3f} | {hn if hn is not None else '-'} |")
        ev = m["evasion"]
        lines.append(f"\nCells are precision/recall/F1. Evasive spellings: recall {ev['recall']} on {ev['n']} rows; by kind: "
                     + ", ".join(f"{k} {v}" for k, v in ev["by_kind"].items()) + "\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    ap.add_argument("--C", type=float, default=16.0)
    args = ap.parse_args(argv)
    files = [args.data / f"{s}.jsonl" for s in ("train", "dev", "test")]
    train, dev, test = (read_labeled(p, CATEGORIES) for p in files)
    t0 = time.perf_counter()
    est = QueryClassifier(C=args.C, verbose=True).fit(
        train.texts, train.labels, groups=train.groups, X_dev=dev.texts, y_dev=dev.labels
    )
    train_seconds = time.perf_counter() - t0
    clf = Classifier(est.to_model_data())
    metrics = {}
    for name, d in (("dev", dev), ("test", test)):
        P = clf.score_batch(d.texts)
        metrics[name] = evaluate_predictions(
            label_matrix(d.labels, CATEGORIES), P, est.thresholds_, CATEGORIES, langs=d.langs, tags=d.tags
        )
    est.save(
        args.out,
        name="searchsafe-default",
        data={"data_files": fingerprint(files), "n_dev": len(dev), "n_test": len(test),
              "train_seconds": round(train_seconds, 1), "command": "python models/build_default.py"},
        metrics=metrics,
    )
    md = metrics_markdown(metrics)
    (args.out.parent / "DEFAULT_METRICS.md").write_text(
        "# Default model metrics\n\nWritten by `python models/build_default.py`.\n\n" + md, encoding="utf-8"
    )
    print(md)
    print(f"wrote {args.out} ({est.buckets_.size} weights, trained in {train_seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
