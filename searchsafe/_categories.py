"""The harm categories of the labeling policy (docs/LABELING_POLICY.md), in its order."""

from __future__ import annotations

__all__ = ["CATEGORIES", "SEVERITY"]

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
