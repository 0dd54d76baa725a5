"""The repository carries its own labeling policy, and the library, README and datasheet agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import searchsafe
from searchsafe._categories import SEVERITY

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "docs" / "LABELING_POLICY.md"


def table_rows(text: str) -> list[tuple[str, str]]:
    """(category, severity) of each row of a markdown table whose first cell is a `category`."""
    return re.findall(r"^\| `(\w+)` \| (\w+) \|", text, flags=re.MULTILINE)


def test_policy_lists_every_category_in_library_order_with_its_severity() -> None:
    rows = table_rows(POLICY.read_text(encoding="utf-8"))
    assert rows == [(c, SEVERITY[c]) for c in searchsafe.CATEGORIES]


def test_readme_category_table_matches_the_policy() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # The Categories section; the deployment section has its own table of actions per category.
    section = readme[readme.index("## Categories"):readme.index("## How it works")]
    assert table_rows(section) == table_rows(POLICY.read_text(encoding="utf-8"))


@pytest.mark.parametrize("doc", ["README.md", "data/README.md", "data/lexicons/FORMAT.md"])
def test_docs_point_at_the_policy_in_the_repository(doc: str) -> None:
    # A clone from a public host has no ../shared/; only its data may come from there.
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert "TAXONOMY" not in text
    assert "docs/LABELING_POLICY.md" in text
    for target in re.findall(r"\]\(([^)#]+LABELING_POLICY\.md)\)", text):
        assert ((ROOT / doc).parent / target).resolve() == POLICY
