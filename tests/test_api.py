"""The public surface: a short explicit __all__, nothing heavy at import time."""

from __future__ import annotations

import subprocess
import sys

import searchsafe


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(searchsafe.__all__) == sorted([
        "CATEGORIES", "LANGUAGES", "JAPANESE_BACKENDS", "KOREAN_BACKENDS", "MAX_QUERY_CHARS",
        "Classifier", "QueryClassifier", "load", "normalize", "detect_language",
        "SearchsafeError", "ModelError", "BackendUnavailableError", "InvalidParameterError", "__version__",
        "ACTIONS", "Guard", "Decision", "load_policy", "policy_diff", "PolicyError", "PolicyWarning",
    ])
    for name in searchsafe.__all__:
        assert hasattr(searchsafe, name)


def test_import_loads_no_model_or_dictionary() -> None:
    code = (
        "import sys, searchsafe\n"
        "heavy = [m for m in ('fugashi', 'sentencepiece', 'konlpy', 'jpype') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_scoring_does_not_import_training_stack() -> None:
    code = (
        "import sys, searchsafe\n"
        "searchsafe.load().score_batch(['猫', '고양이'])\n"
        "print([m for m in ('sklearn', 'scipy', 'konlpy', 'jpype') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_categories_follow_taxonomy() -> None:
    assert searchsafe.CATEGORIES == (
        "child_safety", "self_harm", "violence", "violent_extremism",
        "hate", "harassment", "sexual", "animal_cruelty",
    )
