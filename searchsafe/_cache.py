"""A bounded, thread-safe, exact LRU cache for head queries.

Search traffic is Zipf-distributed: a few thousand queries make up most of it.
Scoring one query costs tens of microseconds (normalization, MeCab, features);
looking a repeated one up costs well under one. The cache stores exactly what
the uncached path computed for the same key, so it can never change an answer;
it only skips work.

Keys are the query text as given (cut to :data:`~searchsafe.MAX_QUERY_CHARS`,
the only part scoring reads), not its normalized form: normalizing costs about
a quarter of a query's time, so a raw-text key makes a hit cost one dict
lookup. Spelling variants of one query are separate entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Sequence

from ._errors import InvalidParameterError

__all__ = ["LRUCache", "check_cache_size"]


def check_cache_size(size: Any, *, param: str = "cache_size") -> int:
    """Validate a cache size: a non-negative int (0 turns the cache off)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidParameterError(f"{param} must be a non-negative integer (0 = no cache); got {size!r}")
    return size


class LRUCache:
    """A least-recently-used mapping with at most *maxsize* entries.

    Every method takes one lock, so one cache may be shared by any number of
    threads; :meth:`lookup` and :meth:`put_many` take it once per batch.

    Parameters
    ----------
    maxsize : int
        The most entries kept; the least recently used one goes first. Must be > 0.

    Examples
    --------
    >>> c = LRUCache(2)
    >>> c.put("a", 1); c.put("b", 2); c.get("a")
    1
    >>> c.put("c", 3)          # "b" was used least recently: it goes
    >>> c.get("b") is None, len(c)
    (True, 2)
    >>> c.stats()
    {'size': 2, 'maxsize': 2, 'hits': 1, 'misses': 1}
    """

    def __init__(self, maxsize: int):
        if check_cache_size(maxsize, param="maxsize") == 0:
            raise InvalidParameterError("maxsize must be a positive integer; got 0")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<LRUCache {len(self._data)}/{self.maxsize} entries, {self.hits} hits, {self.misses} misses>"

    def get(self, key: Hashable) -> Any:
        """The value stored under *key* (and mark it recently used), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
            else:
                self._data.move_to_end(key)
                self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store *value* (never None) under *key*, evicting the oldest entry when full."""
        with self._lock:
            self._put(key, value)

    def _put(self, key: Hashable, value: Any) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.maxsize:
            data.popitem(last=False)

    def put_many(self, keys: Sequence[Hashable], values: Sequence[Any]) -> None:
        """Store each value under its key, under one lock."""
        with self._lock:
            for key, value in zip(keys, values):
                self._put(key, value)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def stats(self) -> dict[str, int]:
        """Entries, capacity, hits and misses so far."""
        with self._lock:
            return {"size": len(self._data), "maxsize": self.maxsize, "hits": self.hits, "misses": self.misses}

    def lookup(
        self, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence[Any]]
    ) -> list[Any]:
        """Cached values for *keys*, computing the missing ones in one call.

        *compute* gets the positions of the first occurrence of each distinct
        missing key and returns their values in that order; repeats inside the
        batch are computed once.

        Examples
        --------
        >>> c = LRUCache(8)
        >>> c.lookup(["a", "b", "a"], lambda pos: [f"v{p}" for p in pos])
        ['v0', 'v1', 'v0']
        >>> c.lookup(["b", "c"], lambda pos: [f"w{p}" for p in pos]), c.stats()["hits"]
        (['v1', 'w1'], 1)
        """
        # One pass under the lock: a hit costs a dict look-up and a move,
        # which is most of what a head query costs at all.
        values: list[Any] = []
        append = values.append
        first: dict[Hashable, int] = {}
        missed = 0
        with self._lock:
            data = self._data
            get, touch = data.get, data.move_to_end
            for i, key in enumerate(keys):
                value = get(key)
                if value is None:
                    missed += 1
                    if key not in first:
                        first[key] = i
                else:
                    touch(key)
                append(value)
            self.hits += len(keys) - missed
            self.misses += missed
        if first:
            todo = list(first.values())
            computed = compute(todo)
            self.put_many([keys[i] for i in todo], computed)
            by_key = dict(zip(first, computed))
            values = [by_key[k] if v is None else v for k, v in zip(keys, values)]
        return values
