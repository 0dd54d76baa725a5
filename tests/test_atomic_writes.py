"""The benchmark scripts write their outputs whole or not at all (temporary file beside it, then os.replace)."""

from __future__ import annotations

import os

import pytest

from benchmarks import _common as C
from benchmarks import _report


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


def test_atomic_write_text_writes_the_text_exactly(tmp_path) -> None:
    path = tmp_path / "RESULTS.md"
    text = "# Results\n\n| a | b |\n|---|---|\n| 猫 | 고양이 |\r\nend without newline"
    C.atomic_write_text(path, text)
    assert path.read_bytes() == text.replace("\n", os.linesep).encode("utf-8")
    C.atomic_write_text(path, "shorter\n")  # replaces, never appends or leaves a tail
    assert path.read_text(encoding="utf-8") == "shorter\n"
    C.atomic_write_text(str(tmp_path / "results.json"), "{}\n")  # a str path, as --json gives
    assert (tmp_path / "results.json").read_text(encoding="utf-8") == "{}\n"
    assert _leftovers(tmp_path) == []


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_a_write_that_fails_part_way_leaves_the_old_file(tmp_path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("previous\n", encoding="utf-8")
    with pytest.raises(TypeError):
        C.atomic_write_text(path, _Unprintable())  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == "previous\n"
    assert _leftovers(tmp_path) == []


def test_a_write_that_fails_after_some_bytes_leaves_the_old_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("previous\n", encoding="utf-8")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        C.atomic_write_text(path, "a long new text\n" * 10_000)
    assert path.read_text(encoding="utf-8") == "previous\n"
    assert _leftovers(tmp_path) == []


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch) -> None:
    path = tmp_path / "README.md"
    path.write_text("previous\n", encoding="utf-8")
    seen = []

    def refuse(src, dst):
        seen.append(os.path.basename(src))
        raise OSError("interrupted")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="interrupted"):
        C.atomic_write_text(path, "new text\n")
    assert path.read_text(encoding="utf-8") == "previous\n"
    assert _leftovers(tmp_path) == []
    # The temporary file was beside the target, hidden, and named .tmp.
    assert len(seen) == 1 and seen[0].startswith(".README.md.") and seen[0].endswith(".tmp")


def test_atomic_savefig_writes_the_format_of_the_suffix_and_cleans_up_on_failure(tmp_path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([1, 2, 3])
    try:
        path = tmp_path / "plot.png"
        C.atomic_savefig(fig, path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = tmp_path / "plot.svg"
        C.atomic_savefig(fig, svg)
        assert b"<svg" in svg.read_bytes()[:2000]
        before = path.read_bytes()
        with pytest.raises(ValueError):
            C.atomic_savefig(fig, path, format="no-such-format")
        assert path.read_bytes() == before
        assert _leftovers(tmp_path) == []
    finally:
        plt.close(fig)


def test_update_readme_replaces_only_the_block_between_the_markers(tmp_path, monkeypatch) -> None:
    readme = tmp_path / "README.md"
    head = "# searchsafe\n\nIntro with 日本語 and 한국어.\n\n"
    tail = "\n\n## Later\n\ntext after the block, no final newline"
    old = head + _report.README_START + "\nold table\n| x |\n" + _report.README_END + tail
    readme.write_bytes(old.encode("utf-8"))
    assert _report.update_readme(readme, "| new | table |\n|---|---|\n\n\n")
    expected = head + _report.README_START + "\n| new | table |\n|---|---|\n" + _report.README_END + tail
    assert readme.read_bytes() == expected.replace("\n", os.linesep).encode("utf-8")
    assert _leftovers(tmp_path) == []
    # Interrupted before the new README is in place: the old one stays whole.
    written = readme.read_bytes()
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _report.update_readme(readme, "| newer |")
    assert readme.read_bytes() == written
    assert _leftovers(tmp_path) == []


def test_update_readme_without_markers_writes_nothing(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_bytes(b"# no markers here\n")
    assert not _report.update_readme(readme, "| table |")
    assert readme.read_bytes() == b"# no markers here\n"
    assert not _report.update_readme(tmp_path / "absent.md", "| table |")
    assert not (tmp_path / "absent.md").exists()
    assert _leftovers(tmp_path) == []
