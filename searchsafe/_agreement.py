"""Chance-corrected agreement of binary labels: Cohen's kappa (two raters) and Fleiss' kappa (any number).

Used by ``searchsafe agreement`` (labeler against labeler) and ``searchsafe
labelers`` (each labeler against the gold file). Only numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cohen_kappa", "fleiss_kappa"]


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two raters' binary labels; None when chance agreement is total.

    Examples
    --------
    >>> cohen_kappa(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.5
    >>> cohen_kappa(np.array([0, 0]), np.array([0, 0])) is None
    True
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    observed = float((a == b).mean())
    pa, pb = float(a.mean()), float(b.mean())
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1 - 1e-12:
        return None
    return round((observed - expected) / (1 - expected), 4)


def fleiss_kappa(votes: np.ndarray) -> float | None:
    """Fleiss' kappa of binary votes, shape (items, raters); None when chance agreement is total.

    Examples
    --------
    >>> fleiss_kappa(np.array([[1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 0]]))
    0.6571
    """
    votes = np.asarray(votes, dtype=bool)
    n, m = votes.shape
    pos = votes.sum(axis=1).astype(float)
    neg = m - pos
    per_item = (pos * (pos - 1) + neg * (neg - 1)) / (m * (m - 1))
    p1 = pos.sum() / (n * m)
    expected = p1 ** 2 + (1 - p1) ** 2
    if expected >= 1 - 1e-12:
        return None
    return round((float(per_item.mean()) - float(expected)) / (1 - float(expected)), 4)
