"""searchsafe beside what a search team would use instead, in one run, on the same queries.

    python benchmarks/peers.py            # full (about a minute)
    python benchmarks/peers.py --quick    # seconds: small training sample, tiny fastText

Peers, all trained (where they train) on ``data/train.jsonl``, thresholds picked
on ``data/dev.jsonl`` with searchsafe's own rule (``choose_threshold``: 0.9
precision for critical and high severity categories, best F1 for the rest),
scored on ``data/test.jsonl``:

* ``keyword``: substring match against the ``term`` and ``phrase`` rows of
  ``data/lexicons/{ja,ko}/<category>.tsv``, the way many sites filter today.
  Query and terms are NFKC-normalised, case-folded and stripped of spaces.
  Caveat: the synthetic part of our dataset was generated from these very
  lexicons, so this is the best case for a keyword list.
* ``tfidf_svc``: the profanity-check recipe (TF-IDF character 1–3-grams within
  word boundaries, LinearSVC calibrated with CalibratedClassifierCV), one
  classifier per category.
* ``fasttext``: fastText supervised with character n-grams and one-vs-all
  sigmoid outputs (``loss="ova"``). Its settings were picked once on dev.jsonl
  (see FASTTEXT_PARAMS).
* ``searchsafe``: the shipped default model, scored through the public API.

The peers follow the shipped model's recipe (``models/build_default.py``):
thresholds are chosen on dev by a model fitted on train, and when the shipped
model was then refit on train + dev (its manifest says so), the peers are refit
on train + dev too, keeping those thresholds. If the shipped model was trained
on other versions of the data files than data/ holds, the tables say so: run
``python models/build_default.py`` first for a like-with-like comparison.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402

PEERS = ("keyword", "tfidf_svc", "fasttext")
SYSTEMS = ("searchsafe",) + PEERS
LABELS = {
    "searchsafe": "searchsafe (default model)",
    "keyword": "keyword list, substring match",
    "tfidf_svc": "profanity-check style: TF-IDF char 1–3 + calibrated LinearSVC",
    "fasttext": "fastText supervised, char n-grams, ova",
}
#: Picked on dev.jsonl from a small grid (lr 0.02–0.5, epoch 3–25, wordNgrams 1–2,
#: minn/maxn 1–3 and 2–4): larger learning rates or more epochs saturate the
#: sigmoids and flood the hard negatives.
FASTTEXT_PARAMS = {"loss": "ova", "lr": 0.1, "epoch": 10, "wordNgrams": 2, "minn": 1, "maxn": 3, "dim": 64,
                   "bucket": 200_000, "thread": 1, "seed": 0, "verbose": 0}
FASTTEXT_QUICK = {**FASTTEXT_PARAMS, "epoch": 3, "dim": 16, "bucket": 20_000}

FULL = {"train_every": 1, "eval_every": 1, "batch": 10_000, "repeats": 3, "latency_n": 2_000,
        "latency_n_slow": 300, "warm_up": 10_000, "probe_repeats": 3, "probe_score": 10_000}
QUICK = {"train_every": 30, "eval_every": 10, "batch": 500, "repeats": 1, "latency_n": 100,
         "latency_n_slow": 30, "warm_up": 300, "probe_repeats": 1, "probe_score": 300}


def _categories() -> tuple[str, ...]:
    from searchsafe import CATEGORIES

    return tuple(CATEGORIES)


# -- peers ------------------------------------------------------------------
def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


class KeywordFilter:
    """Flags a category when the query contains one of its terms (after NFKC, case-fold, no spaces)."""

    kind = "keyword"

    def __init__(self, terms: dict[str, int], categories: Sequence[str]):
        self.terms = terms
        self.categories = tuple(categories)
        self._lengths = sorted({len(t) for t in terms})
        k = len(self.categories)
        self._rows = {0: np.zeros(k, np.float32)}

    @classmethod
    def from_lexicons(cls, lexicon_dir: Path, categories: Sequence[str]) -> "KeywordFilter":
        index = {c: j for j, c in enumerate(categories)}
        terms: dict[str, int] = {}
        for path in sorted(lexicon_dir.glob("*/*.tsv")):
            if path.stem not in index:
                continue  # benign.tsv and anything else that is not a harm category
            with open(path, encoding="utf-8") as f:
                header = None
                for line in f:
                    line = line.rstrip("\n")
                    if not line.strip() or line.startswith("#"):
                        continue
                    fields = line.split("\t")
                    if header is None:
                        header = fields
                        continue
                    row = dict(zip(header, fields))
                    if row.get("kind") not in ("term", "phrase"):
                        continue
                    key = _key(row.get("text", ""))
                    if not key:
                        continue
                    cats = [c.strip() for c in (row.get("labels") or "").split(",") if c.strip()] or [path.stem]
                    mask = 0
                    for c in cats:
                        if c in index:
                            mask |= 1 << index[c]
                    terms[key] = terms.get(key, 0) | mask
        if not terms:
            raise RuntimeError(f"no term or phrase rows under {lexicon_dir}")
        return cls(terms, categories)

    def _mask(self, query: str | None) -> int:
        s = _key(query or "")
        n = len(s)
        terms = self.terms
        hit = 0
        for length in self._lengths:
            if length > n:
                break
            for i in range(n - length + 1):
                m = terms.get(s[i : i + length])
                if m:
                    hit |= m
        return hit

    def _row(self, mask: int) -> np.ndarray:
        row = self._rows.get(mask)
        if row is None:
            row = np.array([(mask >> j) & 1 for j in range(len(self.categories))], dtype=np.float32)
            self._rows[mask] = row
        return row

    def score_one(self, query: str) -> np.ndarray:
        return self._row(self._mask(query))

    def score_batch(self, queries: Sequence[str]) -> np.ndarray:
        if not queries:
            return np.zeros((0, len(self.categories)), np.float32)
        return np.vstack([self._row(self._mask(q)) for q in queries])

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "keyword.json").write_text(json.dumps({"categories": self.categories, "terms": self.terms},
                                                      ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "KeywordFilter":
        data = json.loads((Path(path) / "keyword.json").read_text(encoding="utf-8"))
        return cls(data["terms"], data["categories"])


class TfidfSVC:
    """profanity-check's recipe, one calibrated LinearSVC per category."""

    kind = "tfidf_svc"

    def __init__(self, pipeline=None):
        self.pipeline = pipeline

    def fit(self, texts: Sequence[str], Y: np.ndarray) -> "TfidfSVC":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import LinearSVC

        self.pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)),
            OneVsRestClassifier(CalibratedClassifierCV(LinearSVC(), cv=3)),
        )
        self.pipeline.fit(list(texts), Y.astype(int))
        return self

    def score_batch(self, queries: Sequence[str]) -> np.ndarray:
        return self.pipeline.predict_proba(list(queries)).astype(np.float32)

    def score_one(self, query: str) -> np.ndarray:
        return self.pipeline.predict_proba([query])[0]

    def save(self, path: Path) -> None:
        import joblib

        path.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, path / "model.joblib")  # a benchmark artefact, never shipped

    @classmethod
    def load(cls, path: Path) -> "TfidfSVC":
        import joblib

        return cls(joblib.load(Path(path) / "model.joblib"))


def _ft_text(text: str) -> str:
    return " ".join((text or "").lower().split())


class FastTextPeer:
    """fastText supervised, one sigmoid per label (``loss="ova"``), benign rows as ``__label__none``.

    Queries are scored one ``predict`` call at a time: fasttext-wheel 0.9.2's
    batch ``multilinePredict`` returns wrong probabilities (every label
    1.00001) under numpy 2, so its batch path is unusable here.
    """

    kind = "fasttext"

    def __init__(self, model, categories: Sequence[str]):
        self.model = model
        self.categories = tuple(categories)
        self._index = {"__label__" + c: j for j, c in enumerate(self.categories)}

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[Sequence[str]], categories: Sequence[str],
            params: dict[str, Any]) -> "FastTextPeer":
        import fasttext

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            with open(path, "w", encoding="utf-8") as f:
                for t, labs in zip(texts, labels):
                    text = _ft_text(t)
                    if text:
                        f.write(" ".join("__label__" + c for c in (labs or ["none"])) + " " + text + "\n")
            model = fasttext.train_supervised(input=str(path), **params)
        return cls(model, categories)

    def score_one(self, query: str) -> np.ndarray:
        row = np.zeros(len(self.categories), np.float32)
        index = self._index
        for p, label in self.model.f.predict(_ft_text(query), -1, 0.0, "strict"):
            j = index.get(label)
            if j is not None:
                row[j] = min(p, 1.0)
        return row

    def score_batch(self, queries: Sequence[str]) -> np.ndarray:
        if not queries:
            return np.zeros((0, len(self.categories)), np.float32)
        return np.vstack([self.score_one(q) for q in queries])

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(path / "model.bin"))
        (path / "categories.json").write_text(json.dumps(list(self.categories)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "FastTextPeer":
        import fasttext

        cats = json.loads((Path(path) / "categories.json").read_text(encoding="utf-8"))
        return cls(fasttext.load_model(str(Path(path) / "model.bin")), cats)


class SearchsafeSystem:
    kind = "searchsafe"

    def __init__(self, clf):
        self.clf = clf
        self.score_batch = clf.score_batch
        self.score_one = clf.score  # the public single-query API returns a dict


def import_backend(kind: str) -> None:
    """Import what *kind* needs, so a probe can time imports apart from loading."""
    if kind == "tfidf_svc":
        import joblib  # noqa: F401
        import sklearn.calibration  # noqa: F401
        import sklearn.feature_extraction.text  # noqa: F401
        import sklearn.svm  # noqa: F401
    elif kind == "fasttext":
        import fasttext  # noqa: F401


def load_system(kind: str, path: str | None):
    if kind == "keyword":
        return KeywordFilter.load(Path(path))
    if kind == "tfidf_svc":
        return TfidfSVC.load(Path(path))
    if kind == "fasttext":
        return FastTextPeer.load(Path(path))
    raise ValueError(f"unknown peer {kind!r}")


# -- evaluation -------------------------------------------------------------
def _thresholds(Y: np.ndarray, P: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    from searchsafe._categories import SEVERITY
    from searchsafe._train import choose_threshold

    return np.array([
        choose_threshold(Y[:, j], P[:, j], target_precision=0.9 if SEVERITY.get(c) in ("critical", "high") else None)
        for j, c in enumerate(categories)
    ], dtype=np.float32)


def _quality(Y, P, thresholds, categories, data) -> dict[str, Any]:
    from searchsafe._metrics import evaluate_predictions

    ev = evaluate_predictions(Y, P, thresholds, categories, langs=data.langs, tags=data.tags)
    return {
        "macro_f1": ev["overall"]["macro_f1"],
        "by_lang_macro_f1": {lang: b["macro_f1"] for lang, b in ev["by_lang"].items()},
        "categories": {c: {k: ev["overall"]["categories"][c][k] for k in ("precision", "recall", "f1")}
                       for c in categories},
        "hard_negative_fp_rate": ev["hard_negatives"]["false_positive_rate"],
        "hard_negatives_n": ev["hard_negatives"]["n"],
        "evasion_recall": ev["evasion"]["recall"],
        "evasion_n": ev["evasion"]["n"],
        "evasion_by_kind": ev["evasion"]["by_kind"],
        "benign_flag_rate": ev["overall"]["benign_flag_rate"],
        "n_test": ev["overall"]["n"],
    }


def _subsample(data, every: int):
    if every <= 1:
        return data
    from searchsafe._data import LabeledData

    keep = range(0, len(data), every)
    return LabeledData(*[[getattr(data, name)[i] for i in keep]
                         for name in ("texts", "labels", "langs", "groups", "sources", "tags")])


def run(quick: bool = False) -> dict[str, Any]:
    import searchsafe
    from searchsafe._classifier import default_model_path
    from searchsafe._data import read_labeled
    from searchsafe._train import label_matrix

    cfg = QUICK if quick else FULL
    cats = _categories()
    train = _subsample(read_labeled(C.DATA / "train.jsonl", cats), cfg["train_every"])
    dev = _subsample(read_labeled(C.DATA / "dev.jsonl", cats), cfg["eval_every"])
    test = _subsample(read_labeled(C.DATA / "test.jsonl", cats), cfg["eval_every"])
    Ydev, Ytest = (label_matrix(d.labels, cats) for d in (dev, test))
    res: dict[str, Any] = {"quick": quick, "config": cfg, "n_train": len(train), "n_dev": len(dev),
                           "n_test": len(test), "labels": LABELS, "systems": {}}
    res["model"] = C.model_info()

    systems: dict[str, Any] = {}
    train_s: dict[str, float | None] = {}
    paths: dict[str, Path] = {"searchsafe": default_model_path()}
    work = tempfile.TemporaryDirectory()
    C.log("peers: loading searchsafe, building the keyword list, training tfidf_svc and fastText")
    systems["searchsafe"] = SearchsafeSystem(searchsafe.load())
    training = json.loads((default_model_path() / "manifest.json").read_text(encoding="utf-8")).get("training", {})
    train_s["searchsafe"] = training.get("train_seconds")
    refit = "refit on train + dev" in str(training.get("threshold_source", ""))
    res["recipe"] = {
        "shipped_model": f"{training.get('command', '?')}: {training.get('n_train', 0):,} rows, thresholds from "
                         f"{training.get('threshold_source', '?')}",
        "peers": "fit on train, thresholds on dev" + (", refit on train + dev keeping them" if refit else ""),
        "refit_on_train_and_dev": refit,
    }
    t0 = time.perf_counter()
    systems["keyword"] = KeywordFilter.from_lexicons(C.DATA / "lexicons", cats)
    train_s["keyword"] = time.perf_counter() - t0
    ft_params = FASTTEXT_QUICK if quick else FASTTEXT_PARAMS
    res["fasttext_params"] = ft_params
    res["keyword_terms"] = len(systems["keyword"].terms)
    fitters = {
        "tfidf_svc": lambda d: TfidfSVC().fit(d.texts, label_matrix(d.labels, cats)),
        "fasttext": lambda d: FastTextPeer.fit(d.texts, d.labels, cats, ft_params),
    }
    peer_thresholds: dict[str, np.ndarray] = {}
    both = None
    if refit:
        from searchsafe._data import LabeledData

        both = LabeledData([], [], [], [], [], [])
        both.extend(train)
        both.extend(dev)
    for name, fit in fitters.items():
        t0 = time.perf_counter()
        system = fit(train)
        peer_thresholds[name] = _thresholds(Ydev, system.score_batch(dev.texts), cats)
        if both is not None:
            system = fit(both)
        systems[name] = system
        train_s[name] = time.perf_counter() - t0

    # -- quality ---------------------------------------------------------
    for name, system in systems.items():
        if name == "searchsafe":
            th = np.array([system.clf.thresholds[c] for c in cats], dtype=np.float32)
            source = "shipped with the model (chosen on dev)"
        elif name == "keyword":
            th = np.full(len(cats), 0.5, np.float32)
            source = "none needed (0/1 output)"
        else:
            th = peer_thresholds[name]
            source = "choose_threshold on dev, by the model fitted on train"
        P = system.score_batch(test.texts)
        res["systems"][name] = {
            "label": LABELS[name],
            "train_s": None if train_s[name] is None else round(train_s[name], 2),
            "thresholds": {c: round(float(t), 4) for c, t in zip(cats, th)},
            "threshold_source": source,
            "quality": _quality(Ytest, P, th, cats, test),
        }
        C.log(f"peers: {name}: macro-F1 {res['systems'][name]['quality']['macro_f1']}")

    # -- speed: same fresh queries for every system, interleaved ----------------
    pool = C.QueryPool()
    systems["searchsafe"].score_batch(pool.take("mixed", cfg["warm_up"]))
    for system in systems.values():
        system.score_batch(pool.take("mixed", 100))
    batch_runs: dict[str, list[float]] = {n: [] for n in systems}
    for r in range(cfg["repeats"]):
        qs = pool.take("mixed", cfg["batch"])
        order = list(systems)[r % len(systems):] + list(systems)[: r % len(systems)]
        for name in order:
            batch_runs[name].append(len(qs) / C.time_call(lambda s=systems[name]: s.score_batch(qs)))
    lat_qs = pool.take("mixed", cfg["latency_n"])
    for name, system in systems.items():
        for q in pool.take("mixed", 30):
            system.score_one(q)
        n = cfg["latency_n_slow"] if name == "tfidf_svc" else cfg["latency_n"]
        lat = C.latency_summary(C.per_call_latencies(system.score_one, lat_qs[:n]))
        s = res["systems"][name]
        s["batch_qps"] = round(C.median(batch_runs[name]), 1)
        s["batch_qps_runs"] = [round(v, 1) for v in batch_runs[name]]
        s["latency"] = lat
        C.log(f"peers: {name}: {s['batch_qps']:,.0f} queries/s in batches of {cfg['batch']:,}, "
              f"single p50 {lat['p50_us']} µs")

    # -- load time and memory in fresh processes ----------------------------
    C.log("peers: load time and RSS in fresh processes")
    with work:
        tmp = work.name
        qfile = Path(tmp) / "queries.json"
        qfile.write_text(json.dumps(pool.take("mixed", cfg["probe_score"]), ensure_ascii=False), encoding="utf-8")
        for name, system in systems.items():
            path = paths.get(name)
            if path is None:
                path = Path(tmp) / name
                system.save(path)
            probe = C.run_probe(name, str(path), qfile, cfg["probe_score"], repeats=cfg["probe_repeats"])
            probe["disk_mb"] = round(sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file()) / 1e6, 2)
            res["systems"][name]["memory"] = probe

    # -- ratios ----------------------------------------------------------
    ss = res["systems"]["searchsafe"]
    res["ratios"] = {}
    for name in PEERS:
        p = res["systems"][name]
        res["ratios"][name] = {
            "batch_throughput": round(ss["batch_qps"] / p["batch_qps"], 3),
            "single_p50": round(p["latency"]["p50_us"] / ss["latency"]["p50_us"], 3),
            "single_p99": round(p["latency"]["p99_us"] / ss["latency"]["p99_us"], 3),
            "macro_f1_points": round(100 * (ss["quality"]["macro_f1"] - p["quality"]["macro_f1"]), 2),
        }
    return res


def tables(res: dict[str, Any]) -> str:
    cats = list(next(iter(res["systems"].values()))["quality"]["categories"])
    recipe = res.get("recipe", {})
    out = [f"Quality on data/test.jsonl ({res['n_test']:,} queries). searchsafe: {recipe.get('shipped_model')}. "
           f"Peers: {recipe.get('peers')} ({res['n_train']:,} train and {res['n_dev']:,} dev rows).\n"]
    if not res["model"]["trained_on_current_data"]:
        out.append(f"**The shipped model was trained on other versions of {', '.join(res['model']['data_files_differ'])} "
                   "than data/ holds now**, so searchsafe's row is not a same-data comparison: run "
                   "`python models/build_default.py`, then this benchmark.\n")
    rows = []
    for name, s in res["systems"].items():
        q = s["quality"]
        rows.append([f"{name}", C.fmt(q["macro_f1"], 3), C.fmt(q["by_lang_macro_f1"].get("ja"), 3),
                     C.fmt(q["by_lang_macro_f1"].get("ko"), 3), C.fmt(q["hard_negative_fp_rate"], 3),
                     C.fmt(q["evasion_recall"], 3), C.fmt(q["benign_flag_rate"], 3)])
    out.append(C.markdown_table(["system", "macro-F1", "ja", "ko", "hard-negative FP rate ↓",
                                 "evasion recall", "benign flag rate ↓"], rows))
    out.append("\nPer-category F1:\n")
    out.append(C.markdown_table(["category"] + list(res["systems"]),
                                [[c] + [C.fmt(s["quality"]["categories"][c]["f1"], 3) for s in res["systems"].values()]
                                 for c in cats]))
    b = res["config"]["batch"]
    out.append(f"\nSpeed and footprint (same fresh queries for all; batch of {b:,}; median of "
               f"{res['config']['repeats']} interleaved runs; load and RSS in a fresh process):\n")
    rows = []
    for name, s in res["systems"].items():
        m = s["memory"]
        rows.append([name, C.fmt_int(s["batch_qps"]), s["latency"]["p50_us"], s["latency"]["p99_us"],
                     f"{m['ready_s']:.2f}", f"{m['rss_after_load_mb']:.0f}", f"{m.get('rss_after_scoring_mb', 0):.0f}",
                     m["disk_mb"], "–" if s["train_s"] is None else f"{s['train_s']:.1f}"])
    out.append(C.markdown_table(["system", "queries/s (batch)", "single p50 µs", "single p99 µs", "load s",
                                 "RSS after load MB", f"RSS after {res['config']['probe_score']:,} queries MB",
                                 "disk MB", "train s"], rows))
    out.append("\nsearchsafe's training time is the one its manifest records; the peers were trained in this "
               "run (both fits when refit). RSS includes memory-mapped dictionary pages (searchsafe's MeCab "
               "dictionaries), which processes share.")
    out.append("\nsearchsafe ÷ peer, measured in this run (> 1: searchsafe is faster; macro-F1 difference in "
               "points, + means searchsafe is better):\n")
    out.append(C.markdown_table(
        ["peer", "batch throughput", "single p50", "single p99", "macro-F1 (points)"],
        [[n, f"{r['batch_throughput']:.2f}×", f"{r['single_p50']:.2f}×", f"{r['single_p99']:.2f}×",
          f"{r['macro_f1_points']:+.1f}"] for n, r in res["ratios"].items()],
    ))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return C.part_main(argv, "searchsafe beside its peers", run, tables)


if __name__ == "__main__":
    sys.exit(main())
