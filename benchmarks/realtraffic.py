"""Real traffic: the default model on text nobody on this project wrote, beside the keyword list.

    python benchmarks/realtraffic.py            # full (one to two minutes)
    python benchmarks/realtraffic.py --quick    # a small fixed sample of every part, for CI

Five measurements (issue 8), each for the shipped model and for the keyword-list
filter of ``benchmarks/peers.py`` in the same run:

a. **frequent words**: the 20,000 most frequent words of each language in
   wordfreq, one word = one query, held-out entries only. A flag on a word
   without a harmful reading is a false positive. Which words have a harmful
   reading comes from the reviewed lists ``data/wordlists/reviewed_{ja,ko}.tsv``
   and, for entries they do not judge, from our lexicons: an exact ``alone=1``
   term (:func:`harmful_readings`). Any other flagged word counts as a false
   positive, and is also counted apart as *unreviewed* when no list judged it.
b. **two-noun queries**: 20,000 seeded random pairs ``"noun noun"`` of distinct
   frequent nouns (``common_nouns``), both held out, neither with a harmful
   reading nor a lexicon term of any kind (everyday nouns).
c. **proper nouns**: every proper noun of the ipadic and mecab-ko-dic
   dictionaries, held-out only, harmful readings (as in a) left out.
d. **public harmful-text sets, zero-shot**: any-harm precision, recall and F1
   on RTP-LX ja and ko, ja-inspection-toxic, Unsmile, K-MHaS and APEACH (how a
   row counts as harmful: :data:`PUBLIC_SETS`), plus Korean harassment recall
   on the rows labeled insult/profanity (Unsmile 악플/욕설, K-MHaS Profanity).
   Rows whose text is also in ``data/train.jsonl`` or ``data/dev.jsonl`` (the shipped model learns both)
   are left out.
e. **term in context**: lexicon terms marked ``alone=1`` (harmful typed
   alone) that a system flags alone, each put
   between two neutral held-out frequent nouns at a seeded position; the share
   still flagged for a category it had alone.
f. **Latin words with an intent modifier**: the Latin-letter words among the
   20,000 most frequent (``tv``, ``iphone``, ``netflix``), held out, without a
   harmful reading and not a lexicon term, each composed with
   ``LATIN_MODIFIERS_PER_WORD`` seeded modifiers drawn from the harmful
   lexicons' modifiers reviewed as everyday words (``modifiers_review.tsv``:
   動画, 無料, 다시보기, 후기), the very words that stand beside harmful terms in
   training. Two-noun queries take nouns only, and MeCab does not tag ``tv`` a
   noun: a model that had learned ``tv`` as sexual evidence passed a-e.

"Held out" is :func:`searchsafe._wordsources.is_heldout`: a salted sha256 of
the NFKC-casefolded text, 30 % of entries, which training never uses.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as C  # noqa: E402

LANGS = ("ja", "ko")
SYSTEMS = ("searchsafe", "keyword")
SEED = 8
#: How many of the worst false positives per language the results list.
WORST = 30
#: Draws of the paired bootstrap behind each public set's F1 difference.
BOOTSTRAP = 2_000

FULL = {"words": 20_000, "pairs": 20_000, "noun_pool": 20_000, "proper_sample": None, "public_cap": None,
        "terms_sample": None, "latin_words": None, "adjectives": 400, "verbs": 400}
#: A small fixed sample: the same entries on every run, so CI checks the same thing.
QUICK = {"words": 2_000, "pairs": 300, "noun_pool": 3_000, "proper_sample": 400, "public_cap": 150,
         "terms_sample": 120, "latin_words": 40, "adjectives": 40, "verbs": 40}
#: Modifiers composed with each held-out Latin word (part f).
LATIN_MODIFIERS_PER_WORD = 4
#: Animals each held-out adjective is said of, each with its own possessor (part g).
POSSESSED_PER_ADJECTIVE = 4
#: Animals each held-out everyday verb is asked about (part h).
ACTIONS_PER_VERB = 4

#: Public sets, where they are in ``../shared/data``, and what counts as harmful in each.
PUBLIC_SETS: dict[str, dict[str, str]] = {
    "rtp_lx_ja": {"lang": "ja", "file": "rtp-lx-ja-ko/RTP-LX/RTP_LX_JA.json",
                  "harmful": "mean of the three annotators' Toxicity (1-5) >= 3, i.e. at least moderately toxic"},
    "ja_inspection_toxic": {"lang": "ja", "file": "ja-inspection-toxic/data/subset.csv",
                            "harmful": "Toxic + Very Toxic votes outnumber Not Toxic votes (Hard to Say ignored)"},
    "rtp_lx_ko": {"lang": "ko", "file": "rtp-lx-ja-ko/RTP-LX/RTP_LX_KO.json",
                  "harmful": "mean of the three annotators' Toxicity (1-5) >= 3, i.e. at least moderately toxic"},
    "unsmile": {"lang": "ko", "file": "ko-unsmile/unsmile_valid_v1.0.tsv",
                "harmful": "clean = 0 (any of the eight hate labels or 악플/욕설); the valid split",
                "harassment": "악플/욕설 = 1"},
    "kmhas": {"lang": "ko", "file": "ko-kmhas/data/kmhas_test.txt",
              "harmful": "any label other than 8 (Not Hate Speech); the test split",
              "harassment": "label 3 (Profanity)"},
    "apeach": {"lang": "ko", "file": "ko-apeach/APEACH/test.csv", "harmful": "class = Spoiled"},
}


# -- inputs -------------------------------------------------------------------------
def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def read_reviewed(path: Path) -> dict[str, bool]:
    """``{key: harmful}`` from a reviewed word list (TSV with ``text`` and ``harmful`` columns; extra columns ok).

    A filled-in ``searchsafe sweep --out flagged.tsv`` file is such a list too.
    """
    out: dict[str, bool] = {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        header = None
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if header is None:
                header = fields
                if "text" not in header or "harmful" not in header:
                    raise ValueError(f"{path}:{lineno}: the header needs 'text' and 'harmful' columns; got {fields}")
                continue
            row = dict(zip(header, fields))
            value = (row.get("harmful") or "").strip()
            if value == "":
                continue  # not judged yet
            if value not in ("0", "1"):
                raise ValueError(f"{path}:{lineno}: harmful must be 0 or 1; got {value!r}")
            key = _key(row.get("text") or "")
            if key:
                # A dual-use word (自殺, 섹스) is not harmful alone, but it has a
                # harmful reading: flagging it is a judgement call, not a flag
                # "with no harmful reading", so it is not counted against us.
                out[key] = value == "1" or (row.get("note") or "").startswith("ambiguous:")
    return out


def reviewed_lists(wordlists: Path = C.DATA / "wordlists") -> dict[str, dict[str, Any]]:
    out = {}
    for lang in LANGS:
        path = Path(wordlists) / f"reviewed_{lang}.tsv"
        out[lang] = {"path": str(path.relative_to(C.REPO)) if path.is_relative_to(C.REPO) else str(path),
                     "present": path.is_file(), "judged": read_reviewed(path) if path.is_file() else {}}
    return out


def lexicon_terms(lang: str, categories: Sequence[str], data_dir: Path = C.DATA,
                  *, alone_only: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """``(term, categories)`` of the ``term`` rows of our lexicons and of ``public_terms.tsv``, distinct, sorted.

    With *alone_only*, only terms marked ``alone=1``: those whose bare mention already shows harmful intent.
    """
    index = set(categories)
    terms: dict[str, set[str]] = {}
    for path in sorted((data_dir / "lexicons" / lang).glob("*.tsv")):
        if path.stem not in index and path.stem != "public_terms":
            continue
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
                if path.stem != "public_terms" and row.get("kind") != "term":
                    continue
                if alone_only and (row.get("alone") or "").strip() != "1":
                    continue
                text = " ".join((row.get("text") or "").split())
                cats = {c.strip() for c in (row.get("labels") or "").split(",") if c.strip() in index}
                if not cats and path.stem in index:
                    cats = {path.stem}
                if text and cats:
                    terms.setdefault(text, set()).update(cats)
    return sorted((t, tuple(sorted(c))) for t, c in terms.items())


def harmful_readings(judged: dict[str, bool], alone_terms: Iterable[str]) -> set[str]:
    """Keys of the entries with a harmful reading: a reviewed list's verdict where it has one, else an
    ``alone=1`` lexicon term (a term whose bare mention shows harmful intent)."""
    out = {k for k, v in judged.items() if v}
    out.update(k for k in map(_key, alone_terms) if k not in judged)
    return out


def _even(items: list, n: int | None) -> list:
    """*n* items spread evenly over *items* (all of them when n is None): a fixed, order-keeping sample."""
    if n is None or len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


# -- public sets ----------------------------------------------------------------------
def _rtp(path: Path) -> list[tuple[str, bool, bool]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.append((r["Prompt"], r["Annotations"]["Toxicity"] >= 3, False))
    return rows


def _inspection(path: Path) -> list[tuple[str, bool, bool]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [(r["text"], int(r["Toxic"]) + int(r["Very Toxic"]) > int(r["Not Toxic"]), False)
                for r in csv.DictReader(f)]


def _unsmile(path: Path) -> list[tuple[str, bool, bool]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [(r["문장"], r["clean"] == "0", r["악플/욕설"] == "1")
                for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def _kmhas(path: Path) -> list[tuple[str, bool, bool]]:
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            labels = {int(x) for x in r["label"].split(",") if x.strip()}
            rows.append((r["document"], bool(labels - {8}), 3 in labels))
    return rows


def _apeach(path: Path) -> list[tuple[str, bool, bool]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [(r["text"], r["class"] == "Spoiled", False) for r in csv.DictReader(f)]


_READERS: dict[str, Callable[[Path], list[tuple[str, bool, bool]]]] = {
    "rtp_lx_ja": _rtp, "rtp_lx_ko": _rtp, "ja_inspection_toxic": _inspection, "unsmile": _unsmile,
    "kmhas": _kmhas, "apeach": _apeach,
}


def _prf(gold: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    tp = int((gold & pred).sum())
    fp = int((~gold & pred).sum())
    fn = int((gold & ~pred).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "flagged": int(pred.sum()), "tp": tp, "fp": fp, "fn": fn}


def f1_difference_interval(gold: np.ndarray, a: np.ndarray, b: np.ndarray, *, resamples: int = BOOTSTRAP,
                           seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """A paired bootstrap interval of F1(a) - F1(b) on the same rows.

    Rows are drawn with replacement and both systems are scored on each draw,
    so the interval says whether a gap between them is larger than what the
    set's size alone would make (ja-inspection-toxic has 48 harmful rows:
    one row more or less moves F1 by about 0.02).

    Examples
    --------
    >>> g = np.array([True, True, False, False] * 50)
    >>> lo, hi = f1_difference_interval(g, g, ~g, resamples=200)
    >>> lo > 0.9 and hi <= 1.0
    True
    """
    n = len(gold)
    if n == 0:
        return 0.0, 0.0
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    g = gold[idx]

    def f1(pred: np.ndarray) -> np.ndarray:
        p = pred[idx]
        tp = (g & p).sum(1)
        denom = 2 * tp + (~g & p).sum(1) + (g & ~p).sum(1)
        return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)

    d = f1(a) - f1(b)
    tail = (1 - level) / 2
    lo, hi = np.quantile(d, [tail, 1 - tail])
    return round(float(lo), 4), round(float(hi), 4)


# -- systems ----------------------------------------------------------------------------
class Systems:
    """The model and the keyword filter, scored side by side."""

    def __init__(self, clf, keyword):
        self.clf = clf
        self.keyword = keyword
        self.categories = tuple(clf.categories)
        self._th = np.array([clf.thresholds[c] for c in clf.categories], np.float32)
        self.seconds = {s: 0.0 for s in SYSTEMS}
        self.scored = {s: 0 for s in SYSTEMS}

    def flags(self, texts: Sequence[str], only: str | None = None) -> dict[str, np.ndarray]:
        """Bool (n, categories) flags of each system (or of system *only*)."""
        out = {}
        for s in SYSTEMS if only is None else (only,):
            t0 = time.perf_counter()
            if not texts:
                out[s] = np.zeros((0, len(self.categories)), bool)
            elif s == "searchsafe":
                out[s] = self.clf.score_batch(list(texts)) >= self._th
            else:
                out[s] = self.keyword.score_batch(list(texts)) > 0
            self.seconds[s] += time.perf_counter() - t0
            self.scored[s] += len(texts)
        return out


def _hit_record(source: str, hit) -> dict[str, Any]:
    return {"source": source, "text": hit.text, "flagged": list(hit.flagged), "score": round(hit.top_score, 4),
            "features": [[f, v] for f, v in hit.features[hit.top_category]]}


def _share(k: int, n: int) -> float:
    return round(k / n, 6) if n else 0.0


def _benign_sweep(systems: Systems, source: str, lang: str, texts: list[str], harmful: set[str],
                  judged: dict[str, bool], worst: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of entries without a harmful reading that each system flags; the model's hits join *worst*."""
    from searchsafe._sweep import sweep

    gold = np.array([_key(t) in harmful for t in texts], dtype=bool)
    reviewed = np.array([_key(t) in judged for t in texts], dtype=bool)
    # The model's flags come from the sweep itself (score_batch, then explain for the
    # flagged entries), so every entry is scored once; tests hold sweep == predict_batch.
    t0 = time.perf_counter()
    r = sweep(systems.clf, texts, top=5)
    systems.seconds["searchsafe"] += time.perf_counter() - t0
    systems.scored["searchsafe"] += len(texts)
    F = {"searchsafe": np.zeros((len(texts), len(systems.categories)), dtype=bool)}
    for h in r.hits:
        F["searchsafe"][h.index, [systems.categories.index(c) for c in h.flagged]] = True
    F["keyword"] = systems.flags(texts, only="keyword")["keyword"]
    n_benign = int((~gold).sum())
    res: dict[str, Any] = {"entries": len(texts), "reviewed_harmful": int(gold.sum()),
                           "reviewed": int(reviewed.sum()), "benign": n_benign, "systems": {}}
    for s in SYSTEMS:
        flagged = F[s].any(axis=1)
        fp = flagged & ~gold
        res["systems"][s] = {
            "flagged": int(flagged.sum()),
            "false_positives": int(fp.sum()),
            "false_positive_share": _share(int(fp.sum()), n_benign),
            "unreviewed_false_positives": int((fp & ~reviewed).sum()),
            "harmful_flagged": int((flagged & gold).sum()),
            "per_category": {c: int((F[s][:, j] & ~gold).sum()) for j, c in enumerate(systems.categories)
                             if (F[s][:, j] & ~gold).any()},
        }
    worst.extend(_hit_record(source, h) for h in r.hits if _key(h.text) not in harmful)
    return res


def worst_list(hits: list[dict[str, Any]], n: int = WORST) -> list[dict[str, Any]]:
    """The *n* highest-scoring false positives, one per cause: an entry is skipped when one of its
    words already stands in the list (otherwise one bad noun fills it through all its pairs)."""
    seen: set[str] = set()
    out = []
    for r in sorted(hits, key=lambda r: (-r["score"], r["source"], r["text"])):
        words = set(r["text"].split()) | {r["text"]}
        if words & seen:
            continue
        seen |= words
        out.append(r)
        if len(out) == n:
            break
    return out


def _pairs(nouns: list[str], n: int, rng: random.Random) -> list[str]:
    if len(nouns) < 2:
        return []
    limit = len(nouns) * (len(nouns) - 1)
    n = min(n, limit)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        a, b = rng.sample(nouns, 2)
        q = f"{a} {b}"
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def everyday_intent_modifiers(lang: str, data_dir: Path = C.DATA) -> list[str]:
    """The modifiers that ``modifiers_review.tsv`` judged everyday words, minus those it marks unsafe after
    a word for a minor (下着, 조건): what part f composes with Latin words. The review is read as the
    dataset build reads it (:func:`searchsafe._modifiers.read_modifier_review`)."""
    from searchsafe._modifiers import read_modifier_review

    everyday, unsafe = read_modifier_review(data_dir / "lexicons" / lang / "modifiers_review.tsv")
    unsafe_set = set(unsafe)
    return [m for m in everyday if m not in unsafe_set]


def is_latin_word(word: str) -> bool:
    """A word of Latin letters and digits that starts with a letter and has at least two characters.

    >>> [w for w in ["tv", "iPhone", "ｔｖ", "5ch", "a", "東京"] if is_latin_word(w)]
    ['tv', 'iPhone', 'ｔｖ']
    """
    k = _key(word)
    return len(k) >= 2 and k.isascii() and k[0].isalpha() and k.isalnum()


def _latin_queries(words: list[str], modifiers: list[str], per_word: int, rng: random.Random) -> list[str]:
    """Each word with *per_word* distinct modifiers, seeded, the word first."""
    if not modifiers:
        return []
    k = min(per_word, len(modifiers))
    return [f"{w} {m}" for w in words for m in rng.sample(modifiers, k)]


def _background_module(data_dir: Path) -> Any:
    """data/background.py (not a package), for the possessors the background composes with."""
    import importlib.util

    path = data_dir / "background.py"
    if not path.is_file():
        path = C.DATA / "background.py"
    spec = importlib.util.spec_from_file_location("_searchsafe_background", path)
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up by name while being built.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        del sys.modules[spec.name]
    return module


def _subjects_of_kind(path: Path, kind: str) -> list[str]:
    """The words of one kind in a ``subjects.tsv`` (header ``text	kind	note``); none when the file is missing."""
    if not path.is_file():
        return []
    rows = [ln.split("\t") for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]
    return [r[0].strip() for r in rows[1:] if len(r) > 1 and r[1].strip() == kind]


def _possessed_queries(lang: str, adjectives: list[str], animals: list[str], possessors: Sequence[str],
                       per_adjective: int, rng: random.Random) -> list[str]:
    """Each adjective said of *per_adjective* animals, each with a possessor: "隣の犬 うるさい", "옆집 강아지 시끄러운"."""
    if not animals or not possessors:
        return []
    sep = "" if lang == "ja" else " "
    return [f"{rng.choice(possessors)}{sep}{animal} {adj}" for adj in adjectives
            for animal in rng.sample(animals, min(per_adjective, len(animals)))]


def _action_queries(lang: str, verbs: list[str], animals: list[str], per_verb: int,
                    rng: random.Random) -> list[str]:
    """Each verb asked as a how-to about *per_verb* animals: "猫 慣れる 方法", "고양이 씻는 법" (Korean stems
    are written in their adnominal form)."""
    from searchsafe._wordsources import korean_adnominal

    if not animals:
        return []
    out = []
    for verb in verbs:
        form, how = (verb, "方法") if lang == "ja" else (korean_adnominal(verb), "법")
        out += [f"{animal} {form} {how}" for animal in rng.sample(animals, min(per_verb, len(animals)))]
    return out


def _in_context(systems: Systems, lang: str, terms: list[tuple[str, tuple[str, ...]]], neutral: list[str],
                cap: int | None) -> dict[str, Any]:
    """Terms each system flags alone, and the share still flagged between two neutral nouns."""
    texts = [t for t, _ in terms]
    alone = systems.flags(texts)
    res: dict[str, Any] = {"terms": len(terms), "neutral_nouns": len(neutral), "systems": {}}
    for s in SYSTEMS:
        idx = [i for i in range(len(texts)) if alone[s][i].any()]
        idx = _even(idx, cap)
        queries, examples = [], []
        for i in idx:
            # Seeded by the term itself, so a term meets the same neighbours whatever the term list holds.
            rng = random.Random(int(hashlib.sha256(f"{SEED}:{lang}:{texts[i]}".encode()).hexdigest()[:12], 16))
            words = rng.sample(neutral, 2)
            words.insert(rng.randrange(3), texts[i])
            queries.append(" ".join(words))
        ctx = systems.flags(queries)[s] if queries else np.zeros((0, len(systems.categories)), bool)
        kept_same = np.array([bool((ctx[k] & alone[s][i]).any()) for k, i in enumerate(idx)], dtype=bool)
        kept_any = ctx.any(axis=1) if queries else np.zeros(0, bool)
        for k, i in enumerate(idx):
            if not kept_same[k] and len(examples) < 15:
                examples.append(queries[k])
        res["systems"][s] = {
            "flagged_alone": int(sum(alone[s][i].any() for i in range(len(texts)))),
            "measured": len(idx),
            "kept_same_category": int(kept_same.sum()),
            "kept_share": _share(int(kept_same.sum()), len(idx)),
            "kept_any_category_share": _share(int(kept_any.sum()), len(idx)),
            "lost_examples": examples if s == "searchsafe" else [],
        }
    return res


def _public(systems: Systems, root: Path, cap: int | None) -> dict[str, Any]:
    if not root.is_dir():
        msg = f"public sets: skipped: no shared datasets at {root}"
        C.log(msg)
        return {"skipped": msg}
    # The shipped model is refit on train + dev, so a row in either was seen.
    train = {" ".join(r["text"].split()) for split in ("train", "dev") if (C.DATA / f"{split}.jsonl").is_file()
             for r in C.read_jsonl(C.DATA / f"{split}.jsonl")}
    h = systems.categories.index("harassment")
    out: dict[str, Any] = {}
    for name, spec in PUBLIC_SETS.items():
        path = root / spec["file"]
        if not path.is_file():
            out[name] = {"skipped": f"no {path}"}
            C.log(f"realtraffic: {name} skipped: no {path}")
            continue
        rows = _READERS[name](path)
        kept = [r for r in rows if r[0].strip() and " ".join(r[0].split()) not in train]
        overlap = len(rows) - len(kept)
        kept = _even(kept, cap)
        texts = [t for t, _, _ in kept]
        gold = np.array([g for _, g, _ in kept], dtype=bool)
        har = np.array([x for _, _, x in kept], dtype=bool)
        F = systems.flags(texts)
        res: dict[str, Any] = {**spec, "rows": len(kept), "harmful": int(gold.sum()),
                               "left_out_in_our_train": overlap,
                               "mean_chars": round(float(np.mean([len(t) for t in texts])), 1) if texts else 0.0,
                               "systems": {}}
        any_flags = {s: F[s].any(axis=1) for s in SYSTEMS}
        res["f1_difference_95"] = f1_difference_interval(gold, any_flags["searchsafe"], any_flags["keyword"])
        for s in SYSTEMS:
            any_flag = any_flags[s]
            sysres = _prf(gold, any_flag)
            if "harassment" in spec:
                sysres["harassment_rows"] = int(har.sum())
                sysres["harassment_recall"] = _share(int((F[s][:, h] & har).sum()), int(har.sum()))
                sysres["harassment_rows_flagged_any"] = _share(int((any_flag & har).sum()), int(har.sum()))
            res["systems"][s] = sysres
        out[name] = res
        C.log(f"realtraffic: {name}: F1 searchsafe {res['systems']['searchsafe']['f1']}, "
              f"keyword {res['systems']['keyword']['f1']}")
    return out


def run(quick: bool = False, root: Path | None = None, data_dir: Path | None = None,
        wordlists: Path | None = None, model: str | None = None) -> dict[str, Any]:
    import searchsafe
    from searchsafe import _wordsources as W

    from benchmarks.peers import KeywordFilter

    cfg = QUICK if quick else FULL
    data_dir = C.DATA if data_dir is None else Path(data_dir)
    root = C.SHARED_DATA if root is None else Path(root)
    clf = searchsafe.load(model)
    keyword = KeywordFilter.from_lexicons(data_dir / "lexicons", clf.categories)
    systems = Systems(clf, keyword)
    reviewed = reviewed_lists(data_dir / "wordlists" if wordlists is None else Path(wordlists))
    res: dict[str, Any] = {
        "quick": quick, "config": cfg, "seed": SEED,
        "split": {"salt": W.HELDOUT_SALT, "heldout_percent": W.HELDOUT_SHARE,
                  "rule": "sha256(salt + ':' + NFKC-casefolded text), first 4 bytes mod 100 < share"},
        "reviewed": {lang: {"path": v["path"], "present": v["present"], "judged": len(v["judged"]),
                            "harmful": sum(v["judged"].values())} for lang, v in reviewed.items()},
        "thresholds": dict(clf.thresholds), "words": {}, "pairs": {}, "proper": {}, "latin": {}, "possessed": {},
        "actions": {}, "context": {}, "worst": {},
    }
    t_start = time.perf_counter()
    # The possessors and the verb review are the background's own (loaded once, not per language).
    bgm = _background_module(data_dir)
    for lang in LANGS:
        judged = reviewed[lang]["judged"]
        terms_all = lexicon_terms(lang, clf.categories, data_dir)
        terms_alone = lexicon_terms(lang, clf.categories, data_dir, alone_only=True)
        harmful = harmful_readings(judged, (t for t, _ in terms_alone))
        term_keys = {_key(t) for t, _ in terms_all}
        worst: list[dict[str, Any]] = []

        C.log(f"realtraffic: {lang}: frequent words")
        words = [w for w, _ in W.wordfreq_words(lang, cfg["words"])]
        held = [w for w in words if W.is_heldout(w)]
        res["words"][lang] = {"top_n": len(words), **_benign_sweep(systems, "word", lang, held, harmful, judged,
                                                                  worst)}

        C.log(f"realtraffic: {lang}: two-noun queries")
        nouns = W.common_nouns(lang, cfg["noun_pool"])
        # Everyday nouns: no harmful reading, and no lexicon term at all, even one a reviewer found
        # "not harmful alone" (ロリ, 살인): a pair built on it is not an everyday query.
        pool = [w for w in nouns if W.is_heldout(w) and _key(w) not in harmful and _key(w) not in term_keys]
        queries = _pairs(pool, cfg["pairs"], random.Random(f"{SEED}:{lang}:pairs"))
        res["pairs"][lang] = {"nouns": len(nouns), "heldout_nouns": len(pool),
                              **_benign_sweep(systems, "pair", lang, queries, set(), judged, worst)}

        C.log(f"realtraffic: {lang}: proper nouns")
        proper = W.proper_nouns(lang)
        held_p = _even([p for p in proper if W.is_heldout(p)], cfg["proper_sample"])
        res["proper"][lang] = {"dictionary": len(proper),
                               **_benign_sweep(systems, "proper", lang, held_p, harmful, judged, worst)}

        C.log(f"realtraffic: {lang}: Latin words with an intent modifier")
        latin = _even([w for w in words if is_latin_word(w) and W.is_heldout(w) and _key(w) not in harmful
                       and _key(w) not in term_keys], cfg["latin_words"])
        modifiers = everyday_intent_modifiers(lang, data_dir)
        queries = _latin_queries(latin, modifiers, LATIN_MODIFIERS_PER_WORD, random.Random(f"{SEED}:{lang}:latin"))
        res["latin"][lang] = {"heldout_words": len(latin), "modifiers": len(modifiers),
                              "per_word": LATIN_MODIFIERS_PER_WORD,
                              **_benign_sweep(systems, "latin", lang, queries, set(), judged, worst)}

        C.log(f"realtraffic: {lang}: someone's animal with an everyday adjective")
        subjects_path = data_dir / "lexicons" / lang / "subjects.tsv"
        animals = _subjects_of_kind(subjects_path, "animal")
        adjectives = _even([w for w, _ in W.common_adjectives(lang, 50_000) if W.is_heldout(w)
                            and _key(w) not in harmful and _key(w) not in term_keys], cfg["adjectives"])
        possessors = tuple(bgm.JA_POSSESSORS if lang == "ja" else bgm.KO_POSSESSORS)
        queries = _possessed_queries(lang, adjectives, animals, possessors, POSSESSED_PER_ADJECTIVE,
                                     random.Random(f"{SEED}:{lang}:possessed"))
        res["possessed"][lang] = {"heldout_adjectives": len(adjectives), "animals": len(animals),
                                  "possessors": len(possessors), "per_adjective": POSSESSED_PER_ADJECTIVE,
                                  **_benign_sweep(systems, "possessed", lang, queries, set(), judged, worst)}

        C.log(f"realtraffic: {lang}: how to do an everyday thing with an animal")
        review = bgm.read_verb_review(data_dir / "wordlists" / f"verbs_{lang}.tsv")
        verbs = _even([v for v, _ in W.common_verbs(lang, 30_000) if W.is_heldout(v) and review.get(v, (False,))[0]
                       and _key(v) not in harmful and _key(v) not in term_keys], cfg["verbs"])
        queries = _action_queries(lang, verbs, animals, ACTIONS_PER_VERB, random.Random(f"{SEED}:{lang}:actions"))
        res["actions"][lang] = {"heldout_verbs": len(verbs), "animals": len(animals), "per_verb": ACTIONS_PER_VERB,
                                "reviewed_verbs": len(review),
                                **_benign_sweep(systems, "action", lang, queries, set(), judged, worst)}

        C.log(f"realtraffic: {lang}: terms in context")
        # Only terms whose bare mention is harmful (alone=1): a flag on "12살" alone is itself a false
        # positive, and losing it in context is right.
        terms = _even(terms_alone, cfg["terms_sample"])
        neutral_flags = systems.flags(pool)
        neutral = [w for w, a, b in zip(pool, neutral_flags["searchsafe"].any(1), neutral_flags["keyword"].any(1))
                   if not a and not b]
        res["context"][lang] = _in_context(systems, lang, terms, neutral, None)

        res["worst"][lang] = worst_list(worst)

    C.log("realtraffic: public sets, zero-shot")
    res["public"] = _public(systems, root, cfg["public_cap"])
    res["speed"] = {s: {"scored": systems.scored[s], "seconds": round(systems.seconds[s], 2),
                        "qps": round(systems.scored[s] / systems.seconds[s], 1) if systems.seconds[s] else None}
                    for s in SYSTEMS}
    res["total_s"] = round(time.perf_counter() - t_start, 1)
    res["targets"] = targets(res)
    return res


# -- targets and tables ----------------------------------------------------------------
#: Issue 8's targets on held-out entries.
TARGETS = {"words": 0.003, "pairs": 0.003, "proper": 0.0005, "context": 0.90}


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for part, label in (("words", "frequent words flagged without a harmful reading"),
                        ("pairs", "two-noun queries flagged"), ("proper", "proper nouns flagged")):
        for lang in LANGS:
            v = res[part][lang]["systems"]["searchsafe"]["false_positive_share"]
            rows.append({"target": f"{label}, {lang}", "goal": f"≤ {100 * TARGETS[part]:.2f} %",
                         "measured": v, "met": v <= TARGETS[part]})
    for lang in LANGS:
        v = res["context"][lang]["systems"]["searchsafe"]["kept_share"]
        rows.append({"target": f"term flagged alone still flagged between two neutral nouns, {lang}",
                     "goal": f"≥ {100 * TARGETS['context']:.0f} %", "measured": v, "met": v >= TARGETS["context"]})
    pub = res.get("public") or {}
    if not pub.get("skipped"):
        for name, v in pub.items():
            if v.get("skipped"):
                continue
            ours, kw = v["systems"]["searchsafe"]["f1"], v["systems"]["keyword"]["f1"]
            row = {"target": f"zero-shot any-harm F1 above the keyword list, {name}", "goal": f"> {kw:.3f}",
                   "measured": ours, "met": ours > kw}
            if "f1_difference_95" in v:
                row["difference_95"] = list(v["f1_difference_95"])
            rows.append(row)
    return rows


def _measured(t: dict[str, Any]) -> str:
    if "F1" not in t["target"]:
        return _pct(t["measured"])
    if "difference_95" not in t:
        return f"{t['measured']:.3f}"
    lo, hi = t["difference_95"]
    return f"{t['measured']:.3f} (difference 95 % interval {lo:+.3f} to {hi:+.3f})"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def tables(res: dict[str, Any]) -> str:
    out = []
    kw = "keyword list"
    rows = []
    for part, label in (("words", "wordfreq top words (one word = one query)"),
                        ("pairs", "random two-noun queries"), ("proper", "dictionary proper nouns"),
                        ("latin", "Latin words with an intent modifier"),
                        ("possessed", "someone's animal with an everyday adjective"),
                        ("actions", "how to do an everyday thing with an animal")):
        for lang in LANGS:
            v = res.get(part, {}).get(lang)
            if v is None:  # results written before part f existed
                continue
            s, k = v["systems"]["searchsafe"], v["systems"]["keyword"]
            rows.append([f"{label}, {lang}", f"{v['benign']:,}", f"{_pct(s['false_positive_share'])} ({s['false_positives']:,})",
                         f"{_pct(k['false_positive_share'])} ({k['false_positives']:,})",
                         f"{s['unreviewed_false_positives']:,} / {k['unreviewed_false_positives']:,}"])
    out.append("False positives on held-out entries nobody here wrote (share of entries without a harmful "
               "reading that get a flag; count in brackets):\n")
    out.append(C.markdown_table(["entries", "n (no harmful reading)", "searchsafe", kw,
                                 "of them unreviewed (ours / keyword)"], rows))
    w = res["words"]
    out.append("\nFrequent words: " + "; ".join(
        f"{lang}: {w[lang]['entries']:,} held out of the top {w[lang]['top_n']:,}, {w[lang]['reviewed']:,} reviewed, "
        f"{w[lang]['reviewed_harmful']:,} with a harmful reading (flagged by searchsafe "
        f"{w[lang]['systems']['searchsafe']['harmful_flagged']}, keyword list "
        f"{w[lang]['systems']['keyword']['harmful_flagged']})" for lang in LANGS) + ".")
    rv = res["reviewed"]
    missing = [v["path"] for v in rv.values() if not v["present"]]
    if missing:
        out.append(f"\nNo reviewed list at {', '.join(missing)}: every flagged word there counts as a false "
                   "positive (all of them unreviewed).")
    p = res["pairs"]
    out.append("\nTwo-noun queries: " + "; ".join(
        f"{lang}: {p[lang]['entries']:,} pairs of {p[lang]['heldout_nouns']:,} held-out nouns (of "
        f"{p[lang]['nouns']:,} single nouns among the top {res['config']['noun_pool']:,} words)" for lang in LANGS)
        + f". Proper nouns: " + "; ".join(f"{lang}: {res['proper'][lang]['entries']:,} held out of "
                                          f"{res['proper'][lang]['dictionary']:,}" for lang in LANGS) + ".")
    if res.get("latin"):
        lt = res["latin"]
        out.append("\nLatin words with an intent modifier: " + "; ".join(
            f"{lang}: {lt[lang]['heldout_words']:,} held-out Latin words of the top {res['words'][lang]['top_n']:,}, "
            f"each with {lt[lang]['per_word']} of {lt[lang]['modifiers']} modifiers ({lt[lang]['entries']:,} queries)"
            for lang in LANGS) + ". No target of the issue's; the two-noun target (0.3 %) is the natural bar.")
    if res.get("possessed"):
        ps = res["possessed"]
        out.append("\nSomeone's animal with an everyday adjective (\"隣の犬 うるさい\"): " + "; ".join(
            f"{lang}: {ps[lang]['heldout_adjectives']:,} held-out adjectives, each said of "
            f"{ps[lang]['per_adjective']} of our {ps[lang]['animals']} animal words with one of "
            f"{ps[lang]['possessors']} possessors ({ps[lang]['entries']:,} queries)" for lang in LANGS)
            + ". Only the adjectives are held out (Japanese: wordfreq's, Korean: mecab-ko-dic's); the animal "
              "words and possessors are ours and the background composes with them. No target of the issue's.")
    if res.get("actions"):
        ac = res["actions"]
        out.append("\nHow to do an everyday thing with an animal (\"猫 慣れる 方法\", \"고양이 씻는 법\"): " + "; ".join(
            f"{lang}: {ac[lang]['heldout_verbs']:,} held-out verbs that the review (`data/wordlists/verbs_{lang}.tsv`, "
            f"{ac[lang]['reviewed_verbs']:,} verbs) judged safe to say of an animal, each asked about "
            f"{ac[lang]['per_verb']} of our {ac[lang]['animals']} animal words ({ac[lang]['entries']:,} queries)"
            for lang in LANGS) + ". The verbs are wordfreq's and held out; which of them are safe is our review's "
              "judgement, and the animal words are ours. No target of the issue's.")

    pub = res.get("public") or {}
    out.append("\n### Public harmful-text sets, zero-shot\n")
    if pub.get("skipped"):
        out.append(pub["skipped"])
    else:
        rows = []
        for name, v in pub.items():
            if v.get("skipped"):
                rows.append([name, v["skipped"], "–", "–", "–"])
                continue
            s, k = v["systems"]["searchsafe"], v["systems"]["keyword"]
            har = "–"
            if "harassment_recall" in s:
                har = (f"{_pct(s['harassment_recall'])} / {_pct(k['harassment_recall'])} "
                       f"({s['harassment_rows']:,} rows)")
            lo, hi = v.get("f1_difference_95", (float("nan"), float("nan")))
            rows.append([name, f"{v['rows']:,} ({v['harmful']:,} harmful, {v['mean_chars']:.0f} chars)",
                         f"{s['f1']:.3f} (P {s['precision']:.2f}, R {s['recall']:.2f})",
                         f"{k['f1']:.3f} (P {k['precision']:.2f}, R {k['recall']:.2f})",
                         f"{s['f1'] - k['f1']:+.3f} ({lo:+.3f} to {hi:+.3f})", har])
        out.append(C.markdown_table(["set", "rows", "searchsafe any-harm F1", "keyword list F1",
                                     "difference (95 % interval)", "harassment recall, ours / keyword"], rows))
        out.append(f"\nThe interval is a paired bootstrap ({BOOTSTRAP:,} draws of the set's rows, both systems "
                   "scored on each draw): where it spans 0, the set is too small to tell the two apart.")
        out.append("\nA row is harmful when: " + "; ".join(f"{n}: {PUBLIC_SETS[n]['harmful']}" +
                                                          (f" (harassment rows: {PUBLIC_SETS[n]['harassment']})"
                                                           if "harassment" in PUBLIC_SETS[n] else "")
                                                          for n in PUBLIC_SETS) + ". A system flags a row when it "
                   "flags any category; harassment recall counts only the harassment flag. Rows also in "
                   "data/train.jsonl or data/dev.jsonl are left out ("
                   + ", ".join(f"{n} {v.get('left_out_in_our_train', 0)}" for n, v in pub.items()) + ").")

    out.append("\n### A harmful term between two neutral words\n")
    rows = []
    for lang in LANGS:
        c = res["context"][lang]
        for s in SYSTEMS:
            x = c["systems"][s]
            rows.append([lang, s, f"{c['terms']:,}", f"{x['flagged_alone']:,}", f"{x['measured']:,}",
                         _pct(x["kept_share"]), _pct(x["kept_any_category_share"])])
    out.append(C.markdown_table(["lang", "system", "lexicon terms (alone=1)", "flagged alone", "measured",
                                 "still flagged, same category", "still flagged, any category"], rows))
    out.append("\nNeutral words: the everyday held-out nouns of the two-noun queries that neither system flags "
               "alone; each term gets two of them, at a position seeded by the term. Examples the model "
               "loses: " + "; ".join(f"{lang}: " + ", ".join(res["context"][lang]["systems"]["searchsafe"]
                                                            ["lost_examples"][:5]) for lang in LANGS) + ".")

    out.append("\n### Targets (issue 8), searchsafe on held-out entries\n")
    out.append(C.markdown_table(["target", "goal", "measured", "status"],
                                [[t["target"], t["goal"], _measured(t), "met" if t["met"] else "**short**"]
                                 for t in res["targets"]]))

    for lang in LANGS:
        out.append(f"\n### The {len(res['worst'][lang])} worst false positives, {lang} (highest score first)\n")
        rows = [[i + 1, r["source"], r["text"], ", ".join(r["flagged"]), f"{r['score']:.3f}",
                 " · ".join(f"{_feature(f)} {v:+.2f}" for f, v in r["features"][:4])]
                for i, r in enumerate(res["worst"][lang])]
        out.append(C.markdown_table(["#", "source", "entry", "flagged", "score", "top features (logit share)"],
                                    rows))
    sp = res["speed"]
    out.append(f"\nScored {sp['searchsafe']['scored']:,} entries per system in {res['total_s']:.0f} s "
               f"(searchsafe {C.fmt_int(sp['searchsafe']['qps'])}/s, keyword list {C.fmt_int(sp['keyword']['qps'])}/s, "
               "with the long public-set texts and, for searchsafe, the explanation of every flag; speed is "
               "measured in speed.py).")
    return "\n".join(out)


def _feature(feature: str) -> str:
    kind, body = feature[:1], feature[1:]
    if kind == "w":
        body = body.replace(" ", "␣")
    return f"`{body}`{kind}".replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="searchsafe on real traffic: frequent words, noun pairs, proper nouns, "
                                 "public sets, terms in context")
    ap.add_argument("--quick", action="store_true", help="a small fixed sample of every part, seconds")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    ap.add_argument("--wordlists", type=Path, help="folder of reviewed_{ja,ko}.tsv (default: data/wordlists)")
    ap.add_argument("--model", help="model directory to measure (default: the bundled model)")
    args = ap.parse_args(argv)
    res = run(quick=args.quick, wordlists=args.wordlists, model=args.model)
    print(tables(res))
    if args.json:
        C.atomic_write_text(args.json, json.dumps(res, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
