"""Search policies: per-market actions, thresholds, help resources and override lists.

A policy is data (TOML, and CSV for long override lists), never code. Files
are layered over the shipped defaults (``searchsafe/policies/default.toml``):
what a file leaves out keeps the default. Everything is validated before a
policy exists, so a caller gets a complete policy or a :class:`PolicyError`
naming file, line and entry, never half of one.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import math
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from ._categories import CATEGORIES
from ._errors import PolicyError, PolicyWarning
from ._normalize import _KANA_FOLD, normalize
from ._terms import TermMatcher

__all__ = [
    "ACTIONS",
    "Override",
    "CategoryRule",
    "MarketPolicy",
    "Policy",
    "read_policy",
    "default_policy_path",
    "match_key",
    "TermMatcher",
]

#: The actions a decision can take, mildest first; a decision's code is its index.
#: Each action includes the milder ones (``help`` also keeps the query out of
#: autocomplete and down-ranks results).
ACTIONS: tuple[str, ...] = ("allow", "downrank", "no_autocomplete", "help", "block")
_CODE = {a: i for i, a in enumerate(ACTIONS)}
_LANGS = ("ja", "ko")
_HELP_KEYS = ("name", "phone", "url", "hours", "also")
_CATEGORY_KEYS = ("threshold", "action", "escalate", "escalate_threshold", "help")
_MARKET_KEYS = ("language", "help", "categories", "override", "override_files")
_TOP_KEYS = ("version", "market")
_OVERRIDE_REQUIRED = ("match", "text", "action", "reason", "ticket", "author")
_OVERRIDE_KEYS = _OVERRIDE_REQUIRED + ("expires", "escalate", "id")
_CSV_COLUMNS = _OVERRIDE_KEYS


def default_policy_path() -> Path:
    """The shipped default policy (markets ``jp`` and ``kr``)."""
    return Path(str(resources.files("searchsafe").joinpath("policies", "default.toml")))


def _load_toml(data: bytes) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib.loads(data.decode("utf-8"))


# -- normalized matching ------------------------------------------------------

# A space goes unless both its neighbours are Latin letters or digits (normalize leaves single spaces).
_DROPPED_SPACE = re.compile(r"(?<![A-Za-z0-9]) +| +(?![A-Za-z0-9])")


def match_key(text: str) -> str:
    """The form override entries and queries are compared in.

    :func:`searchsafe.normalize`, then katakana folded to hiragana, then every
    space dropped except one between two Latin letters or digits: Japanese
    and Korean spacing is optional, so ``東京 天気`` and ``東京天気`` are one
    query, while ``kill bill`` keeps its word boundary.

    Examples
    --------
    >>> match_key("ﾗｰﾒﾝ  東京")
    'らーめん東京'
    >>> match_key("고양이 사료"), match_key("Kill  Bill")
    ('고양이사료', 'kill bill')
    """
    text = _surface(text).translate(_KANA_FOLD)
    return _DROPPED_SPACE.sub("", text) if " " in text else text


def _surface_function():
    # normalize() in Python was half of an override look-up; the compiled
    # pre-check returns most queries unchanged (it never passes one that
    # normalize() would change) and calls normalize() for the rest.
    from . import _compiled
    from ._normalize import _qwerty_keeps

    sp = _compiled._speedups
    if sp is None or _compiled.forced_pure():
        return normalize
    views = sp.views

    def surface(text: str) -> str:
        return views(text, normalize, _qwerty_keeps)[0]

    return surface


_surface = _surface_function()


# -- the policy objects ------------------------------------------------------

@dataclass(frozen=True)
class Override:
    """One override entry: a normalized text that forces an action."""

    id: str
    match: str  # "exact" or "term"
    text: str  # as written
    key: str  # match_key(text)
    action: str
    reason: str
    ticket: str
    author: str
    expires: _dt.date | None
    escalate: bool
    source: str  # "file:line"

    @property
    def code(self) -> int:
        return _CODE[self.action]

    def expires_at(self) -> float:
        """Epoch seconds at which the entry stops applying (local midnight after its date)."""
        if self.expires is None:
            return math.inf
        day = self.expires + _dt.timedelta(days=1)
        return time.mktime((day.year, day.month, day.day, 0, 0, 0, 0, 0, -1))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "match": self.match, "text": self.text, "action": self.action,
            "reason": self.reason, "ticket": self.ticket, "author": self.author,
            "expires": self.expires.isoformat() if self.expires else None,
            "escalate": self.escalate, "source": self.source,
        }


@dataclass(frozen=True)
class CategoryRule:
    """What a market does with one category: threshold (None = the model's), action, escalation, help."""

    action: str
    threshold: float | None = None
    escalate: bool = False
    escalate_threshold: float | None = None
    help: dict[str, Any] | None = None


@dataclass(frozen=True)
class MarketPolicy:
    """One market's complete, validated policy."""

    name: str
    language: str
    categories: dict[str, CategoryRule]
    overrides: tuple[Override, ...]
    help: dict[str, Any] | None = None

    def help_for_override(self) -> dict[str, Any] | None:
        # An override with action "help" shows the market's resource, else self-harm's.
        return self.help or self.categories["self_harm"].help


@dataclass(frozen=True)
class Policy:
    """A validated policy: every market, where it came from, and its version."""

    markets: dict[str, MarketPolicy]
    sources: tuple[str, ...]
    sha256: str
    declared_version: str | None = None
    expired: tuple[Override, ...] = field(default=())

    @property
    def version(self) -> str:
        """The file's ``version`` string when it has one, else the first 12 hex digits of the sha256."""
        return self.declared_version or self.sha256[:12]


# -- locating lines in TOML text ----------------------------------------------

def _split_dotted(key: str) -> tuple[str, ...]:
    parts, buf, quote = [], "", None
    for ch in key:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    parts.append(buf.strip())
    return tuple(parts)


_KEY_PART = r"""(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')"""
_KEY_LINE = re.compile(rf"^({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


class _Lines:
    """Line numbers of tables, array-of-table entries and keys in one TOML text.

    tomllib reports none, and an error that names no line sends a T&S lead
    hunting through a thousand-entry file.
    """

    def __init__(self, text: str):
        self.tables: dict[tuple[tuple[str, ...], int | None], int] = {}
        self.keys: dict[tuple[tuple[str, ...], int | None, str], int] = {}
        counts: dict[tuple[str, ...], int] = {}
        cur: tuple[tuple[str, ...], int | None] = ((), None)
        in_multiline = False
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if in_multiline:
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = False
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("[["):
                path = _split_dotted(line[2:line.find("]]")])
                idx = counts.get(path, 0)
                counts[path] = idx + 1
                cur = (path, idx)
                self.tables.setdefault(cur, n)
            elif line.startswith("["):
                path = _split_dotted(line[1:line.find("]")])
                cur = (path, None)
                self.tables.setdefault(cur, n)
            else:
                m = _KEY_LINE.match(line)
                if m:
                    kpath = _split_dotted(m.group(1))
                    self.keys.setdefault((cur[0], cur[1], kpath[0]), n)
                    # Dotted keys (categories.sexual.action = ...) open implicit tables.
                    for j in range(1, len(kpath)):
                        self.tables.setdefault((cur[0] + kpath[:j], None), n)
                        self.keys.setdefault((cur[0] + kpath[:j], None, kpath[j]), n)
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = True

    def line(self, path: tuple[str, ...], idx: int | None = None, key: str | None = None) -> int:
        if key is not None and (path, idx, key) in self.keys:
            return self.keys[(path, idx, key)]
        if (path, idx) in self.tables:
            return self.tables[(path, idx)]
        # An inline table or array: the line of the key that holds it.
        for cut in range(len(path) - 1, -1, -1):
            for i in (idx, None):
                k = (path[:cut], i, path[cut])
                if k in self.keys:
                    return self.keys[k]
            if (path[:cut], None) in self.tables:
                return self.tables[(path[:cut], None)]
        return 1


# -- reading -----------------------------------------------------------------

@dataclass
class _Raw:
    """One market's settings as read so far, with where each came from."""

    where: str = ""
    language: str | None = None
    language_at: str = ""
    help: dict[str, Any] | None = None
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    cat_at: dict[str, str] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)


def _names(values: Iterable[str]) -> str:
    return ", ".join(values)


def _check_keys(table: Any, allowed: Sequence[str], where: str, what: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PolicyError(f"{where}: {what} must be a table; got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            raise PolicyError(f"{where}: {what}: unknown key {key!r} (allowed: {_names(allowed)})")
    return table


def _check_help(value: Any, where: str, what: str) -> dict[str, Any]:
    table = _check_keys(value, _HELP_KEYS, where, f"{what}: help")
    if not isinstance(table.get("name"), str) or not table["name"].strip():
        raise PolicyError(f"{where}: {what}: help needs a name")
    if not any(isinstance(table.get(k), str) and table[k].strip() for k in ("phone", "url")):
        raise PolicyError(f"{where}: {what}: help needs a phone or a url")
    for k in ("name", "phone", "url", "hours"):
        if k in table and not isinstance(table[k], str):
            raise PolicyError(f"{where}: {what}: help {k} must be a string; got {table[k]!r}")
    out = {k: table[k] for k in ("name", "phone", "url", "hours") if k in table}
    also = table.get("also", [])
    if not isinstance(also, list):
        raise PolicyError(f"{where}: {what}: help also must be a list of help tables")
    if also:
        out["also"] = [_check_help(a, where, f"{what}: help also[{i}]") for i, a in enumerate(also)]
    return out


def _unit_interval(value: Any, where: str, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 < float(value) < 1.0):
        raise PolicyError(f"{where}: {what}: {name} must be a number strictly between 0 and 1; got {value!r}")
    return float(value)


def _action(value: Any, where: str, what: str) -> str:
    if value not in ACTIONS:
        raise PolicyError(f"{where}: {what}: unknown action {value!r} (actions: {_names(ACTIONS)})")
    return value


def _override(raw: Any, where: str, market: str, index: int, today: _dt.date) -> Override:
    what = f"market {market}, override {index}"
    entry = _check_keys(raw, _OVERRIDE_KEYS, where, what)
    for k in _OVERRIDE_REQUIRED:
        v = entry.get(k)
        if not isinstance(v, str) or not v.strip():
            raise PolicyError(f"{where}: {what}: {k} is required and must be a non-empty string")
    what = f"market {market}, override {index} ({entry['match']} {entry['text']!r})"
    if entry["match"] not in ("exact", "term"):
        raise PolicyError(f"{where}: {what}: match must be 'exact' or 'term'; got {entry['match']!r}")
    action = _action(entry["action"], where, what)
    # Never empty: no non-blank text normalizes to nothing (checked over every BMP character).
    key = match_key(entry["text"])
    expires = entry.get("expires")
    if expires is not None:
        if isinstance(expires, str):
            try:
                expires = _dt.date.fromisoformat(expires)
            except ValueError:
                expires = None
                raise PolicyError(
                    f"{where}: {what}: expires must be a date like 2027-01-31; got {entry['expires']!r}"
                ) from None
        elif isinstance(expires, _dt.datetime) or not isinstance(expires, _dt.date):
            raise PolicyError(f"{where}: {what}: expires must be a date like 2027-01-31; got {expires!r}")
    escalate = entry.get("escalate", False)
    if not isinstance(escalate, bool):
        raise PolicyError(f"{where}: {what}: escalate must be true or false; got {escalate!r}")
    ident = entry.get("id", f"{entry['ticket']}:{entry['text']}")
    if not isinstance(ident, str) or not ident:
        raise PolicyError(f"{where}: {what}: id must be a non-empty string; got {ident!r}")
    return Override(
        id=ident, match=entry["match"], text=entry["text"], key=key, action=action, reason=entry["reason"],
        ticket=entry["ticket"], author=entry["author"], expires=expires, escalate=escalate, source=where,
    )


def _csv_overrides(path: Path, market: str, today: _dt.date) -> list[Override]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}:1: not UTF-8 text ({exc.reason})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in _OVERRIDE_REQUIRED if c not in header]
    if missing:
        raise PolicyError(f"{path}:1: missing column(s) {_names(missing)} (columns: {_names(_CSV_COLUMNS)})")
    unknown = [c for c in header if c not in _CSV_COLUMNS]
    if unknown:
        raise PolicyError(f"{path}:1: unknown column(s) {_names(unknown)} (columns: {_names(_CSV_COLUMNS)})")
    out = []
    for i, row in enumerate(reader, 1):
        if None in row:
            raise PolicyError(f"{path}:{reader.line_num}: row has more fields than the header")
        entry: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        for k in _OVERRIDE_REQUIRED:
            entry.setdefault(k, "")
        if "escalate" in entry:
            low = entry["escalate"].strip().lower()
            entry["escalate"] = True if low == "true" else False if low == "false" else entry["escalate"]
        out.append(_override(entry, f"{path}:{reader.line_num}", market, i, today))
    return out


def _toml_overrides(path: Path, market: str, today: _dt.date, digest: Any) -> list[Override]:
    data = path.read_bytes()
    digest.update(data)
    doc, lines = _parse(path, data)
    _check_keys(doc, ("override",), f"{path}:1", "override file")
    entries = doc.get("override", [])
    if not isinstance(entries, list):
        line = lines.line((), None, "override")
        raise PolicyError(f"{path}:{line}: override must be an array of tables ([[override]])")
    return [
        _override(e, f"{path}:{lines.line(('override',), i)}", market, i + 1, today) for i, e in enumerate(entries)
    ]


def _parse(path: Path, data: bytes) -> tuple[dict[str, Any], _Lines]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}:1: not UTF-8 text ({exc.reason})") from None
    try:
        doc = _load_toml(data)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        message = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", message)
        line = m.group(1) if m else "1"
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
        raise PolicyError(f"{path}:{line}: invalid TOML: {message}") from None
    return doc, _Lines(text)


def _read_file(path: Path, markets: dict[str, _Raw], known: Sequence[str], today: _dt.date, digest: Any) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such policy file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    digest.update(data)
    doc, lines = _parse(path, data)
    at = lambda *p, idx=None, key=None: f"{path}:{lines.line(p, idx, key)}"  # noqa: E731
    for key in doc:
        if key not in _TOP_KEYS:
            raise PolicyError(f"{at(key=key)}: unknown key {key!r} (allowed: {_names(_TOP_KEYS)})")
    version = doc.get("version")
    if version is not None and not isinstance(version, str):
        raise PolicyError(f"{at(key='version')}: version must be a string; got {version!r}")
    all_markets = doc.get("market", {})
    if not isinstance(all_markets, dict):
        raise PolicyError(f"{at(key='market')}: market must be a table of markets ([market.jp])")
    for name, table in all_markets.items():
        if name not in known:
            raise PolicyError(f"{at('market', name)}: unknown market {name!r} (markets: {_names(known)})")
        raw = markets.setdefault(name, _Raw())
        mwhere = at("market", name)
        raw.where = raw.where or mwhere
        _check_keys(table, _MARKET_KEYS, mwhere, f"market {name}")
        if "language" in table:
            lang = table["language"]
            if lang not in _LANGS:
                raise PolicyError(
                    f"{at('market', name, key='language')}: market {name}: language must be one of "
                    f"{_names(_LANGS)}; got {lang!r}"
                )
            raw.language, raw.language_at = lang, at("market", name, key="language")
        if "help" in table:
            raw.help = _check_help(table["help"], at("market", name, key="help"), f"market {name}")
        cats = table.get("categories", {})
        if not isinstance(cats, dict):
            raise PolicyError(f"{at('market', name, key='categories')}: market {name}: categories must be a table")
        for cat, rule in cats.items():
            cwhere = at("market", name, "categories", cat)
            if cat not in CATEGORIES:
                raise PolicyError(
                    f"{cwhere}: market {name}: unknown category {cat!r} (categories: {_names(CATEGORIES)})"
                )
            what = f"market {name}, category {cat}"
            _check_keys(rule, _CATEGORY_KEYS, cwhere, what)
            kat = lambda k: at("market", name, "categories", cat, key=k)  # noqa: E731
            merged = raw.categories.setdefault(cat, {})
            if "action" in rule:
                merged["action"] = _action(rule["action"], kat("action"), what)
            if "threshold" in rule:
                merged["threshold"] = _unit_interval(rule["threshold"], kat("threshold"), what, "threshold")
            if "escalate" in rule:
                if not isinstance(rule["escalate"], bool):
                    raise PolicyError(
                        f"{kat('escalate')}: {what}: escalate must be true or false; got {rule['escalate']!r}"
                    )
                merged["escalate"] = rule["escalate"]
            if "escalate_threshold" in rule:
                merged["escalate_threshold"] = _unit_interval(
                    rule["escalate_threshold"], kat("escalate_threshold"), what, "escalate_threshold"
                )
            if "help" in rule:
                merged["help"] = _check_help(rule["help"], kat("help"), what)
            raw.cat_at[cat] = cwhere
        entries = table.get("override", [])
        if not isinstance(entries, list):
            owhere = at("market", name, key="override")
            raise PolicyError(f"{owhere}: market {name}: override must be an array of tables")
        for i, e in enumerate(entries):
            raw.overrides.append(_override(e, at("market", name, "override", idx=i), name, i + 1, today))
        files = table.get("override_files", [])
        fwhere = at("market", name, key="override_files")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise PolicyError(f"{fwhere}: market {name}: override_files must be a list of file names")
        for f in files:
            ref = (path.parent / f) if not Path(f).is_absolute() else Path(f)
            if ref.suffix.lower() not in (".csv", ".toml"):
                raise PolicyError(f"{fwhere}: market {name}: override file {f!r} must be .csv or .toml")
            if not ref.is_file():
                raise PolicyError(f"{fwhere}: market {name}: override file {f!r} not found (looked for {ref})")
            if ref.suffix.lower() == ".csv":
                digest.update(ref.read_bytes())
                raw.overrides.extend(_csv_overrides(ref, name, today))
            else:
                raw.overrides.extend(_toml_overrides(ref, name, today, digest))
    return version


def _finish(name: str, raw: _Raw, today: _dt.date) -> tuple[MarketPolicy, list[Override]]:
    if raw.language is None:
        raise PolicyError(f"{raw.where}: market {name}: language is missing (one of {_names(_LANGS)})")
    rules = {}
    for cat in CATEGORIES:
        r = raw.categories.get(cat, {})
        where = raw.cat_at.get(cat, raw.where)
        what = f"market {name}, category {cat}"
        if "action" not in r:
            raise PolicyError(f"{where}: {what}: action is missing")
        if "escalate_threshold" in r and not r.get("escalate", False):
            raise PolicyError(f"{where}: {what}: escalate_threshold needs escalate = true")
        help_ = r.get("help") or (raw.help if r["action"] == "help" else None)
        if r["action"] == "help" and help_ is None:
            raise PolicyError(f"{where}: {what}: action 'help' needs a help resource (help = {{ name, phone, url }})")
        rules[cat] = CategoryRule(
            action=r["action"], threshold=r.get("threshold"), escalate=r.get("escalate", False),
            escalate_threshold=r.get("escalate_threshold"), help=help_,
        )
    seen: dict[tuple[str, str], Override] = {}
    ids: dict[str, Override] = {}
    active, expired = [], []
    for o in raw.overrides:
        label = f"{o.source}: market {name}, override {o.match} {o.text!r}"
        prior = seen.get((o.match, o.key))
        if prior is not None:
            if prior.action == o.action:
                raise PolicyError(f"{label}: duplicates the entry at {prior.source} (same normalized text {o.key!r})")
            raise PolicyError(
                f"{label}: contradicts the entry at {prior.source} ({o.action} vs {prior.action} "
                f"for the same normalized text {o.key!r})"
            )
        if o.id in ids:
            raise PolicyError(f"{label}: id {o.id!r} is already used by the entry at {ids[o.id].source}")
        seen[(o.match, o.key)] = o
        ids[o.id] = o
        if o.expires is not None and o.expires < today:
            warnings.warn(
                f"{label}: expired on {o.expires.isoformat()}; it no longer applies (ticket {o.ticket})",
                PolicyWarning,
                stacklevel=5,
            )
            expired.append(o)
        else:
            active.append(o)
    market = MarketPolicy(name=name, language=raw.language, categories=rules, overrides=tuple(active), help=raw.help)
    if any(o.action == "help" for o in active) and market.help_for_override() is None:
        o = next(o for o in active if o.action == "help")
        raise PolicyError(
            f"{o.source}: market {name}: override {o.text!r} has action 'help' but the market has no help resource"
        )
    return market, expired


def read_policy(
    paths: str | Path | Sequence[str | Path] | None = None,
    *,
    defaults: bool = True,
    today: _dt.date | None = None,
) -> Policy:
    """Read and validate policy files layered over the shipped defaults.

    Parameters
    ----------
    paths : path or list of paths, optional
        Policy files, applied in order over the defaults; none means the defaults alone.
    defaults : bool
        Start from the shipped defaults (True) or from nothing, in which case the
        files must define every market they name completely.
    today : datetime.date, optional
        The date expiries are checked against; default today's local date.

    Raises
    ------
    searchsafe.PolicyError
        The first problem found, as ``file:line: market, entry: problem``.

    Examples
    --------
    >>> p = read_policy()
    >>> sorted(p.markets), p.markets["jp"].categories["self_harm"].action
    (['jp', 'kr'], 'help')
    """
    today = today or _dt.date.today()
    if paths is None:
        files: list[Path] = []
    elif isinstance(paths, (str, Path)):
        files = [Path(paths)]
    else:
        files = [Path(p) for p in paths]
    digest = hashlib.sha256()
    markets: dict[str, _Raw] = {}
    base = default_policy_path()
    known: Sequence[str] = _known_markets(base)
    declared = None
    for f in ([base] if defaults else []) + files:
        declared = _read_file(f, markets, known, today, digest) or declared
    finished, expired = {}, []
    for name, raw in markets.items():
        finished[name], gone = _finish(name, raw, today)
        expired.extend(gone)
    if not finished:
        raise PolicyError(f"{files[0] if files else base}:1: the policy defines no market")
    return Policy(
        markets=finished, sources=tuple(str(f) for f in files) or (str(base),), sha256=digest.hexdigest(),
        declared_version=declared, expired=tuple(expired),
    )


_KNOWN: dict[str, tuple[str, ...]] = {}


def _known_markets(base: Path) -> tuple[str, ...]:
    # The markets the package ships policies for; a file may only refine those.
    key = str(base)
    if key not in _KNOWN:
        _KNOWN[key] = tuple(_load_toml(base.read_bytes()).get("market", {}))
    return _KNOWN[key]
