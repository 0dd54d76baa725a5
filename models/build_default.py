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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from searchsafe import CATEGORIES, QueryClassifier  # noqa: E402
from searchsafe._classifier import Classifier  # noqa: E402
from searchsafe._data import read_labeled  # noqa: E402
from searchsafe._lexicon import LEXICON_POSITIONS  # noqa: E402
from searchsafe._metrics import evaluate_predictions  # noqa: E402
from searchsafe._train import label_matrix  # noqa: E402
# The CLI's own atomic writer (temporary file beside the target, then os.replace): an interrupted
# build never leaves a half-written DEFAULT_METRICS.md. The model directory is written atomically by save().
from searchsafe.cli._util import write_text as write_atomic  # noqa: E402


def fingerprint(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def evaluate(clf: Classifier, thresholds, data) -> dict:
    P = clf.score_batch(data.texts)
    Y = label_matrix(data.labels, CATEGORIES)
    out = evaluate_predictions(Y, P, thresholds, CATEGORIES, langs=data.langs, tags=data.tags)
    # Hand-written queries read most like real traffic: report them on their own.
    hw = [i for i, s in enumerate(data.sources) if s == "handwritten"]
    sub = evaluate_predictions(Y[hw], P[hw], thresholds, CATEGORIES,
                               langs=[data.langs[i] for i in hw], tags=[data.tags[i] for i in hw])
    out["handwritten"] = {"n": len(hw), "macro_f1": sub["overall"]["macro_f1"],
                          "by_lang": {k: v["macro_f1"] for k, v in sub["by_lang"].items()},
                          "hard_negative_fp_rate": sub["hard_negatives"]["false_positive_rate"]}
    return out


def metrics_markdown(metrics: dict) -> str:
    lines = []
    for split, m in metrics.items():
        title = {"dev": "dev (model trained on train; thresholds chosen here)",
                 "test": "test (shipped model; never seen in training or tuning)"}.get(split, split)
        lines.append(f"## {title}\n")
        lines.append("| lang | " + " | ".join(CATEGORIES) + " | macro-F1 | hard-negative FP rate |")
        lines.append("|---|" + "---|" * (len(CATEGORIES) + 2))
        for lang, block in [("all", m["overall"]), *m["by_lang"].items()]:
            cells = [f"{block['categories'][c]['precision']:.2f}/{block['categories'][c]['recall']:.2f}/{block['categories'][c]['f1']:.2f}" for c in CATEGORIES]
            hn = m["hard_negatives"]["false_positive_rate"] if lang == "all" else m["hard_negatives"]["by_lang"].get(lang)
            lines.append(f"| {lang} | " + " | ".join(cells) + f" | {block['macro_f1']:.3f} | {hn if hn is not None else '-'} |")
        hw = m["handwritten"]
        lines.append(f"\nHand-written rows only ({hw['n']}): macro-F1 {hw['macro_f1']}, by language "
                     + ", ".join(f"{k} {v}" for k, v in hw["by_lang"].items())
                     + f"; hard-negative FP rate {hw['hard_negative_fp_rate']}.")
        ev = m["evasion"]
        lines.append(f"\nCells are precision/recall/F1. Evasive spellings: recall {ev['recall']} on {ev['n']} rows; by kind: "
                     + ", ".join(f"{k} {v}" for k, v in ev["by_kind"].items()) + "\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    ap.add_argument("--C", type=float, default=0.005)
    ap.add_argument("--prevalence", type=float, default=0.02,
                    help="share of harmful queries in real traffic that calibration and thresholds assume")
    ap.add_argument("--length-norm", choices=("none", "sqrt"), default="none")
    ap.add_argument("--char-ngram-min", type=int, default=1)
    ap.add_argument("--char-ngram-max", type=int, default=4)
    ap.add_argument("--sentencepiece-vocab-size", type=int, default=8000,
                    help="pieces of the subword model; 0 trains without sentencepiece features")
    ap.add_argument("--hash-bits", type=int, default=22,
                    help="feature space of 2**bits buckets; fewer bits let unseen n-grams land on trained weights")
    ap.add_argument("--morph-unit", choices=("query", "word"), default="word")
    ap.add_argument("--lexicon-position", choices=LEXICON_POSITIONS, default="morpheme",
                    help="when a lexicon term inside a word stands apart: a word edge, or morpheme boundaries")
    ap.add_argument("--lexicon", type=Path, default=ROOT / "data" / "lexicons",
                    help="harm lexicon whose hits are features (default: data/lexicons)")
    ap.add_argument("--no-lexicon", dest="lexicon", action="store_const", const=None,
                    help="train without lexicon features")
    ap.add_argument("--threshold-resamples", type=int, default=0,
                    help="thresholds: the median over this many bootstrap resamples of dev (default 0: dev once; "
                         "50 was tried in stop 23 and lifted child_safety's threshold past a clear query)")
    ap.add_argument("--threshold-plateau", type=float, default=0.0,
                    help="with --thresholds f1: the middle one of the cuts within this fraction of the best F1 "
                         "(0: the best cut itself)")
    ap.add_argument("--thresholds", choices=("f1", "severity"), default="f1",
                    help="f1 (default): each category's F1-best threshold at --prevalence; severity: the library's "
                         "default precision targets (0.95 child_safety, 0.9 high severity). Stop 25 measured both on "
                         "the same model: f1 keeps every frequent-word target and lifts every public set")
    ap.add_argument("--calibration", choices=("dev", "oof"), default="dev",
                    help="dev (default): fit on train, calibrate and choose thresholds on dev, refit on train + dev; "
                         "oof: fit on train + dev once, calibrate and choose thresholds on out-of-fold scores of "
                         "all of it (folds never split a group; no dev metrics then)")
    ap.add_argument("--jobs", type=int, default=2, help="categories trained at once (threads); same model for any value")
    ap.add_argument("--no-refit", dest="refit", action="store_false",
                    help="ship the model trained on train only (default: refit on train + dev)")
    args = ap.parse_args(argv)
    files = [args.data / f"{s}.jsonl" for s in ("train", "dev", "test")]
    train, dev, test = (read_labeled(p, CATEGORIES) for p in files)
    # The benign background (word lists and dictionary entries, never test).
    background = [args.data / "background" / f"{s}.jsonl.gz" for s in ("train", "dev")]
    for part, path in zip((train, dev), background):
        if path.is_file():
            part.extend(read_labeled(path, CATEGORIES))
            files.append(path)
    lexicon_files = {} if args.lexicon is None else {
        str(p.relative_to(args.lexicon)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(args.lexicon.glob("*/*.tsv"))}
    params = dict(C=args.C, prevalence=args.prevalence, length_norm=args.length_norm, lexicon=args.lexicon, morph_unit=args.morph_unit,
                  lexicon_position=args.lexicon_position,
                  char_ngram_min=args.char_ngram_min, char_ngram_max=args.char_ngram_max,
                  sentencepiece_vocab_size=args.sentencepiece_vocab_size, hash_bits=args.hash_bits, n_jobs=args.jobs, calibration="dev",
                  threshold_resamples=args.threshold_resamples, threshold_plateau=args.threshold_plateau,
                  verbose=True)
    if args.thresholds == "f1":
        # At a 2 % harmful share a precision target is crossed where a handful of benign dev
        # rows sit, so it moved child_safety's threshold between 0.68 and 0.95 across builds
        # of nearly the same data; the F1-best point is flat there and stays put.
        params["target_precision"] = {c: None for c in CATEGORIES}
    t0 = time.perf_counter()
    if args.calibration == "oof":
        # Thresholds from scores of models that did not see the row, over five times dev's rows.
        params["calibration"] = "oof"
        est = QueryClassifier(**params).fit(
            train.texts + dev.texts, train.labels + dev.labels, groups=train.groups + dev.groups
        )
        metrics: dict = {}
    else:
        est = QueryClassifier(**params).fit(
            train.texts, train.labels, groups=train.groups, X_dev=dev.texts, y_dev=dev.labels
        )
        metrics = {"dev": evaluate(Classifier(est.to_model_data()), est.thresholds_, dev)}
    if args.refit and args.calibration == "dev":
        # Calibration and thresholds stay the ones chosen on dev; the shipped
        # model then also learns dev's terms and hand-written queries. Test is never seen.
        est = QueryClassifier(**params).fit(
            train.texts + dev.texts, train.labels + dev.labels, groups=train.groups + dev.groups,
            calibration_from=est,
        )
    train_seconds = time.perf_counter() - t0
    metrics["test"] = evaluate(Classifier(est.to_model_data()), est.thresholds_, test)
    est.save(
        args.out,
        name="searchsafe-default",
        data={"data_files": fingerprint(files), "lexicon_files": lexicon_files, "n_dev": len(dev), "n_test": len(test),
              "train_seconds": round(train_seconds, 1), "command": "python models/build_default.py"},
        metrics=metrics,
    )
    md = metrics_markdown(metrics)
    write_atomic(str(args.out.parent / "DEFAULT_METRICS.md"),
                 "# Default model metrics\n\nWritten by `python models/build_default.py`.\n\n" + md, encoding="utf-8")
    print(md)
    print(f"wrote {args.out} ({est.buckets_.size} weights, trained in {train_seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
