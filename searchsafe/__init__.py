"""searchsafe: harmful-intent scores for Japanese and Korean search queries.

>>> import searchsafe
>>> clf = searchsafe.load()
>>> clf.predict("猫 飼い方")
[]
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._categories import CATEGORIES
from ._classifier import Classifier, load
from ._errors import (
    BackendUnavailableError,
    InvalidParameterError,
    ModelError,
    PolicyError,
    PolicyWarning,
    SearchsafeError,
)
from ._guard import Decision, Guard, load_policy, policy_diff
from ._lang import LANGUAGES, detect_language
from ._normalize import MAX_QUERY_CHARS, normalize
from ._policy import ACTIONS
from ._tokenize import JAPANESE_BACKENDS, KOREAN_BACKENDS


__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "JAPANESE_BACKENDS",
    "KOREAN_BACKENDS",
    "MAX_QUERY_CHARS",
    "Classifier",
    "QueryClassifier",
    "load",
    "normalize",
    "detect_language",
    "SearchsafeError",
    "ModelError",
    "BackendUnavailableError",
    "InvalidParameterError",
    "ACTIONS",
    "Guard",
    "Decision",
    "load_policy",
    "policy_diff",
    "PolicyError",
    "PolicyWarning",
    "__version__",
]


def __getattr__(name: str):
    # Training pulls in scikit-learn; a search backend that only scores never pays for it.
    if name == "QueryClassifier":
        from ._train import QueryClassifier

        return QueryClassifier
    raise AttributeError(f"module 'searchsafe' has no attribute {name!r}")
