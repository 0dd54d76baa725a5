#!/usr/bin/env python
"""Build searchsafe's labeled query dataset: data/{train,dev,test}.jsonl and the datasheet tables.

    python data/build_dataset.py [--shared ../shared/data] [--seed 13]

Reads our lexicons (data/lexicons), hand-written queries (data/queries) and,
where ../shared/data is present, the public word lists and corpora whose
licenses allow training. Everything is deterministic from the seed: the same
inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "data"))

from searchsafe._categories import CATEGORIES  # noqa: E402
from searchsafe._hangul import _CHO, _JONG, _JUNG, _QWERTY, choseong  # noqa: E402
from searchsafe._normalize import fold, normalize  # noqa: E402
from searchsafe._modifiers import read_modifier_review  # noqa: E402
from searchsafe.cli._util import write_bytes, write_text  # noqa: E402
import background as bg  # noqa: E402

DATA = ROOT / "data"
LANGS = ("ja", "ko")
BENIGN_FAMILIES = {
    "title", "dish", "place", "sports", "idiom", "pest_control", "cooking", "medical", "sex_education",
    "help_seeking", "news_history", "parenting", "swimwear_fashion", "pets", "martial_arts_military", "everyday",
}
# Where a source's rows go: (train, dev) percentages, the rest is test. Hand-written
# queries mostly go to dev/test so that those splits read like real traffic.
SPLIT_SHARE = {"generated": (70, 15), "handwritten": (40, 30), "public": (80, 10), "background": (85, 15)}
MAX_PUBLIC_CHARS = 60


@dataclass
class Row:
    text: str
    lang: str
    labels: list[str]
    source: str
    group: str
    tags: list[str] = field(default_factory=list)
    priority: int = 0  # higher wins when two rows fold to the same text

    def as_json(self, split: str) -> str:
        d = {"text": self.text, "lang": self.lang, "labels": self.labels, "source": self.source, "group": self.group}
        if self.tags:
            d["tags"] = self.tags
        return json.dumps(d, ensure_ascii=False)


def _labels(field_value: str, default: str, where: str) -> list[str]:
    labels = [x.strip() for x in field_value.split(",") if x.strip()] if field_value else [default]
    for c in labels:
        if c not in CATEGORIES:
            raise SystemExit(f"{where}: unknown category {c!r}")
    # TAXONOMY.md: `sexual` is adult content; sexual content involving minors is
    # child_safety alone. One rule here keeps every source consistent.
    if "child_safety" in labels:
        labels = [c for c in labels if c != "sexual"]
    return sorted(set(labels), key=CATEGORIES.index)


def read_tsv(path: Path) -> list[dict[str, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
    header = lines[0].split("\t")
    for i, ln in enumerate(lines[1:], 2):
        parts = ln.split("\t")
        if len(parts) < len(header):
            parts += [""] * (len(header) - len(parts))
        if len(parts) != len(header):
            raise SystemExit(f"{path}:{i}: expected {len(header)} tab-separated fields, got {len(parts)}")
        rows.append(dict(zip(header, (p.strip() for p in parts))))
    return rows


# ---------------------------------------------------------------- evasions
_HALF_KATA = dict(zip(
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォッャュョー",
    "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｯｬｭｮｰ",
))
_HIRA2KATA = {chr(c): chr(c + 0x60) for c in range(0x3041, 0x3097)}
_KEY_OF = {j: k for k, j in _QWERTY.items()}
_SPLIT_FINAL = {"ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ", "ㄼ": "ㄹㅂ", "ㄽ": "ㄹㅅ", "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ"}
_SPLIT_VOWEL = {"ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ"}


def _jamo(text: str) -> str:
    out = []
    for ch in text:
        o = ord(ch) - 0xAC00
        if 0 <= o <= 11171:
            out.append(_CHO[o // 588] + _SPLIT_VOWEL.get(_JUNG[(o % 588) // 28], _JUNG[(o % 588) // 28]))
            if o % 28:
                out.append(_SPLIT_FINAL.get(_JONG[o % 28], _JONG[o % 28]))
        else:
            out.append(ch)
    return "".join(out)


def to_qwerty(text: str) -> str | None:
    keys = []
    for ch in _jamo(text):
        if ch == " ":
            keys.append(" ")
        elif ch in _KEY_OF:
            keys.append(_KEY_OF[ch])
        else:
            return None
    return "".join(keys)


def _insert(text: str, rng: random.Random, sep: str) -> str:
    chars = list(text.replace(" ", ""))
    return sep.join(chars)


EVERYDAY_CHOSEONG = frozenset(bg.read_lines(DATA / "lexicons" / "ko" / "everyday_choseong.txt"))


def evasions(text: str, lang: str, rng: random.Random) -> list[tuple[str, str]]:
    """Evasive spellings of *text*, each with the name of the trick."""
    out: list[tuple[str, str]] = []
    core = text.replace(" ", "")
    if lang == "ja":
        out.append(("width", "".join(_HALF_KATA.get(c, c) for c in "".join(_HIRA2KATA.get(c, c) for c in text))))
        out.append(("kana", "".join(_HIRA2KATA.get(c, c) for c in text)))
        out.append(("fullwidth", unicodedata.normalize("NFKC", text).translate({i: i + 0xFEE0 for i in range(0x21, 0x7F)})))
        if "死" in text:
            out.append(("lookalike", text.replace("死", rng.choice(["タヒ", "氏"]) if "死ね" in text else "タヒ")))
    else:
        first, _, rest = text.partition(" ")
        # Shorthand is written for one short word, not a whole phrase.
        if 2 <= len(first) <= 4 and all("\uac00" <= c <= "\ud7a3" for c in first):
            short = choseong(first)
            if rest or short not in EVERYDAY_CHOSEONG:
                out.append(("choseong", short + (" " + rest if rest else "")))
        q = to_qwerty(text)
        # Fewer than four keys read as a Latin word, not as Korean typed on the wrong
        # keyboard: ㅇㄷ became "de", and the model flagged "de" (French, Spanish, .de) at 0.99.
        if q and len(q.replace(" ", "")) >= 4:
            out.append(("qwerty", q))
        syl = [i for i, c in enumerate(text) if "\uac00" <= c <= "\ud7a3"]
        if len(syl) >= 2:
            i = syl[rng.randrange(len(syl))]
            out.append(("jamo", text[:i] + _jamo(text[i]) + text[i + 1 :]))
    if len(core) >= 2 and not re.search("[A-Za-z]", core):
        i = rng.randrange(1, len(core))
        out.append(("digit", core[:i] + rng.choice("0123456789") + core[i:]))
        out.append(("separator", _insert(text, rng, rng.choice([" ", ".", "*", "・" if lang == "ja" else "_"]))))
        j = rng.randrange(len(core))
        out.append(("repeat", core[:j] + core[j] * rng.randint(3, 5) + core[j + 1 :]))
    out.append(("nospace", core))
    return [(k, v) for k, v in out if v and v != text]


# ---------------------------------------------------------------- sources
def lexicon_rows(lang: str, seed: int) -> list[Row]:
    rows: list[Row] = []
    base = DATA / "lexicons" / lang
    benign_topics: list[str] = []
    all_harm_mods: list[str] = []
    # child_safety queries pair a word for a minor with a sexual word. Without
    # the same sexual words next to adults, a model learns the sexual word as
    # the sign of a minor and flags adult queries as child_safety; so every
    # generated child_safety query whose modifier holds a sexual term gets a
    # minimal pair with an adult subject, labelled like that term.
    sexual_terms = sorted(
        ((e["text"], _labels(e["labels"], "sexual", "sexual.tsv")) for e in read_tsv(base / "sexual.tsv")
         if e["kind"] == "term" and len(e["text"]) >= 2),
        key=lambda x: -len(x[0]),
    )
    adults = [ln.strip() for ln in (base / "adult_subjects.txt").read_text(encoding="utf-8").splitlines()
              if ln.strip() and not ln.startswith("#")]
    for cat in CATEGORIES:
        path = base / f"{cat}.tsv"
        entries = read_tsv(path)
        by_kind: dict[str, list[dict[str, str]]] = defaultdict(list)
        for e in entries:
            by_kind[e["kind"]].append(e)
        mods = [m["text"] for m in by_kind["modifier"]]
        all_harm_mods.extend(mods)
        ctxs = [m["text"] for m in by_kind["benign_context"]]
        for e in by_kind["term"]:
            term, labels = e["text"], _labels(e["labels"], cat, str(path))
            group = f"{lang}:{cat}:term:{term}"
            rng = _own_rng(seed, group)
            if e["alone"] == "1":
                rows.append(Row(term, lang, labels, "lexicon", group, ["term_alone"], 2))
            else:
                rows.append(Row(term, lang, [], "lexicon", group, ["hard_negative", "term_alone"], 2))
            for mod in rng.sample(mods, min(len(mods), 6)):
                q = rng.choice([f"{term} {mod}", f"{term} {mod}", f"{term}{mod}", f"{mod} {term}"])
                rows.append(Row(q, lang, labels, "generated", group, [], 1))
                if cat == "child_safety":
                    match = next((lab for word, lab in sexual_terms if word in mod), None)
                    if match is not None:
                        adult = rng.choice(adults)
                        rows.append(Row(q.replace(term, adult), lang, match, "generated", group, ["contrast"], 1))
            # A benign context does not undo a term that is harmful on its own
            # ("死にたい 相談" still states a wish to die), so only weak terms get one.
            for ctx in rng.sample(ctxs, min(len(ctxs), 12)) if e["alone"] != "1" else []:
                q = rng.choice([f"{term} {ctx}", f"{term} {ctx}", f"{ctx} {term}"])
                rows.append(Row(q, lang, [], "generated", group, ["hard_negative"], 1))
        for i, e in enumerate(by_kind["phrase"]):
            labels = _labels(e["labels"], cat, str(path))
            rows.append(Row(e["text"], lang, labels, "lexicon", f"{lang}:{cat}:phrase:{e['text']}", [], 2))
    benign_path = base / "benign.tsv"
    if not benign_path.is_file():
        raise SystemExit(f"{benign_path}: missing; the benign lexicon (hard negatives and everyday topics) is required")
    benign_entries = read_tsv(benign_path)
    benign_mods = [e["text"] for e in benign_entries if e["kind"] == "modifier"]
    # Searchers add the same intent words to innocent subjects ("鬼滅の刃 動画",
    # "바퀴벌레 죽이는법"): hard negatives pair them with harmful modifiers too.
    any_mods = sorted(set(benign_mods) | set(all_harm_mods))
    # But only an intent word that stays innocent after any topic makes a hard negative.
    # A modifier the review found harmful in itself (出て行け, 격리해야, 부검에서 안걸리는,
    # 나체) turned 1,812 benign queries into harmful ones labelled benign ("성소수자 상담
    # 격리해야", "유아 발레복 나체"): the model learned those modifiers as innocent, and
    # missed "유아 알몸 사진". Such a pair is dropped after the draw (so every other row stays
    # as it was), as is one the composition guard reads as our harmful pattern.
    lex_entries = _lexicon_entries(lang)
    innocent = set(benign_mods) | set(_neutral_intent_modifiers(lang, lex_entries)[0])
    composed_harm = composition_guard(lang, lex_entries)
    for e in benign_entries:
        fam = e["family"]
        if fam not in BENIGN_FAMILIES:
            raise SystemExit(f"{base / 'benign.tsv'}: unknown family {fam!r}")
        if e["kind"] == "query":
            tags = ["hard_negative"] if fam != "everyday" else []
            group = f"{lang}:benign:{fam}:{e['text']}"
            rows.append(Row(e["text"], lang, [], "lexicon", group, tags, 2))
            rng = _own_rng(seed, group)
            for mod in rng.sample(any_mods, min(len(any_mods), 4)) if tags else []:
                q = f"{e['text']} {mod}"
                if mod in innocent and not composed_harm(q):
                    rows.append(Row(q, lang, [], "generated", group, tags, 1))
        elif e["kind"] == "topic":
            benign_topics.append(e["text"])
    for topic in benign_topics:
        rng = _own_rng(seed, f"{lang}:topic:{topic}")
        for mod in rng.sample(benign_mods, min(len(benign_mods), 8)) if benign_mods else []:
            q = rng.choice([f"{topic} {mod}", f"{topic} {mod}", f"{topic}{mod}", f"{mod} {topic}"])
            rows.append(Row(q, lang, [], "generated", f"{lang}:topic:{topic}", [], 1))
    return rows


def _own_rng(seed: int, group: str) -> random.Random:
    """A lexicon entry's own generator. Entries once shared one generator in
    file order, so flipping one term's ``alone`` (which changes how many draws
    it takes) redrew every later entry's rows: 15 label fixes moved 32,000 of
    57,000 training rows. Now an edit changes only the edited entry's rows."""
    return random.Random(f"{seed}:lexicon:{group}")


def handwritten_rows(lang: str) -> list[Row]:
    rows = []
    for path in sorted((DATA / "queries").glob(f"{lang}*.tsv")):
        for e in read_tsv(path):
            labels = _labels(e["labels"], "", str(path)) if e["labels"] else []
            fam = e.get("family", "")
            tags = ["hard_negative"] if not labels and fam and fam != "everyday" else []
            rows.append(Row(e["text"], lang, labels, "handwritten", f"{lang}:hw:{e['text']}", tags, 3))
    return rows


def add_evasions(rows: list[Row], seed: int, share: float) -> list[Row]:
    out = []
    for r in rows:
        # Each row draws from its own generator, so adding or editing a query
        # leaves every other row's evasions as they were (and the splits'
        # composition with them: the thresholds moved with unrelated edits).
        rng = random.Random(f"{seed}:evasion:{r.group}:{r.text}")
        if r.source == "public" or rng.random() >= share:
            continue
        options = evasions(r.text, r.lang, rng)
        if not options:
            continue
        for kind, text in rng.sample(options, min(2, len(options))):
            if kind == "qwerty" and min(len(w) for w in text.split()) < 3:
                # A word of two keys reads as a Latin word too: ㅅㅍ 번호 became "tv qjsgh", and
                # "tv 다시보기" (TV replays) was flagged sexual at 0.77. Dropped after the draw, so
                # that every other row keeps its evasions.
                continue
            out.append(Row(text, r.lang, list(r.labels), "generated", r.group, [*r.tags, f"evasion:{kind}"], 0))
    return out


def shared_wordlist_rows(shared: Path, rng: random.Random) -> list[Row]:
    """The judged terms of the public word lists, composed with our sexual modifiers.

    Only a term that ``public_terms.tsv`` lists from that word list counts,
    with the labels it was judged to have. The others were judged not to be
    harmful terms (anatomy, sexual health, ordinary words such as 陰毛, 童貞,
    コンドーム or ラブホテル); composed with 新作 or 流出 and labelled sexual,
    they were the only rows that held these words, so the model flagged them
    beside any noun (陰毛 外交). The generator still draws for every listed
    term, so the rest of the build's random choices stay as they were.
    """
    rows: list[Row] = []
    mods = {
        "ja": [e["text"] for e in read_tsv(DATA / "lexicons/ja/sexual.tsv") if e["kind"] == "modifier"],
        "ko": [e["text"] for e in read_tsv(DATA / "lexicons/ko/sexual.tsv") if e["kind"] == "modifier"],
    }
    lists = [
        ("ja", shared / "ja-inappropriate-words" / "Sexual.txt", "ja-inappropriate-words"),
    ]
    for lang, path, name in lists:
        if not path.is_file():
            continue
        judged = {t: labels for t, labels, _, source in public_term_rows(lang) if name in source.split(",")}
        terms = sorted({ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()})
        for term in terms:
            drawn = rng.sample(mods[lang], 3)
            if term not in judged:
                continue
            group = f"{lang}:public-lexicon:{name}:{term}"
            rows += [Row(f"{term} {mod}", lang, list(judged[term]), "generated", group, [f"public:{name}"], 0)
                     for mod in drawn]
    return rows


# Public sets whose rows we judged one by one against our policy (data/reviews/):
# each review names the shared file's folder and lists rows by line number and
# hash, so the public text is read from ../shared/data, never copied here.
REVIEWED_PUBLIC = {"ja-xsafety.tsv": ("ja", "ja-xsafety", "ja")}


def _line_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def reviewed_public_rows(shared: Path, reviews: Path = DATA / "reviews") -> list[Row]:
    """Rows of public sets judged line by line (``data/reviews/*.tsv``): labels as reviewed, ``skip`` left out.

    A review row whose hash does not match the shared file's line means the
    shared copy changed under the review: the build stops and says where.
    """
    rows: list[Row] = []
    for review, (lang, folder, sub) in REVIEWED_PUBLIC.items():
        path = reviews / review
        base = shared / folder / sub
        if not path.is_file() or not base.is_dir():
            continue
        lines: dict[str, list[str]] = {}
        for i, e in enumerate(read_tsv(path), 2):
            if e["labels"] == "skip":
                continue
            name = e["file"]
            if name not in lines:
                src = base / name
                if not src.is_file():
                    raise SystemExit(f"{path}:{i}: {src} not found; the review does not match the shared data")
                lines[name] = [ln.strip() for ln in src.read_text(encoding="utf-8-sig").splitlines()]
            n = int(e["line"])
            text = lines[name][n - 1] if 0 < n <= len(lines[name]) else ""
            if _line_sha1(text) != e["sha1"]:
                raise SystemExit(f"{path}:{i}: line {n} of {base / name} does not have sha1 {e['sha1']}; "
                                 "the shared file changed since the review: review that line again")
            labels = _labels(e["labels"], "", str(path)) if e["labels"] else []
            stem = name.rsplit(".", 1)[0]
            rows.append(Row(text, lang, labels, f"public:{folder}", f"{lang}:{folder}:{stem}:{n}", [], 0))
    return rows


def public_rows(shared: Path, rng: random.Random) -> list[Row]:
    """Rows of the public corpora whose licenses allow training, mapped to our categories."""
    rows: list[Row] = []

    def short(text: str) -> bool:
        return 2 <= len(text) <= MAX_PUBLIC_CHARS and "\n" not in text

    beep = shared / "ko-beep" / "labeled"
    for split in ("train", "dev"):
        path = beep / f"{split}.tsv"
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as f:
            for rec in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                text = rec["comments"].strip()
                if not short(text):
                    continue
                # "offensive" is rudeness short of our categories: left out.
                # BEEP!'s "others" bias spans body shaming of celebrities to religion,
                # too wide to map; gender-biased hate is our hate.
                if rec["hate"] == "hate" and rec["bias"] == "gender":
                    labels = ["hate"]
                elif rec["hate"] == "none":
                    labels = []
                else:
                    continue
                rows.append(Row(text, "ko", labels, "public:ko-beep", f"ko:beep:{text}", [], 0))
    mj = shared / "multijail" / "data" / "MultiJail.csv"
    if mj.is_file():
        tag_map = {
            "Violence & incitement": "violence", "Hate speech & offensive language": "hate",
            "Bullying & harassment": "harassment", "Adult content": "sexual", "Animal abuse": "animal_cruelty",
            "Terrorism & organized crime": "violent_extremism", "Weapons": "violence",
            "Self-harm": "self_harm", "Child abuse": "child_safety",
        }
        import ast

        with open(mj, encoding="utf-8-sig") as f:
            for rec in csv.DictReader(f):
                tags = ast.literal_eval(rec["tags"])
                labels = sorted({tag_map[t] for t in tags if t in tag_map}, key=CATEGORIES.index)
                text = rec["ko"].strip()
                if labels and text:
                    rows.append(Row(text, "ko", labels, "public:multijail", f"ko:multijail:{rec['id']}", [], 0))
    kosbi = shared / "ko-kosbi-square" / "data"
    for path in sorted((kosbi / "KoSBi").glob("*.json")) if kosbi.is_dir() else []:
        for rec in json.loads(path.read_text(encoding="utf-8")):
            text = rec["sentence"].strip()
            # Safe KoSBi sentences mention demographic groups neutrally: hate's hard negatives.
            if rec.get("sentence_label") == "safe" and short(text):
                rows.append(Row(text, "ko", [], "public:ko-kosbi", f"ko:kosbi:{text}", ["hard_negative"], 0))
    for path in sorted((kosbi / "SQuARe").glob("*.json")) if kosbi.is_dir() else []:
        for rec in json.loads(path.read_text(encoding="utf-8")):
            text = rec["question"].strip()
            if short(text):
                rows.append(Row(text, "ko", [], "public:ko-square", f"ko:square:{text}", [], 0))
    rows += reviewed_public_rows(shared)
    jcm = shared / "ja-commonsense-morality" / "data"
    for path in sorted(jcm.glob("data_*.csv")) if jcm.is_dir() else []:
        with open(path, encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                text = rec["sent"].strip()
                # Only permissible actions: everyday Japanese, auxiliary negatives.
                if rec["label"] == "0" and short(text):
                    rows.append(Row(text, "ja", [], "public:ja-commonsense-morality", f"ja:jcm:{text}", [], 0))
    return rows


# ---------------------------------------------------------------- background
def _lexicon_entries(lang: str) -> list[tuple[str, dict[str, str]]]:
    base = DATA / "lexicons" / lang
    return [(cat, e) for cat in CATEGORIES for e in read_tsv(base / f"{cat}.tsv")]


def public_term_rows(lang: str) -> list[tuple[str, list[str], bool, str]]:
    """Reviewed terms from the public word lists (data/lexicons/<lang>/public_terms.tsv): (text, labels, alone, source)."""
    path = DATA / "lexicons" / lang / "public_terms.tsv"
    if not path.is_file():
        return []
    out = []
    for e in read_tsv(path):
        labels = _labels(e["labels"], "", str(path)) if e["labels"] else []
        if labels:
            out.append((e["text"], labels, e.get("alone", "1") == "1", e.get("source", "")))
    return out


def _neutral_intent_modifiers(lang: str, entries: list[tuple[str, dict[str, str]]]) -> tuple[list[str], list[str]]:
    """The harmful lexicons' modifiers reviewed as everyday words, and those of them unsafe after a minor."""
    mods = {e["text"] for _, e in entries if e["kind"] == "modifier"}
    everyday, unsafe = read_modifier_review(DATA / "lexicons" / lang / "modifiers_review.tsv")
    return [m for m in everyday if m in mods], [m for m in unsafe if m in mods]


def _everyday_and_subjects(lang: str) -> tuple[list[str], list[tuple[str, str]]]:
    """*lang*'s everyday search modifiers, and its subjects (groups, animals, minors, people) with their kind."""
    base = DATA / "lexicons" / lang
    everyday = [e["text"] for e in read_tsv(base / "benign.tsv") if e["kind"] == "modifier"]
    everyday += bg.read_lines(base / "everyday_modifiers.txt")
    path = base / "subjects.tsv"
    subjects = [(e["text"], e["kind"]) for e in read_tsv(path)] if path.is_file() else []
    return everyday, subjects


def composition_guard(lang: str, entries: list[tuple[str, dict[str, str]]] | None = None,
                      subjects: Sequence[tuple[str, str]] | None = None,
                      everyday: Sequence[str] | None = None) -> Callable[[str], bool]:
    """bg.composition_matcher for *lang*'s lexicons: terms that need context, subjects and modifiers by category."""
    if entries is None:
        entries = _lexicon_entries(lang)
    if subjects is None or everyday is None:
        own_everyday, own_subjects = _everyday_and_subjects(lang)
        everyday = own_everyday if everyday is None else everyday
        subjects = own_subjects if subjects is None else subjects
    weak: dict[str, list[str]] = defaultdict(list)
    mods: dict[str, list[str]] = defaultdict(list)
    for cat, e in entries:
        if e["kind"] == "term" and e["alone"] != "1":
            for c in _labels(e["labels"], cat, cat):
                weak[c].append(e["text"])
        elif e["kind"] == "modifier":
            mods[cat].append(e["text"])
    subject_words: dict[str, list[str]] = defaultdict(list)
    for text, kind in subjects:
        if kind in bg.SUBJECT_CATEGORY:
            subject_words[bg.SUBJECT_CATEGORY[kind]].append(text)
    return bg.composition_matcher(weak, mods, subject_words, everyday)


def background_rows(lang: str, seed: int, rows: Sequence[Row] = ()) -> list[Row]:
    """Benign background from word sources nobody here wrote, and harmful terms among neutral words."""
    entries = _lexicon_entries(lang)
    public_terms = public_term_rows(lang)
    strong = [e["text"] for _, e in entries if e["kind"] == "term" and e["alone"] == "1"]
    strong += [t for t, _, alone, _ in public_terms if alone]
    reviewed = DATA / "wordlists" / f"reviewed_{lang}.tsv"
    if reviewed.is_file():
        strong += [e["text"] for e in read_tsv(reviewed) if e["harmful"] == "1"]
    harmful = bg.harmful_matcher(strong)
    everyday, subjects = _everyday_and_subjects(lang)
    neutral, unsafe_with_minors = _neutral_intent_modifiers(lang, entries)
    src = bg.load_sources(lang, everyday, neutral, subjects, harmful, unsafe_with_minors,
                          verb_review=DATA / "wordlists" / f"verbs_{lang}.tsv")
    composer = bg.Composer(lang, src)
    composed_harm = composition_guard(lang, entries, subjects, everyday)
    # How often each intent modifier stands in this language's harmful rows, as a word.
    uses = Counter(m for r in rows if r.labels and r.lang == lang
                   for m in set(r.text.split()) & set(src.intent_modifiers))
    out = []
    for text, kind in composer.compose(f"{seed}:background:{lang}", bg.TARGET[lang], uses):
        if not harmful(text) and (kind in ("word", "entity") or not composed_harm(text)):
            # Groups, animals and minors in everyday contexts are what hard negatives are for.
            tags = ["hard_negative"] if kind in ("subject", "possessed", "action") else []
            out.append(Row(text, lang, [], f"background:{kind}", f"{lang}:bg:{text}", tags, -1))
    rows = out
    # Harmful terms that show their intent alone keep it among neutral words.
    terms = [(e["text"], _labels(e["labels"], cat, cat), f"{lang}:{cat}:term:{e['text']}")
             for cat, e in entries if e["kind"] == "term" and e["alone"] == "1"]
    terms += [(t, labels, f"{lang}:public-term:{t}") for t, labels, alone, _ in public_terms if alone]
    for term, labels, group in terms:
        # Each term's contexts from its own generator: adding a term leaves the others' as they were.
        for q in composer.contexts(term, random.Random(f"{seed}:context:{group}")):
            rows.append(Row(q, lang, labels, "generated", group, ["in_context"], 1))
    for term, labels, group in [(t, lab, f"{lang}:public-term:{t}") for t, lab, alone, _ in public_terms if alone]:
        rows.append(Row(term, lang, labels, "lexicon", group, ["term_alone"], 2))
    return rows


# ---------------------------------------------------------------- assembly
def _bucket(group: str, seed: int) -> int:
    return int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16) % 100


def split_of(row: Row, seed: int) -> str:
    # The share follows the group's origin, not the row's: an evasive variant of
    # a hand-written query must land in the same split as the query.
    if ":hw:" in row.group:
        kind = "handwritten"
    elif row.source.startswith("background"):
        kind = "background"
    elif row.source.startswith("public"):
        kind = "public"
    else:
        kind = "generated"
    train, dev = SPLIT_SHARE[kind]
    b = _bucket(row.group, seed)
    return "train" if b < train else "dev" if b < train + dev else "test"


def cap_public(rows: list[Row], rng: random.Random, per_source: int) -> list[Row]:
    by_source: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_source[r.source].append(r)
    out = []
    for src in sorted(by_source):
        items = by_source[src]
        out.extend(items if len(items) <= per_source else rng.sample(items, per_source))
    return out


def build(shared: Path | None, seed: int, *, background: bool = True) -> dict[str, list[Row]]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for lang in LANGS:
        lex = lexicon_rows(lang, seed)
        hw = handwritten_rows(lang)
        rows += lex + hw + add_evasions(lex, seed, 0.35) + add_evasions(hw, seed, 0.2)
        if background:
            # Generators of its own, so that adding background sources leaves the other rows as they were.
            rows += background_rows(lang, seed, rows)
    if shared is not None:
        rows += shared_wordlist_rows(shared, rng)
        rows += cap_public(public_rows(shared, rng), rng, per_source=4000)
    for r in rows:
        if "child_safety" in r.labels and "sexual" in r.labels:
            r.labels = [c for c in r.labels if c != "sexual"]
    # One row per folded text: hand-written beats lexicon beats generated beats public.
    best: dict[str, Row] = {}
    for r in sorted(rows, key=lambda r: -r.priority):
        key = fold(normalize(r.text))
        if not key:
            continue
        kept = best.get(key)
        if kept is None:
            best[key] = r
    keyed: dict[str, list[tuple[bytes, Row]]] = {"train": [], "dev": [], "test": []}
    for key, r in best.items():
        name = split_of(r, seed)
        keyed[name].append((hashlib.sha256(f"{seed}:{name}:{key}".encode()).digest(), r))
    # Each split in the order of a hash of its rows' texts: a shuffled order, but one
    # that adding or removing a row does not redraw for every other row.
    return {name: [r for _, r in sorted(rows_, key=lambda kr: kr[0])] for name, rows_ in keyed.items()}


def count_table(splits: dict[str, list[Row]]) -> str:
    lines = [
        "| lang | split | rows | benign | hard negatives | evasive | " + " | ".join(CATEGORIES) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(CATEGORIES),
    ]
    for lang in LANGS:
        for name in ("train", "dev", "test"):
            rs = [r for r in splits[name] if r.lang == lang]
            c = Counter(l for r in rs for l in r.labels)
            benign = sum(1 for r in rs if not r.labels)
            hard = sum(1 for r in rs if not r.labels and "hard_negative" in r.tags)
            ev = sum(1 for r in rs if any(t.startswith("evasion:") for t in r.tags))
            lines.append(f"| {lang} | {name} | {len(rs)} | {benign} | {hard} | {ev} | " + " | ".join(str(c[x]) for x in CATEGORIES) + " |")
    src = Counter((r.lang, r.source) for rs in splits.values() for r in rs)
    lines += ["", "| lang | source | rows |", "|---|---|---|"]
    lines += [f"| {lang} | {s} | {n} |" for (lang, s), n in sorted(src.items())]
    return "\n".join(lines)


def _write_jsonl(path: Path, rows: list[Row], split: str) -> None:
    """Write rows atomically; .gz files get a fixed header (no name, mtime 0) so the bytes are reproducible."""
    import gzip
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(r.as_json(split) + "\n" for r in rows).encode("utf-8")
    if path.suffix == ".gz":
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
            gz.write(payload)
        payload = buf.getvalue()
    write_bytes(path, payload)  # whole or not at all: temporary file beside it, then os.replace


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--no-background", dest="background", action="store_false",
                    help="leave out the benign background from word lists and dictionaries")
    args = ap.parse_args(argv)
    shared = args.shared
    if not shared.is_dir():
        print(f"warning: {shared} not found: building from our own lexicons and queries only "
              "(no public word lists or corpora)", file=sys.stderr)
        shared = None
    splits = build(shared, args.seed, background=args.background)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rs in splits.items():
        _write_jsonl(args.out / f"{name}.jsonl", [r for r in rs if not r.source.startswith("background")], name)
        bg_rows = [r for r in rs if r.source.startswith("background")]
        if bg_rows:
            _write_jsonl(args.out / "background" / f"{name}.jsonl.gz", bg_rows, name)
    table = count_table(splits)
    readme = args.out / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        new = re.sub(r"(<!-- counts:begin -->\n).*?(<!-- counts:end -->)", lambda m: m.group(1) + table + "\n" + m.group(2), text, flags=re.S)
        write_text(readme, new)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
