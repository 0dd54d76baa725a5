"""searchsafe: harmful-intent scores for Japanese and Korean search queries.

>>> import searchsafe
>>> clf = searchsafe.load()
>>> clf.predict("猫 飼い方")
[]
"""

from __future__ import annotations

__version__ = "0.1.0"


def _interrupted_import() -> None:
    # Ctrl-C while the `searchsafe` command is still importing numpy and the
    # tokenizers would end in a traceback before main() can catch it.
    import sys

    argv = getattr(sys, "orig_argv", sys.argv)
    command = bool(sys.argv) and sys.argv[0].rsplit("/", 1)[-1] == "searchsafe"
    if command or argv[1:3] == ["-m", "searchsafe"]:
        print("searchsafe: interrupted", file=sys.stderr)
        raise SystemExit(130)


try:
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
except KeyboardInterrupt:
    _interrupted_import()
    raise


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
