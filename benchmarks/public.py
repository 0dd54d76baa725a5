"""Quality on public Korean hate-speech datasets, beside their published baselines.

    python benchmarks/public.py            # full (about a minute: three retrainings)
    python benchmarks/public.py --quick    # seconds: a few hundred rows per set

Reads the copies in the project's shared folder (``<repo>/../shared/data``);
where that folder is absent it says so and exits 0.

* Retrained on each set's own train split, scored on its own dev/test split:
  BEEP! (hate label: none / offensive / hate), Unsmile (10 labels,
  multi-label) and curse detection (deterministic 80/20 split).
* Zero-shot, the shipped default model as it is: APEACH (Spoiled = hateful)
  and K-MHaS test, with their labels mapped onto our categories.

Published numbers come from each dataset's SOURCE.md. They are transformer
models; their speed is not measured here, so the speed column shows ours.
Unsmile is CC BY-NC-ND: the model trained on it here is an evaluation
artefact in a temporary folder, never saved or shipped.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402

BEEP_CLASSES = ("none", "offensive", "hate")
#: Training names of the BEEP! classes: the label readers take "none" to mean "no label".
BEEP_TRAIN_NAMES = ("not_offensive", "offensive", "hate")
UNSMILE_COLUMNS = {  # file column -> category name used for training
    "여성/가족": "women_family", "남성": "men", "성소수자": "lgbtq", "인종/국적": "race_nationality",
    "연령": "age", "지역": "region", "종교": "religion", "기타 혐오": "other_hate",
    "악플/욕설": "abuse_profanity", "clean": "clean",
}
KMHAS_CLASSES = {0: "origin", 1: "physical", 2: "politics", 3: "profanity", 4: "age", 5: "gender", 6: "race",
                 7: "religion", 8: "not_hate"}
#: K-MHaS label -> our category (issue 5's mapping): every hate class -> hate, 3 Profanity -> harassment.
KMHAS_TO_OURS = {0: "hate", 1: "hate", 2: "hate", 3: "harassment", 4: "hate", 5: "hate", 6: "hate", 7: "hate"}

#: Published baselines, copied from shared/data/<set>/SOURCE.md.
BASELINES: dict[str, dict[str, Any]] = {
    "beep": {
        "source": "ko-beep/SOURCE.md: KoELECTRA benchmark tables, 'Korean-Hate-Speech (Dev) F1' on the hate "
                  "label; KoELECTRA's fine-tuning code scores that task with sklearn macro F1 over none/offensive/hate",
        "metric": "macro_f1_3class",
        "rows": [("HanBERT", 68.32), ("KoELECTRA-base-v3", 67.61), ("KoBERT", 66.21), ("XLM-R-base", 64.06),
                 ("KoELECTRA-small-v3", 63.07), ("DistilKoBERT", 60.72)],
        "extra": [("KoELECTRA-base-v2 joint bias+hate (weighted F1, hate)", "weighted_f1_3class", 67.25)],
    },
    "beep_binary": {
        "source": "ko-apeach/SOURCE.md and ko-beep/SOURCE.md: APEACH README, classifiers trained on BEEP! train, "
                  "scored on BEEP! dev; the README does not name the metric",
        "metric": "unnamed",
        "rows": [("KcBERT-large", 82.95), ("SoongsilBERT-base", 82.61), ("KcBERT-base", 80.88), ("KoBERT", 80.30),
                 ("KoELECTRA-v3", 79.20), ("DistilKoBERT", 75.70)],
    },
    "apeach": {
        "source": "ko-apeach/SOURCE.md: APEACH README, models fine-tuned on BEEP! train; metric not named",
        "metric": "unnamed",
        "rows": [("SoongsilBERT-base", 84.24), ("SoongsilBERT-small", 82.28), ("KcBERT-large", 81.16),
                 ("KoELECTRA-v3", 81.01), ("KcBERT-base", 80.86), ("KoBERT", 78.85), ("DistilKoBERT", 77.15)],
    },
    "unsmile": {
        "source": "ko-unsmile/SOURCE.md: README, BERT smilegate-ai/kor_unsmile on unsmile_valid_v1.0",
        "metric": "macro_f1 / micro_f1",
        "rows": [("kor_unsmile (BERT), macro F1", 76.0), ("kor_unsmile (BERT), micro F1", 77.0)],
        "per_class": {"women_family": 0.76, "men": 0.85, "lgbtq": 0.83, "race_nationality": 0.82, "age": 0.83,
                      "region": 0.88, "religion": 0.87, "other_hate": 0.30, "abuse_profanity": 0.67, "clean": 0.77},
    },
    "curse": {
        "source": "ko-curse-detection/SOURCE.md: third-party table (Tanat05/korean-profanity-resources), agreement "
                  "ratio = accuracy on the whole file (not a held-out split)",
        "metric": "accuracy",
        "rows": [("korcen-ml", 84.32), ("korcen (keyword filter)", 84.15), ("Cenkor", 83.17),
                 ("badword_check", 67.61), ("CurseDetector", 56.79)],
    },
    "kmhas": {
        "source": "ko-kmhas/SOURCE.md: README figure, models trained on K-MHaS train (78,977 rows), all 9 labels; "
                  "not comparable with a zero-shot mapping onto two categories",
        "metric": "F1 macro / micro over 9 labels",
        "rows": [("KoBERT", "0.7651 / 0.8413"), ("KR-BERT (char)", "0.7444 / 0.8500"),
                 ("KoELECTRA", "0.7245 / 0.8493"), ("KR-BERT (sub-char)", "0.7245 / 0.8445"),
                 ("mBERT", "0.6912 / 0.8139")],
    },
}

FULL = {"cap_train": None, "cap_eval": None, "parallel": 2, "estimator": {}}
QUICK = {"cap_train": 150, "cap_eval": 200, "parallel": 1,
         "estimator": {"sentencepiece_vocab_size": 0, "hash_bits": 16}}
#: QueryClassifier parameters that ``searchsafe train`` exposes as flags.
CLI_FLAGS = {"sentencepiece_vocab_size": "--sentencepiece-vocab-size", "hash_bits": "--hash-bits", "C": "--C"}


# -- reading ----------------------------------------------------------------
def _tsv(path: Path, quoting: int = csv.QUOTE_NONE) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=quoting))


def _cap(rows: list, n: int | None) -> list:
    if n is None or len(rows) <= n:
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def _in_test_split(text: str) -> bool:
    """Deterministic 80/20 split by text: identical texts always fall on the same side."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % 5 == 0


def load_beep(root: Path):
    train = _tsv(root / "ko-beep" / "labeled" / "train.tsv")
    dev = _tsv(root / "ko-beep" / "labeled" / "dev.tsv")
    return ([r["comments"] for r in train], [r["hate"] for r in train],
            [r["comments"] for r in dev], [r["hate"] for r in dev])


def load_unsmile(root: Path):
    train = _tsv(root / "ko-unsmile" / "unsmile_train_v1.0.tsv")
    valid = _tsv(root / "ko-unsmile" / "unsmile_valid_v1.0.tsv")

    def y(rows):
        return np.array([[int(r[c]) for c in UNSMILE_COLUMNS] for r in rows], dtype=bool)

    return [r["문장"] for r in train], y(train), [r["문장"] for r in valid], y(valid)


def load_curse(root: Path):
    rows, skipped = [], 0
    with open(root / "ko-curse-detection" / "dataset.txt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "|" not in line:
                skipped += bool(line.strip())
                continue
            text, label = line.rsplit("|", 1)
            if label.strip() not in ("0", "1") or not text.strip():
                skipped += 1
                continue
            rows.append((text.strip(), label.strip() == "1"))
    train = [r for r in rows if not _in_test_split(r[0])]
    test = [r for r in rows if _in_test_split(r[0])]
    return [t for t, _ in train], [y for _, y in train], [t for t, _ in test], [y for _, y in test], skipped


def load_apeach(root: Path):
    with open(root / "ko-apeach" / "APEACH" / "test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["class"] == "Spoiled" for r in rows]


def load_kmhas(root: Path):
    rows = _tsv(root / "ko-kmhas" / "data" / "kmhas_test.txt", quoting=csv.QUOTE_MINIMAL)
    return [r["document"] for r in rows], [[int(x) for x in r["label"].split(",") if x.strip()] for r in rows]


# -- training -----------------------------------------------------------------
def _cli_train_help() -> str | None:
    """``searchsafe train --help`` of the CLI, or None where there is no working CLI."""
    try:
        from searchsafe import cli
    except ImportError:
        return None
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            cli.main(["train", "--help"])
    except SystemExit as exc:
        if exc.code not in (0, None):
            return None
    except Exception:  # a CLI that breaks on --help is not one to benchmark with
        return None
    return buf.getvalue()


def train_model(texts: Sequence[str], Y: np.ndarray, categories: Sequence[str], out: Path,
                estimator: dict[str, Any]) -> dict[str, Any]:
    """Fit our pipeline on (texts, Y) and write a model directory to *out*.

    Runs ``searchsafe train`` (the CLI, in-process through ``searchsafe.cli.main``)
    where it exists and takes ``--categories``; otherwise
    :class:`searchsafe.QueryClassifier`, which is what the CLI runs. Thresholds
    come from out-of-fold training scores (no dev file: the evaluation split
    must stay unseen). Returns how it was trained and how long it took.
    """
    help_text = _cli_train_help()
    can_cli = (help_text is not None and "--categories" in help_text
               and all(CLI_FLAGS.get(k, "?") in help_text for k in estimator))
    t0 = time.perf_counter()
    if can_cli:
        from searchsafe import cli

        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "train.jsonl"
            with open(data, "w", encoding="utf-8") as f:
                for t, row in zip(texts, Y):
                    labels = [c for c, v in zip(categories, row) if v]
                    f.write(json.dumps({"text": t, "labels": labels}, ensure_ascii=False) + "\n")
            argv = ["train", str(data), "--out", str(out), "--categories", ",".join(categories),
                    "--text-column", "text", "--labels-column", "labels", "--quiet"]
            for key, value in estimator.items():
                argv += [CLI_FLAGS[key], str(value)]
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = cli.main(argv)
            if code != 0:
                raise RuntimeError(f"searchsafe {' '.join(argv)} exited {code}: {err.getvalue()[-2000:]}")
        how = "searchsafe train TRAIN.jsonl --out DIR " + " ".join(argv[4:])
    else:
        from searchsafe import QueryClassifier

        QueryClassifier(categories=list(categories), **estimator).fit(list(texts), Y).save(out, name=out.name)
        how = (f"QueryClassifier({', '.join(f'{k}={v!r}' for k, v in estimator.items())}).fit() "
               f"({'no working searchsafe.cli' if help_text is None else 'searchsafe train lacks a needed flag'})")
    return {"how": how, "train_s": round(time.perf_counter() - t0, 1), "n_train": len(texts)}


def _train_job(name: str, texts, Y, categories, out: str, estimator) -> tuple[str, dict[str, Any]]:
    return name, train_model(texts, Y, categories, Path(out), estimator)


# -- metrics ------------------------------------------------------------------
def _binary(y: Sequence[bool], p: Sequence[bool]) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    y, p = np.asarray(y, bool), np.asarray(p, bool)
    return {
        "f1": round(float(f1_score(y, p, zero_division=0)), 4),
        "precision": round(float(precision_score(y, p, zero_division=0)), 4),
        "recall": round(float(recall_score(y, p, zero_division=0)), 4),
        "macro_f1": round(float(f1_score(y, p, average="macro", zero_division=0)), 4),
        "accuracy": round(float((y == p).mean()), 4),
        "n": int(len(y)),
        "positives": int(y.sum()),
    }


def _timed_scores(clf, texts: list[str]) -> tuple[np.ndarray, dict[str, float]]:
    """Scores, and the throughput of that first (uncached) pass over the set."""
    t0 = time.perf_counter()
    P = clf.score_batch(texts)
    dt = time.perf_counter() - t0
    return P, {"qps": round(len(texts) / dt, 1), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1)}


def _flags(clf, P: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    idx = [clf.categories.index(c) for c in categories]
    th = np.array([clf.thresholds[c] for c in categories], dtype=np.float32)
    return P[:, idx] >= th


def _vs(ours: float, rows: list[tuple[str, Any]]) -> dict[str, Any]:
    numeric = [(m, s) for m, s in rows if isinstance(s, (int, float))]
    if not numeric:
        return {}
    best_model, best = max(numeric, key=lambda r: r[1])
    return {"best_published": best_model, "best_published_score": best,
            "points_vs_best": round(100 * ours - best, 2)}


def run(quick: bool = False, root: Path | None = None) -> dict[str, Any]:
    import searchsafe
    from sklearn.metrics import f1_score

    root = C.SHARED_DATA if root is None else Path(root)
    if not root.is_dir():
        msg = f"public: skipped: no shared datasets at {root}"
        C.log(msg)
        return {"skipped": msg}
    cfg = QUICK if quick else FULL
    cap_t, cap_e, est = cfg["cap_train"], cfg["cap_eval"], cfg["estimator"]
    res: dict[str, Any] = {"quick": quick, "root": str(root), "tasks": {}, "baselines": BASELINES,
                           "transformer_speed": "not measured here"}

    # -- data ------------------------------------------------------------------
    bx, by, bdx, bdy = load_beep(root)
    beep_train = _cap(list(zip(bx, by)), cap_t)
    beep_dev = _cap(list(zip(bdx, bdy)), cap_e)
    ux, uy, uvx, uvy = load_unsmile(root)
    un_train = _cap(list(zip(ux, uy)), cap_t)
    un_valid = _cap(list(zip(uvx, uvy)), cap_e)
    cx, cy, ctx, cty, skipped = load_curse(root)
    cu_train = _cap(list(zip(cx, cy)), cap_t)
    cu_test = _cap(list(zip(ctx, cty)), cap_e)

    jobs = [
        ("unsmile", [t for t, _ in un_train], np.array([y for _, y in un_train]), list(UNSMILE_COLUMNS.values())),
        ("beep", [t for t, _ in beep_train],
         np.array([[y == c for c in BEEP_CLASSES] for _, y in beep_train]), list(BEEP_TRAIN_NAMES)),
        ("curse", [t for t, _ in cu_train], np.array([[y] for _, y in cu_train]), ["curse"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        C.log(f"public: training on BEEP!, Unsmile and curse detection ({cfg['parallel']} at a time)")
        outs = {name: str(Path(tmp) / name) for name, *_ in jobs}
        if cfg["parallel"] > 1:
            import os

            from joblib import Parallel, delayed

            os.environ["PYTHONPATH"] = C.child_env()["PYTHONPATH"]
            done = Parallel(n_jobs=cfg["parallel"], backend="loky")(
                delayed(_train_job)(name, x, y, cats, outs[name], est) for name, x, y, cats in jobs)
        else:
            done = [_train_job(name, x, y, cats, outs[name], est) for name, x, y, cats in jobs]
        trained = dict(done)
        models = {name: searchsafe.load(outs[name]) for name in outs}

        # -- BEEP! -------------------------------------------------------------
        texts = [t for t, _ in beep_dev]
        gold = np.array([y for _, y in beep_dev])
        clf = models["beep"]
        P, speed = _timed_scores(clf, texts)
        pred = np.array([BEEP_CLASSES[i] for i in P[:, [clf.categories.index(c) for c in BEEP_TRAIN_NAMES]].argmax(1)])
        per_class = f1_score(gold, pred, labels=list(BEEP_CLASSES), average=None, zero_division=0)
        beep = {
            "train": trained["beep"], "n_eval": len(texts), "eval_split": "labeled/dev.tsv", "speed": speed,
            "decision": "argmax of the three one-vs-rest probabilities",
            "macro_f1_3class": round(float(f1_score(gold, pred, average="macro", zero_division=0)), 4),
            "weighted_f1_3class": round(float(f1_score(gold, pred, average="weighted", zero_division=0)), 4),
            "accuracy_3class": round(float((gold == pred).mean()), 4),
            "f1_per_class": {c: round(float(v), 4) for c, v in zip(BEEP_CLASSES, per_class)},
            "binary_toxic": _binary(gold != "none", pred != "none"),
        }
        beep["vs_published"] = _vs(beep["macro_f1_3class"], BASELINES["beep"]["rows"])
        res["tasks"]["beep"] = beep
        C.log(f"public: BEEP! macro-F1 {beep['macro_f1_3class']}")

        # -- APEACH: the BEEP!-trained model (the published setup) and the default model ---
        ax, ay = load_apeach(root)
        ap = _cap(list(zip(ax, ay)), cap_e)
        atexts, agold = [t for t, _ in ap], np.array([y for _, y in ap])
        P, _ = _timed_scores(clf, atexts)
        apred = P[:, [clf.categories.index(c) for c in BEEP_TRAIN_NAMES]].argmax(1) != 0
        default = searchsafe.load()
        Pd, dspeed = _timed_scores(default, atexts)
        hate_har = _flags(default, Pd, ["hate", "harassment"]).any(axis=1)
        any_flag = (Pd >= np.array([default.thresholds[c] for c in default.categories], np.float32)).any(axis=1)
        apeach = {
            "n_eval": len(atexts), "speed_default_model": dspeed,
            "beep_trained": _binary(agold, apred),
            "default_zero_shot_hate_or_harassment": _binary(agold, hate_har),
            "default_zero_shot_any_category": _binary(agold, any_flag),
        }
        apeach["vs_published"] = _vs(apeach["beep_trained"]["macro_f1"], BASELINES["apeach"]["rows"])
        res["tasks"]["apeach"] = apeach
        C.log(f"public: APEACH BEEP!-trained macro-F1 {apeach['beep_trained']['macro_f1']}, default zero-shot "
              f"{apeach['default_zero_shot_hate_or_harassment']['macro_f1']}")

        # -- Unsmile (NC licence: evaluation only) -----------------------------------------
        clf = models["unsmile"]
        texts = [t for t, _ in un_valid]
        gold = np.array([y for _, y in un_valid])
        P, speed = _timed_scores(clf, texts)
        cats = list(UNSMILE_COLUMNS.values())
        flags = _flags(clf, P, cats)
        per = f1_score(gold, flags, average=None, zero_division=0)
        res["tasks"]["unsmile"] = {
            "train": trained["unsmile"], "n_eval": len(texts), "eval_split": "unsmile_valid_v1.0.tsv", "speed": speed,
            "decision": "per-label thresholds chosen on out-of-fold training scores (best F1)",
            "macro_f1": round(float(f1_score(gold, flags, average="macro", zero_division=0)), 4),
            "micro_f1": round(float(f1_score(gold, flags, average="micro", zero_division=0)), 4),
            "f1_per_class": {c: round(float(v), 4) for c, v in zip(cats, per)},
            "license": "CC BY-NC-ND 4.0: evaluation/research only; the model trained here is deleted after "
                       "scoring and never shipped",
        }
        res["tasks"]["unsmile"]["vs_published"] = _vs(res["tasks"]["unsmile"]["macro_f1"],
                                                      BASELINES["unsmile"]["rows"][:1])
        C.log(f"public: Unsmile macro-F1 {res['tasks']['unsmile']['macro_f1']}")

        # -- curse detection -----------------------------------------------------------
        clf = models["curse"]
        texts = [t for t, _ in cu_test]
        gold = np.array([y for _, y in cu_test])
        P, speed = _timed_scores(clf, texts)
        curse = {"train": trained["curse"], "n_eval": len(texts), "speed": speed, "skipped_lines": skipped,
                 "eval_split": "md5(text) % 5 == 0 (20 %), the rest trains",
                 **_binary(gold, _flags(clf, P, ["curse"])[:, 0])}
        curse["vs_published"] = _vs(curse["accuracy"], BASELINES["curse"]["rows"])
        res["tasks"]["curse"] = curse
        C.log(f"public: curse detection F1 {curse['f1']}, accuracy {curse['accuracy']}")
        del models

    # -- K-MHaS test, zero-shot ------------------------------------------------------
    kx, ky = load_kmhas(root)
    ours_train = {" ".join(r["text"].split()) for r in C.read_jsonl(C.DATA / "train.jsonl")}
    rows = [(t, y) for t, y in zip(kx, ky) if " ".join(t.split()) not in ours_train]
    overlap = len(kx) - len(rows)
    rows = _cap(rows, cap_e)
    ktexts = [t for t, _ in rows]
    P, speed = _timed_scores(default, ktexts)
    flags = _flags(default, P, ["hate", "harassment"])
    any_flag = (P >= np.array([default.thresholds[c] for c in default.categories], np.float32)).any(axis=1)
    gold_hate = np.array([any(KMHAS_TO_OURS.get(label) == "hate" for label in y) for _, y in rows])
    gold_har = np.array([any(KMHAS_TO_OURS.get(label) == "harassment" for label in y) for _, y in rows])
    gold_any = gold_hate | gold_har
    recall_by_class = {}
    for k, name in KMHAS_CLASSES.items():
        mask = np.array([k in y for _, y in rows])
        if mask.any():
            recall_by_class[name] = {"n": int(mask.sum()), "flagged_any": round(float(any_flag[mask].mean()), 4),
                                     "flagged_hate": round(float(flags[mask, 0].mean()), 4)}
    res["tasks"]["kmhas"] = {
        "n_eval": len(rows), "excluded_overlap_with_our_train": overlap, "speed_default_model": speed,
        "mapping": "0-2, 4-7 (hate classes) -> hate; 3 Profanity -> harassment; 8 Not Hate -> benign",
        "hate": _binary(gold_hate, flags[:, 0]),
        "harassment": _binary(gold_har, flags[:, 1]),
        "any_harm_hate_or_harassment": _binary(gold_any, flags.any(axis=1)),
        "any_harm_any_category": _binary(gold_any, any_flag),
        "flag_rate_by_gold_class": recall_by_class,
    }
    C.log(f"public: K-MHaS zero-shot hate F1 {res['tasks']['kmhas']['hate']['f1']}")
    return res


def tables(res: dict[str, Any]) -> str:
    if res.get("skipped"):
        return res["skipped"]
    t = res["tasks"]
    out = []
    b, a, u, c, k = t["beep"], t["apeach"], t["unsmile"], t["curse"], t["kmhas"]

    def best(key: str) -> str:
        rows = [r for r in BASELINES[key]["rows"] if isinstance(r[1], (int, float))]
        m, s = max(rows, key=lambda r: r[1])
        return f"{m} {s:.1f}"

    rows = [
        ["BEEP! dev (hate: none/offensive/hate)", "retrained on its train", "macro-F1, 3 classes",
         f"{100 * b['macro_f1_3class']:.1f}", best("beep"), f"{b['vs_published']['points_vs_best']:+.1f}",
         C.fmt_int(b["speed"]["qps"])],
        ["BEEP! dev, toxic vs none", "same model", "macro-F1 / accuracy",
         f"{100 * b['binary_toxic']['macro_f1']:.1f} / {100 * b['binary_toxic']['accuracy']:.1f}",
         best("beep_binary") + " (metric unnamed)", "–", C.fmt_int(b["speed"]["qps"])],
        ["APEACH test", "BEEP!-trained (the published setup)", "macro-F1 / accuracy",
         f"{100 * a['beep_trained']['macro_f1']:.1f} / {100 * a['beep_trained']['accuracy']:.1f}",
         best("apeach") + " (metric unnamed)", f"{a['vs_published']['points_vs_best']:+.1f} (macro-F1)",
         C.fmt_int(a["speed_default_model"]["qps"])],
        ["APEACH test", "default model, zero-shot (hate or harassment)", "macro-F1 / accuracy",
         f"{100 * a['default_zero_shot_hate_or_harassment']['macro_f1']:.1f} / "
         f"{100 * a['default_zero_shot_hate_or_harassment']['accuracy']:.1f}", "–", "–",
         C.fmt_int(a["speed_default_model"]["qps"])],
        ["Unsmile valid (10 labels)", "retrained on its train", "macro-F1 / micro-F1",
         f"{100 * u['macro_f1']:.1f} / {100 * u['micro_f1']:.1f}", "kor_unsmile BERT 76.0 / 77.0",
         f"{100 * u['macro_f1'] - 76.0:+.1f} / {100 * u['micro_f1'] - 77.0:+.1f}", C.fmt_int(u["speed"]["qps"])],
        ["curse detection, 20 % split", "retrained on the other 80 %", "accuracy / F1",
         f"{100 * c['accuracy']:.1f} / {100 * c['f1']:.1f}", best("curse") + " (accuracy, whole file)",
         f"{c['vs_published']['points_vs_best']:+.1f} (accuracy)", C.fmt_int(c["speed"]["qps"])],
        ["K-MHaS test", "default model, zero-shot", "F1 hate / harassment / any",
         f"{100 * k['hate']['f1']:.1f} / {100 * k['harassment']['f1']:.1f} / "
         f"{100 * k['any_harm_hate_or_harassment']['f1']:.1f}", "KoBERT 9-label macro-F1 76.5 (not comparable)", "–",
         C.fmt_int(k["speed_default_model"]["qps"])],
    ]
    out.append(C.markdown_table(["dataset", "our model", "metric", "ours", "best published (transformer)",
                                 "points vs best", "our queries/s, one core"], rows))
    out.append("\nPublished models are fine-tuned transformers; their throughput is not measured here. "
               "Our speed is the first pass over each evaluation set (long comments: "
               + ", ".join(f"{n} {t[n].get('speed', t[n].get('speed_default_model'))['mean_chars']:.0f} chars"
                           for n in ("beep", "unsmile", "curse", "apeach", "kmhas"))
               + " on average), so it is lower than on search queries.")
    out.append("\nTraining: " + "; ".join(f"{n}: {t[n]['train']['how']}, {t[n]['train']['n_train']:,} rows, "
                                           f"{t[n]['train']['train_s']} s" for n in ("beep", "unsmile", "curse")))
    out.append("\nUnsmile per-class F1 (ours / published): " + ", ".join(
        f"{cname} {u['f1_per_class'][cname]:.2f}/{BASELINES['unsmile']['per_class'][cname]:.2f}"
        for cname in u["f1_per_class"]))
    out.append(f"\nUnsmile is {u['license']}.")
    out.append(f"\nK-MHaS: {k['mapping']}; {k['n_eval']:,} rows scored ({k['excluded_overlap_with_our_train']} rows "
               "that also occur in our train.jsonl left out). Share flagged by gold class (any category): "
               + ", ".join(f"{n} {v['flagged_any']:.0%}" for n, v in k["flag_rate_by_gold_class"].items()) + ".")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return C.part_main(argv, "searchsafe on public Korean hate-speech datasets", run, tables)


if __name__ == "__main__":
    sys.exit(main())
