"""The exceptions searchsafe raises."""

from __future__ import annotations

__all__ = [
    "SearchsafeError", "ModelError", "BackendUnavailableError", "InvalidParameterError", "PolicyError", "PolicyWarning",
]


class SearchsafeError(Exception):
    """Base class of every error searchsafe raises on purpose."""


class ModelError(SearchsafeError, ValueError):
    """A model directory is missing, tampered with, truncated or of a newer format."""


class BackendUnavailableError(SearchsafeError, ImportError):
    """A tokenizer backend's package, dictionary or runtime is not installed."""


class InvalidParameterError(SearchsafeError, ValueError, TypeError):
    """A parameter has a value or type outside what is allowed.

    Subclasses both ValueError and TypeError, as scikit-learn's does.
    """


class PolicyError(SearchsafeError, ValueError):
    """A policy file is invalid; the message names the file, line and entry."""


class PolicyWarning(UserWarning):
    """A policy loaded, but something in it deserves a look (an expired override entry)."""
