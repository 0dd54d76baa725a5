"""Root-cause analysis of a model's errors on labeled data.

:func:`root_causes` scores labeled rows, takes every false positive and false
negative (one per query and category), and groups them by cause along several
dimensions: the feature that drove the score, the language, the query's
length, the evasion kind, the hard-negative family and the category confusion.
Each cause comes with its count, its share of the errors, examples (largest
score gap first) and the fix it suggests; the specific causes are ranked by how
many errors each explains. This turns sweep and audit results into the next
round of data.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["root_causes", "describe_feature", "length_bin", "RCA_TITLE", "DIMENSIONS"]

RCA_TITLE = "searchsafe root-cause analysis"
#: Length bins in characters (after stripping), with their upper bounds.
LENGTH_BINS = ((3, "1-3 chars"), (6, "4-6 chars"), (10, "7-10 chars"), (20, "11-20 chars"))
DIMENSIONS = ("feature", "hard_negative_family", "evasion", "confusion", "language", "length")
_FEATURE_KINDS = {
    "w": "characters in a word", "c": "characters", "m": "morpheme", "b": "morpheme pair",
    "p": "subword piece", "k": "Korean initials", "l": "language",
}
#: Features asked of explain() per error; the FN cause is the most negative of them.
_EXPLAIN_TOP = 64


def describe_feature(feature: str) -> str:
    """A feature string as people read it: its text and its kind.

    Examples
    --------
    >>> describe_feature("m死ぬ")
    '死ぬ  (morpheme)'
    >>> describe_feature("w 猫")
    '␣猫  (characters in a word)'
    """
    kind = _FEATURE_KINDS.get(feature[:1], "feature")
    body = feature[1:]
    if feature[:1] == "w":
        # Word n-grams carry the word's edges as spaces; show them.
        body = body.replace(" ", "␣")
    return f"{body}  ({kind})"


def length_bin(text: str) -> str:
    """The length bin of a query.

    Examples
    --------
    >>> length_bin("猫"), length_bin("고양이 사료 추천"), length_bin("x" * 30)
    ('1-3 chars', '7-10 chars', '21+ chars')
    """
    n = len(text.strip())
    for bound, name in LENGTH_BINS:
        if n <= bound:
            return name
    return "21+ chars"


def _family(row: Any) -> str | None:
    """A hard negative's family: the first three parts of its group (``ko:violence:term``), else its tag."""
    if "hard_negative" not in row.tags:
        return None
    if row.group:
        return ":".join(str(row.group).split(":")[:3])
    return "(no group)"


def _evasion(row: Any) -> str:
    kinds = [t.split(":", 1)[1] for t in row.tags if t.startswith("evasion:")]
    return ",".join(kinds) if kinds else "none"


def _fix(dimension: str, key: str, kind: str) -> str:
    """The fix a cause suggests."""
    if dimension == "feature":
        if kind == "false_positive":
            return (f"benign examples that contain {key.split('  (')[0]!r} (hard negatives), so its weight drops; "
                    "or an allow-list override for the exact queries")
        if key.startswith("(no"):
            return "labeled examples of these terms, or lexicon entries: the model has no evidence for them"
        return f"positive examples where {key.split('  (')[0]!r} appears, so it stops pulling the score down"
    if dimension == "hard_negative_family":
        return f"more benign examples of the {key} family (and check its labels)"
    if dimension == "evasion":
        return (f"training examples written with {key} spellings, or a normalization rule that undoes them"
                if key != "none" else "the plain spellings: look at the feature and confusion causes")
    if dimension == "confusion":
        return "contrastive examples for the two categories, and a check of the labeling guideline between them"
    if dimension == "language":
        return f"more {key} training data for the categories with the most errors"
    return "short queries are ambiguous: an override list for the frequent ones" if key.startswith("1-3") \
        else "more examples of this length"


def root_causes(
    classifier: Any,
    rows: Sequence[Any],
    *,
    max_examples: int = 5,
    min_count: int = 2,
) -> dict[str, Any]:
    """Group a model's errors on labeled *rows* by cause, as a JSON-ready dict.

    Parameters
    ----------
    classifier : Classifier
    rows : sequence of rows
        Labeled rows with ``where``, ``text``, ``labels``, ``lang``, ``group`` and
        ``tags`` (as :class:`searchsafe._ooc.LabeledRow`).
    max_examples : int
        Examples listed per cause.
    min_count : int
        Specific causes (feature, hard-negative family, evasion, confusion) that
        explain fewer errors are left out of the ranking (they stay in their table).

    Returns
    -------
    dict
        ``n``, ``n_errors`` (``false_positive`` and ``false_negative``),
        ``dimensions`` (per dimension, its causes: ``key``, ``kind``, ``count``,
        ``share`` of that kind's errors, ``examples``, ``fix``, and for language and
        length the ``rows`` of the group and its ``error_rate``) and ``ranked``
        (the specific causes by how many errors each explains).

    Notes
    -----
    The feature behind a false positive is the one that added most to the
    category's logit; behind a false negative, the one that took most away (or
    ``(no feature pulls it down)`` when the query simply has too little evidence).
    """
    from ._lang import detect_language
    from ._normalize import normalize

    cats = list(classifier.categories)
    texts = [r.text for r in rows]
    P = classifier.score_batch(texts) if texts else np.zeros((0, len(cats)), dtype=np.float32)
    thr = np.array([classifier.thresholds[c] for c in cats], dtype=np.float32)
    F = P >= thr
    Y = np.zeros_like(F)
    for i, r in enumerate(rows):
        for c in r.labels:
            if c in cats:
                Y[i, cats.index(c)] = True
    langs = [r.lang or (detect_language(normalize(r.text)) if r.text.strip() else "(none)") for r in rows]
    lengths = [length_bin(r.text) for r in rows]

    errors: list[dict[str, Any]] = []
    for i, j in zip(*np.nonzero(F != Y)):
        kind = "false_positive" if F[i, j] else "false_negative"
        c = cats[j]
        # The language feature acts as a per-language bias, present in every query: not a cause.
        feats = [fv for fv in classifier.explain(rows[i].text, categories=[c], top=_EXPLAIN_TOP)["features"][c]
                 if not fv[0].startswith("l")]
        if kind == "false_positive":
            feature = describe_feature(feats[0][0]) if feats and feats[0][1] > 0 else "(no feature pushes it up)"
            others = [x for x in rows[i].labels if x != c]
            confusion = f"labeled {', '.join(others)}, flagged {c}" if others else None
        else:
            feature = describe_feature(feats[-1][0]) if feats and feats[-1][1] < 0 else "(no feature pulls it down)"
            others = [cats[k] for k in np.nonzero(F[i])[0] if not Y[i, k]]
            confusion = f"labeled {c}, flagged {', '.join(others)}" if others else None
        errors.append({
            "i": int(i), "kind": kind, "category": c, "score": float(P[i, j]), "threshold": float(thr[j]),
            "gap": abs(float(P[i, j] - thr[j])),
            "keys": {
                "feature": feature, "hard_negative_family": _family(rows[i]) if kind == "false_positive" else None,
                "evasion": _evasion(rows[i]) if kind == "false_negative" else None,
                "confusion": confusion, "language": langs[i], "length": lengths[i],
            },
        })
    n_kind = {k: sum(e["kind"] == k for e in errors) for k in ("false_positive", "false_negative")}
    rows_in: dict[str, dict[str, int]] = {"language": {}, "length": {}}
    for lang, length in zip(langs, lengths):
        rows_in["language"][lang] = rows_in["language"].get(lang, 0) + 1
        rows_in["length"][length] = rows_in["length"].get(length, 0) + 1

    def example(e: dict[str, Any]) -> dict[str, Any]:
        r = rows[e["i"]]
        return {"where": r.where, "text": r.text, "category": e["category"], "score": round(e["score"], 4),
                "threshold": round(e["threshold"], 4), "labels": list(r.labels)}

    dimensions: dict[str, list[dict[str, Any]]] = {}
    for dim in DIMENSIONS:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for e in errors:
            key = e["keys"][dim]
            if key is not None:
                groups.setdefault((e["kind"], key), []).append(e)
        causes = []
        for (kind, key), members in groups.items():
            members.sort(key=lambda e: (-e["gap"], e["i"]))
            cause: dict[str, Any] = {
                "key": key, "kind": kind, "count": len(members),
                "share": round(len(members) / n_kind[kind], 4) if n_kind[kind] else None,
                "categories": {c: n for c in cats if (n := sum(m["category"] == c for m in members))},
                "examples": [example(m) for m in members[:max_examples]],
                "fix": _fix(dim, key, kind),
            }
            if dim in rows_in:
                cause["rows"] = rows_in[dim][key]
                cause["error_rate"] = round(len(members) / rows_in[dim][key], 4)
            causes.append(cause)
        causes.sort(key=lambda c: (-c["count"], c["kind"], c["key"]))
        dimensions[dim] = causes
    ranked = [
        {"dimension": dim, **{k: c[k] for k in ("key", "kind", "count", "share", "fix")}}
        for dim in ("feature", "hard_negative_family", "evasion", "confusion")
        for c in dimensions[dim]
        if c["count"] >= min_count and not (dim == "evasion" and c["key"] == "none")
    ]
    ranked.sort(key=lambda c: (-c["count"], c["dimension"], c["key"]))
    return {
        "title": RCA_TITLE,
        "model": {"name": classifier.manifest.get("name")},
        "n": len(rows),
        "categories": cats,
        "thresholds": {c: round(float(t), 4) for c, t in zip(cats, thr)},
        "n_errors": {**n_kind, "total": len(errors)},
        "ranked": ranked,
        "dimensions": dimensions,
    }
