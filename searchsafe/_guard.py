"""Guard: a policy applied to the classifier's scores, one decision per query.

How a decision is made, for one market:

1. The model flags every category whose score reaches the market's threshold
   (the model's own unless the policy sets one). The model's action is the
   most severe action of the flagged categories (``allow`` when none is); it
   escalates when a flagged category escalates and its score reaches the
   category's ``escalate_threshold`` (default: its threshold).
2. Override entries are matched on :func:`match_key` of the query:
   ``exact`` entries on the whole query, ``term`` entries anywhere inside it.
   The most specific entry decides:

   - an ``exact`` entry beats every ``term`` entry;
   - a ``term`` match inside a longer ``term`` match is masked by it when the
     longer one is an ``allow`` entry (allow ``爆弾おにぎり`` masks block ``爆弾``
     there, but not in ``爆弾おにぎり 爆弾``);
   - among the unmasked entries, any restrictive one (not ``allow``) beats
     ``allow`` entries, and the most severe of them wins.

3. An ``allow`` entry beats the model: the decision is ``allow``, nothing
   escalates and no help is shown. A restrictive entry only adds severity:
   the decision is the more severe of the entry's action and the model's, and
   it escalates when the model or the entry does.

``help`` is the resource of a flagged category whose action is ``help`` (or
the market's for a ``help`` override), whenever the decision is not an
``allow`` override, even when another category blocks: show it above the
block page.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import operator
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Sequence

import numpy as np

from ._cache import LRUCache, check_cache_size
from ._categories import CATEGORIES
from ._errors import InvalidParameterError
from ._features import iter_texts
from ._normalize import MAX_QUERY_CHARS
from ._policy import ACTIONS, MarketPolicy, Override, Policy, TermMatcher, match_key, read_policy

__all__ = ["Guard", "Decision", "ActionArray", "load_policy", "policy_diff"]

_ALLOW = 0
_NO_OVERRIDE = -1


@dataclass(frozen=True)
class Decision:
    """What the backend does with one query.

    Attributes
    ----------
    action : str
        One of :data:`searchsafe.ACTIONS`.
    categories : list of str
        Categories the model flagged under this market's thresholds (taxonomy order).
    scores : dict
        The model's probability per category.
    override : str or None
        The id of the override entry that decided, if one did.
    escalate : bool
        Send the query to human review.
    help : dict or None
        A help resource (``name``, ``phone``, ``url``, maybe ``hours`` and ``also``) to show above results.
    reason : str
        Why, in one line, for logs and reviewers.
    market : str
    policy_version : str
    """

    action: str
    categories: list[str]
    scores: dict[str, float]
    override: str | None
    escalate: bool
    help: dict[str, Any] | None
    reason: str
    market: str
    policy_version: str

    @property
    def code(self) -> int:
        """The action's index in :data:`searchsafe.ACTIONS` (what ``decide_batch`` returns)."""
        return ACTIONS.index(self.action)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "categories": self.categories, "scores": self.scores,
            "override": self.override, "escalate": self.escalate, "help": self.help,
            "reason": self.reason, "market": self.market, "policy_version": self.policy_version,
        }


class ActionArray(np.ndarray):
    """An int8 array of action codes, shape ``(n,)``, with ``.escalate``: bool array of the same shape.

    Indexing it (slices, masks, fancy indices) indexes ``.escalate`` alike;
    arithmetic and comparisons give plain arrays.
    """

    escalate: np.ndarray

    def __new__(cls, codes: np.ndarray, escalate: np.ndarray) -> "ActionArray":
        obj = np.asarray(codes, dtype=np.int8).view(cls)
        obj.escalate = np.asarray(escalate, dtype=bool)
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        if not hasattr(self, "escalate"):
            self.escalate = getattr(obj, "escalate", None) if obj is not None and obj.shape == self.shape else None

    def __getitem__(self, index: Any) -> Any:
        out = super().__getitem__(index)
        if isinstance(out, ActionArray):
            out.escalate = self.escalate[index]
        return out

    def __array_wrap__(self, arr: np.ndarray, context: Any = None, return_scalar: bool = False) -> Any:
        out = arr.view(np.ndarray)
        return out[()] if return_scalar else out

    def __reduce__(self):  # multiprocessing pickles results: keep .escalate
        return (ActionArray, (np.asarray(self).copy(), self.escalate))


class _State:
    """Everything one policy version needs at decision time; swapped as one reference."""

    def __init__(self, policy: Policy, classifier: Any, cache_size: int, matcher: str):
        self.policy = policy
        self.markets: dict[str, _Compiled] = {
            name: _Compiled(m, classifier, matcher) for name, m in policy.markets.items()
        }
        self.cache = LRUCache(cache_size) if cache_size else None
        now = time.time()
        expiries = [t for m in policy.markets.values() for o in m.overrides if (t := o.expires_at()) > now]
        # A cached decision may rest on an entry that expires; the cache is dropped then.
        self.valid_until = min(expiries, default=math.inf)


class _Compiled:
    """One market's policy as arrays and a matcher."""

    def __init__(self, market: MarketPolicy, classifier: Any, matcher: str):
        self.market = market
        cats = classifier.categories
        if tuple(cats) != CATEGORIES:
            raise InvalidParameterError(f"the classifier's categories {cats} are not searchsafe's {CATEGORIES}")
        rules = [market.categories[c] for c in cats]
        self.thresholds = np.array(
            [r.threshold if r.threshold is not None else classifier.thresholds[c] for r, c in zip(rules, cats)],
            dtype=np.float32,
        )
        self.action_codes = np.array([ACTIONS.index(r.action) for r in rules], dtype=np.int8)
        self.escalates = np.array([r.escalate for r in rules], dtype=bool)
        self.escalate_at = np.array(
            [r.escalate_threshold if r.escalate_threshold is not None else t for r, t in zip(rules, self.thresholds)],
            dtype=np.float32,
        )
        self.helps = [r.help if r.action == "help" else None for r in rules]
        # Python floats hold float32 values exactly, so comparing them equals comparing the arrays.
        self.threshold_list: list[float] = self.thresholds.tolist()
        self.action_list: list[int] = self.action_codes.tolist()
        self.overrides: tuple[Override, ...] = market.overrides
        self.exact = {o.key: i for i, o in enumerate(market.overrides) if o.match == "exact"}
        terms = {o.key: i for i, o in enumerate(market.overrides) if o.match == "term"}
        self.terms = TermMatcher(terms, backend=matcher)
        self.expires = [o.expires_at() for o in market.overrides]

    def resolve(self, key: str, now: float) -> int:
        """Index of the override entry that decides for a query's match key, or -1."""
        live = self.expires
        i = self.exact.get(key)
        if i is not None and live[i] > now:
            return i
        found = [(s, e, j) for s, e, j in self.terms.find(key) if live[j] > now]
        if not found:
            return _NO_OVERRIDE
        ov = self.overrides
        allows = [(s, e) for s, e, j in found if ov[j].action == "allow"]
        best, best_rank = _NO_OVERRIDE, None
        for s, e, j in found:
            o = ov[j]
            if o.action != "allow" and any(a <= s and e <= b and b - a > e - s for a, b in allows):
                continue  # masked by a longer allow match around it
            # Restrictive beats allow; then more severe; then longer; then earlier.
            rank = (o.action != "allow", o.code, e - s, -s)
            if best_rank is None or rank > best_rank:
                best, best_rank = j, rank
        return best


_CODE, _ESCALATE = operator.itemgetter(0), operator.itemgetter(1)


class Guard:
    """A policy for one or more markets over a classifier: decisions, not scores.

    Get one with :func:`searchsafe.load_policy`. ``decide`` and ``decide_batch``
    give the same answers; one guard may be shared by any number of threads,
    and :meth:`reload` swaps the policy atomically under them.

    Examples
    --------
    >>> import searchsafe
    >>> guard = searchsafe.load_policy(market="jp")
    >>> guard.decide("猫 飼い方").action
    'allow'
    >>> codes = guard.decide_batch(["猫 飼い方", "東京 天気"])
    >>> codes.tolist(), codes.escalate.tolist()
    ([0, 0], [False, False])
    """

    def __init__(
        self,
        policy: Policy,
        classifier: Any,
        *,
        market: str | None = None,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        defaults: bool = True,
        cache_size: int = 65536,
        matcher: str = "auto",
        log: str | os.PathLike[str] | IO[str] | None = None,
        log_queries: bool = False,
    ):
        self.classifier = classifier
        self._paths = [Path(p) for p in paths] if paths else []
        self._defaults = defaults
        self._cache_size = check_cache_size(cache_size)
        if matcher not in ("auto", "ahocorasick", "python"):
            raise InvalidParameterError(f"matcher must be 'auto', 'ahocorasick' or 'python'; got {matcher!r}")
        self._matcher = matcher
        self._reload_lock = threading.Lock()
        self._check_market(policy, market)
        self.market = market
        self._state = _State(policy, classifier, self._cache_size, matcher)
        self._log_lock = threading.Lock()
        self._log_queries = log_queries
        self._log_file: IO[str] | None = None
        self._own_log = False
        if log is not None:
            if isinstance(log, (str, os.PathLike)):
                self._log_file = open(log, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._own_log = True
            else:
                self._log_file = log

    # -- policy --------------------------------------------------------------
    @staticmethod
    def _check_market(policy: Policy, market: str | None) -> None:
        if market is not None and market not in policy.markets:
            raise InvalidParameterError(
                f"market must be one of {', '.join(map(repr, policy.markets))}; got {market!r}"
            )

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self._state.policy

    @property
    def cache(self) -> LRUCache | None:
        """The head-query cache of the policy in force (a new one after each reload), or None."""
        return self._state.cache

    @property
    def matcher(self) -> str:
        """Which term matcher is running: ``'ahocorasick'`` or ``'python'``."""
        return next(iter(self._state.markets.values())).terms.backend

    def __repr__(self) -> str:
        p = self.policy
        n = sum(len(m.overrides) for m in p.markets.values())
        return (
            f"<searchsafe.Guard markets={sorted(p.markets)} market={self.market!r} version={p.version!r} overrides={n}>"
        )

    def reload(self) -> Policy:
        """Re-read the policy files and swap the new policy in, atomically.

        Threads deciding during a reload see the old policy or the new one,
        never a mix. An invalid new version raises :class:`searchsafe.PolicyError`
        and the old one stays in force.
        """
        with self._reload_lock:
            policy = read_policy(self._paths or None, defaults=self._defaults)
            self._check_market(policy, self.market)
            state = _State(policy, self.classifier, self._cache_size, self._matcher)
            self._state = state  # one reference assignment: atomic under the GIL
            return policy

    # -- deciding ------------------------------------------------------------
    def _market_of(self, state: _State, market: str | None) -> _Compiled:
        name = market or self.market
        if name is None and len(state.markets) == 1:
            name = next(iter(state.markets))
        if name is None:
            raise InvalidParameterError(
                f"market is required: this guard holds markets {', '.join(state.markets)}; "
                "pass market= to decide() or to load_policy()"
            )
        compiled = state.markets.get(name)
        if compiled is None:
            raise InvalidParameterError(f"market must be one of {', '.join(map(repr, state.markets))}; got {name!r}")
        return compiled

    def _current(self) -> _State:
        state = self._state
        if time.time() >= state.valid_until:
            # An override expired since the cache filled: start a fresh cache.
            with self._reload_lock:
                if self._state is state:
                    self._state = _State(state.policy, self.classifier, self._cache_size, self._matcher)
                state = self._state
        return state

    @staticmethod
    def _rows(m: _Compiled, items: Sequence[str | None], scores: np.ndarray, now: float) -> list[tuple]:
        flags = scores >= m.thresholds
        model_codes = np.where(flags, m.action_codes, 0).max(axis=1, initial=0)
        model_esc = (flags & m.escalates & (scores >= m.escalate_at)).any(axis=1)
        has_overrides = bool(m.overrides)
        rows = []
        for i, q in enumerate(items):
            ov = m.resolve(match_key(q), now) if has_overrides and q else _NO_OVERRIDE
            code, esc = int(model_codes[i]), bool(model_esc[i])
            if ov != _NO_OVERRIDE:
                o = m.overrides[ov]
                if o.action == "allow":
                    code, esc = _ALLOW, False
                else:
                    code, esc = max(code, o.code), esc or o.escalate
            rows.append((code, esc, ov, scores[i].copy()))
        return rows

    def _decide_rows(self, state: _State, m: _Compiled, items: list[str | None]) -> list[tuple]:
        now = time.time()
        cache = state.cache
        if cache is None:
            return self._rows(m, items, self.classifier.score_batch(items), now)
        name, cut = m.market.name, MAX_QUERY_CHARS
        # Decisions read only the first MAX_QUERY_CHARS characters (scoring and matching both cut there).
        keys = [(name, q[:cut] if q else "") for q in items]

        def compute(positions: list[int]) -> list[tuple]:
            todo = [items[i] for i in positions]
            return self._rows(m, todo, self.classifier.score_batch(todo), now)

        return cache.lookup(keys, compute)

    def decide_batch(self, queries: Iterable[str | None], *, market: str | None = None) -> ActionArray:
        """Action codes for a batch of queries: an :class:`ActionArray` of int8, shape (n,).

        ``ACTIONS[code]`` names each; ``.escalate`` is a bool array of the same
        shape. The numbers equal ``decide(q).code`` and ``decide(q).escalate``.

        Examples
        --------
        >>> import searchsafe
        >>> guard = searchsafe.load_policy(market="kr")
        >>> a = guard.decide_batch(["고양이 사료 추천", "서울 날씨"])
        >>> [searchsafe.ACTIONS[c] for c in a], a.escalate.tolist()
        (['allow', 'allow'], [False, False])
        """
        items = iter_texts(queries)
        state = self._current()
        m = self._market_of(state, market)
        rows = self._decide_rows(state, m, items)
        n = len(rows)
        codes = np.fromiter(map(_CODE, rows), dtype=np.int8, count=n)
        esc = np.fromiter(map(_ESCALATE, rows), dtype=bool, count=n)
        if self._log_file is not None:
            self._log(state, m, items, rows)
        return ActionArray(codes, esc)

    def decide(self, query: str | None, *, market: str | None = None) -> Decision:
        """The decision for one query, with its categories, scores, override, help and reason.

        Examples
        --------
        >>> import searchsafe
        >>> d = searchsafe.load_policy(market="jp").decide("東京 天気")
        >>> d.action, d.categories, d.override, d.escalate, d.help
        ('allow', [], None, False, None)
        """
        if query is not None and not isinstance(query, str):
            raise TypeError(f"query must be str or None; got {type(query).__name__}")
        state = self._current()
        m = self._market_of(state, market)
        row = self._decide_rows(state, m, [query])[0]
        if self._log_file is not None:
            self._log(state, m, [query], [row])
        return self._decision(state, m, row)

    def _decision(self, state: _State, m: _Compiled, row: tuple) -> Decision:
        code, esc, ov, scores = row
        values = scores.tolist()  # one call instead of a numpy scalar per category
        cats = [c for c, s, t in zip(CATEGORIES, values, m.threshold_list) if s >= t]
        score_map = dict(zip(CATEGORIES, values))
        o = m.overrides[ov] if ov != _NO_OVERRIDE else None
        help_ = None
        if o is None or o.action != "allow":
            for s, t, h in zip(values, m.threshold_list, m.helps):
                if h is not None and s >= t:
                    help_ = h
                    break
            if help_ is None and o is not None and o.action == "help":
                help_ = m.market.help_for_override()
        if o is not None:
            reason = f"{o.match} override {o.id!r} ({o.action}, ticket {o.ticket}): {o.reason}"
        elif cats:
            worst = max(cats, key=lambda c: m.action_list[CATEGORIES.index(c)])
            j = CATEGORIES.index(worst)
            reason = f"{worst} {score_map[worst]:.3f} >= {m.threshold_list[j]:.3f}: {ACTIONS[code]}"
        else:
            reason = "no category reached its threshold"
        return Decision(
            action=ACTIONS[code], categories=cats, scores=score_map, override=o.id if o else None, escalate=esc,
            help=help_, reason=reason, market=m.market.name, policy_version=state.policy.version,
        )

    def explain_batch(self, queries: Iterable[str | None], *, market: str | None = None) -> list[Decision]:
        """Full :class:`Decision` objects for a batch (what ``decide`` gives, one per query)."""
        items = iter_texts(queries)
        state = self._current()
        m = self._market_of(state, market)
        rows = self._decide_rows(state, m, items)
        if self._log_file is not None:
            self._log(state, m, items, rows)
        return [self._decision(state, m, r) for r in rows]

    # -- logging -------------------------------------------------------------
    def _log(self, state: _State, m: _Compiled, items: Sequence[str | None], rows: Sequence[tuple]) -> None:
        ts = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        lines = []
        for q, (code, esc, ov, scores) in zip(items, rows):
            rec: dict[str, Any] = {"ts": ts}
            if self._log_queries:
                rec["query"] = q
            rec["query_sha256"] = hashlib.sha256((q or "").encode("utf-8", "surrogatepass")).hexdigest()
            flags = scores >= m.thresholds
            rec.update({
                "market": m.market.name,
                "action": ACTIONS[code],
                "escalate": esc,
                "categories": [c for c, f in zip(CATEGORIES, flags) if f],
                "scores": {c: round(float(s), 6) for c, s in zip(CATEGORIES, scores)},
                "override": m.overrides[ov].id if ov != _NO_OVERRIDE else None,
                "policy_version": state.policy.version,
                "policy_sha256": state.policy.sha256,
            })
            lines.append(json.dumps(rec, ensure_ascii=False))
        text = "\n".join(lines) + "\n"
        with self._log_lock:
            f = self._log_file
            if f is not None:
                f.write(text)
                f.flush()

    def close(self) -> None:
        """Close the decision log if the guard opened it."""
        with self._log_lock:
            if self._own_log and self._log_file is not None:
                self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "Guard":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def load_policy(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    market: str | None = None,
    classifier: Any = None,
    defaults: bool = True,
    cache_size: int = 65536,
    matcher: str = "auto",
    log: str | os.PathLike[str] | IO[str] | None = None,
    log_queries: bool = False,
) -> Guard:
    """Load a search policy and return a :class:`Guard` that decides per query.

    Parameters
    ----------
    path : path or list of paths, optional
        Policy TOML files, layered in order over the shipped ``jp``/``kr``
        defaults; none gives the defaults alone.
    market : str, optional
        The market ``decide`` uses when none is passed per call.
    classifier : Classifier, optional
        The scorer; default ``searchsafe.load()``.
    defaults : bool
        Layer over the shipped defaults (True), or use the files alone.
    cache_size : int
        Decisions of this many recent distinct queries are kept (exact LRU on
        the query text, per market); 0 turns the cache off. Answers never change.
    matcher : {"auto", "ahocorasick", "python"}
        Term matcher: pyahocorasick when installed (auto), or the pure-Python
        reference; both give the same matches.
    log : path or text file, optional
        Append one JSON line per decision (query sha256, market, action,
        categories, scores, override id, policy version).
    log_queries : bool
        Also log the query text (off by default: queries can identify people).

    Raises
    ------
    searchsafe.PolicyError
        An invalid file, naming file, line and entry.

    Examples
    --------
    >>> import searchsafe
    >>> guard = searchsafe.load_policy(market="jp")
    >>> guard.policy.markets["jp"].categories["self_harm"].help["phone"]
    '0570-064-556'
    """
    paths: list[str | os.PathLike[str]]
    if path is None:
        paths = []
    elif isinstance(path, (str, os.PathLike)):
        paths = [path]
    else:
        paths = list(path)
    policy = read_policy(paths or None, defaults=defaults)
    if classifier is None:
        from ._classifier import load

        classifier = load()
    return Guard(
        policy, classifier, market=market, paths=paths, defaults=defaults, cache_size=cache_size,
        matcher=matcher, log=log, log_queries=log_queries,
    )


def policy_diff(
    old: Guard, new: Guard, queries: Iterable[str | None], *, market: str | None = None, examples: int = 5
) -> dict[str, Any]:
    """How the decisions of *new* differ from *old* on *queries*: the impact of a policy change.

    Returns a dict with ``total``, ``changed``, ``transitions`` (``{"from -> to":
    count}``, most frequent first), ``escalations`` (``{"added": n, "removed": n}``)
    and ``examples`` (up to *examples* queries per transition). Scores are
    computed once; both guards must share one classifier.

    Examples
    --------
    >>> import searchsafe
    >>> g = searchsafe.load_policy(market="jp")
    >>> policy_diff(g, g, ["猫 飼い方"])["changed"]
    0
    """
    if old.classifier is not new.classifier:
        raise InvalidParameterError(
            "policy_diff needs two guards over one classifier (pass classifier= to load_policy)"
        )
    items = iter_texts(queries)
    so, sn = old._current(), new._current()
    mo, mn = old._market_of(so, market), new._market_of(sn, market)
    scores = old.classifier.score_batch(items)
    now = time.time()
    ro = Guard._rows(mo, items, scores, now)
    rn = Guard._rows(mn, items, scores, now)
    transitions: dict[str, int] = {}
    shown: dict[str, list[dict[str, Any]]] = {}
    added = removed = changed = 0
    for q, a, b in zip(items, ro, rn):
        if a[1] != b[1]:
            added += b[1]
            removed += a[1]
        if a[0] == b[0] and a[1] == b[1]:
            continue
        changed += 1
        t = f"{ACTIONS[a[0]]} -> {ACTIONS[b[0]]}"
        if a[1] != b[1]:
            t += " (escalation added)" if b[1] else " (escalation removed)"
        transitions[t] = transitions.get(t, 0) + 1
        ex = shown.setdefault(t, [])
        if len(ex) < examples:
            ex.append({
                "query": q, "old": old._decision(so, mo, a).as_dict(), "new": new._decision(sn, mn, b).as_dict(),
            })
    order = sorted(transitions, key=lambda t: (-transitions[t], t))
    return {
        "market": mo.market.name,
        "old_version": so.policy.version,
        "new_version": sn.policy.version,
        "total": len(items),
        "changed": changed,
        "transitions": {t: transitions[t] for t in order},
        "escalations": {"added": added, "removed": removed},
        "examples": {t: shown[t] for t in order},
    }
