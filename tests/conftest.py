"""Shared fixtures: the default model is loaded once per test session."""

from __future__ import annotations

import pytest

import searchsafe


@pytest.fixture(scope="session")
def clf() -> searchsafe.Classifier:
    return searchsafe.load()
