"""Keyed CSV comparison (benpipe.csvdiff), shared by L1C hashes, search and verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from benpipe.csvdiff import diff_keyed, diff_keyed_csv, read_keyed_csv
from benpipe.errors import InputDataError


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("name,hash\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def test_diff_lists_added_removed_changed_sorted() -> None:
    diff = diff_keyed({"b": 1, "a": 2, "c": 3}, {"c": 3, "a": 1, "z": 0})
    assert (diff.added, diff.removed, diff.changed) == (["b"], ["z"], ["a"])
    assert diff.differs
    assert not diff_keyed({"a": 1}, {"a": 1}).differs


def test_markdown_section_names_every_difference(tmp_path: Path) -> None:
    new = _csv(tmp_path / "new.csv", [("a", "1"), ("b", "2"), ("c", "9")])
    old = _csv(tmp_path / "old.csv", [("a", "1"), ("c", "3"), ("d", "4")])
    text = diff_keyed_csv(new, old, title="hashes.csv")
    assert text == (
        "## hashes.csv\n\n"
        f"Differs from `{old}`: 1 added, 1 removed, 1 changed "
        "(3 rows produced, 3 tracked).\n\n"
        "### added\n\n- `b`: `2`\n\n"
        "### removed\n\n- `d`: `4`\n\n"
        "### changed\n\n- `c`: `3` → `9`\n"
    )


def test_markdown_section_caps_long_lists(tmp_path: Path) -> None:
    new = _csv(tmp_path / "new.csv", [(f"k{i:02d}", "1") for i in range(5)])
    old = _csv(tmp_path / "old.csv", [])
    text = diff_keyed_csv(new, old, title="t", max_listed=2)
    assert "- `k00`: `1`\n- `k01`: `1`\n- … and 3 more" in text


def test_identical_and_untracked(tmp_path: Path) -> None:
    new = _csv(tmp_path / "new.csv", [("a", "1")])
    assert "Identical to" in diff_keyed_csv(new, new, title="t")
    missing = tmp_path / "absent.csv"
    assert "No tracked copy at" in diff_keyed_csv(new, missing, title="t")


def test_an_empty_file_is_refused_by_name(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputDataError, match="empty.csv is empty"):
        read_keyed_csv(empty)


def test_sorted_csvs_are_diffed_streaming(tmp_path: Path) -> None:
    from benpipe.csvdiff import diff_sorted_keyed_csvs

    a = _csv(tmp_path / "a.csv", [("a", "1"), ("b", "2"), ("d", "4"), ("e", "5")])
    b = _csv(tmp_path / "b.csv", [("b", "2"), ("c", "3"), ("d", "x"), ("f", "6")])
    diff = diff_sorted_keyed_csvs(a, b, max_listed=1)
    assert (diff.added, diff.removed, diff.changed) == (2, 2, 1)
    assert diff.added_rows == ["a"] and diff.removed_rows == ["c"]
    assert diff.changed_rows == [("d", ("4",), ("x",))]
    assert not diff_sorted_keyed_csvs(a, a, max_listed=5).differs
    unsorted = _csv(tmp_path / "u.csv", [("b", "1"), ("a", "2")])
    with pytest.raises(InputDataError, match="not sorted by its first column"):
        diff_sorted_keyed_csvs(unsorted, a, max_listed=5)
