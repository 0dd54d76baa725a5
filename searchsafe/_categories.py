"""The harm categories of the labeling policy (docs/LABELING_POLICY.md), in its order."""

from __future__ import annotations

__all__ = ["CATEGORIES", "SEVERITY", "default_target_precision"]

#: The eight categories, in the labeling policy's order. A query may get several.
CATEGORIES: tuple[str, ...] = (
    "child_safety",
    "self_harm",
    "violence",
    "violent_extremism",
    "hate",
    "harassment",
    "sexual",
    "animal_cruelty",
)

#: Severity of each category; thresholds of critical and high ones aim at higher precision.
SEVERITY: dict[str, str] = {
    "child_safety": "critical",
    "self_harm": "high",
    "violence": "high",
    "violent_extremism": "high",
    "hate": "high",
    "harassment": "medium",
    "sexual": "medium",
    "animal_cruelty": "medium",
}


#: The precision a threshold aims at when nobody set one, by severity; other categories take the best F1.
_SEVERITY_PRECISION: dict[str, float] = {"critical": 0.95, "high": 0.9}


def default_target_precision(category: str) -> float | None:
    """The precision *category*'s threshold aims at by default, or None for the best F1.

    One rule for ``QueryClassifier`` and ``searchsafe train`` (the command once
    aimed the critical category at 0.9 while the estimator and the docs said 0.95).

    Examples
    --------
    >>> default_target_precision("child_safety"), default_target_precision("hate"), default_target_precision("sexual")
    (0.95, 0.9, None)
    """
    return _SEVERITY_PRECISION.get(SEVERITY.get(category, ""))
