"""Every occurrence of a set of terms in a text: the policy's overrides and the model's lexicon use it."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["TermMatcher"]


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class TermMatcher:
    """Every occurrence of a set of terms inside a text, as ``(start, end, value)``.

    Aho-Corasick (pyahocorasick) when installed, else a pure-Python scan of
    the text's substrings by term length; both give the same list in the same
    order (by end, then by start). A term that begins or ends with a Latin
    letter or digit only matches where the text has no Latin letter or digit
    next to it, so ``ass`` does not match inside ``class``; CJK terms match
    anywhere, as CJK text has no word spaces.

    Examples
    --------
    >>> m = TermMatcher({"爆弾": 1, "爆弾おにぎり": 2, "ass": 3})
    >>> m.find("爆弾おにぎり class")
    [(0, 2, 1), (0, 6, 2)]
    >>> m.find("ass 爆弾") == TermMatcher({"爆弾": 1, "ass": 3}, backend="python").find("ass 爆弾")
    True
    """

    def __init__(self, terms: Mapping[str, Any], *, backend: str = "auto"):
        if backend not in ("auto", "ahocorasick", "python"):
            raise ValueError(f"backend must be 'auto', 'ahocorasick' or 'python'; got {backend!r}")
        self._terms = dict(terms)
        self._automaton = None
        if backend != "python" and self._terms:
            try:
                import ahocorasick
            except ImportError:
                if backend == "ahocorasick":
                    raise
            else:
                a = ahocorasick.Automaton()
                for term, value in self._terms.items():
                    a.add_word(term, (len(term), value))
                a.make_automaton()
                self._automaton = a
        self.backend = "ahocorasick" if self._automaton is not None else "python"
        self._lengths = sorted({len(t) for t in self._terms})

    def __len__(self) -> int:
        return len(self._terms)

    def items(self) -> list[tuple[str, Any]]:
        """The ``(term, value)`` pairs, in the order they were given."""
        return list(self._terms.items())

    @staticmethod
    def _bounded(text: str, start: int, end: int) -> bool:
        if _ascii_alnum(text[start]) and start > 0 and _ascii_alnum(text[start - 1]):
            return False
        if _ascii_alnum(text[end - 1]) and end < len(text) and _ascii_alnum(text[end]):
            return False
        return True

    def find(self, text: str) -> list[tuple[int, int, Any]]:
        """All bounded occurrences, ordered by end then start."""
        if not self._terms or not text:
            return []
        bounded = self._bounded
        if self._automaton is not None:
            out = []
            for last, (n, value) in self._automaton.iter(text):
                start, end = last + 1 - n, last + 1
                if bounded(text, start, end):
                    out.append((start, end, value))
            out.sort(key=lambda m: (m[1], m[0]))
            return out
        terms, out = self._terms, []
        for end in range(1, len(text) + 1):
            for n in reversed(self._lengths):  # longest first = smallest start first
                start = end - n
                if start < 0:
                    continue
                value = terms.get(text[start:end])
                if value is not None and bounded(text, start, end):
                    out.append((start, end, value))
        return out
