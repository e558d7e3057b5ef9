"""Keyed CSV comparison: the one home of "what was added, removed, changed".

A keyed CSV has a header and one row per key (its first column).  The L1C
hash diff, the catalogue search diff and ``verify`` all compare a produced
CSV with its tracked copy this way.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from benpipe.errors import InputDataError

Row = tuple[str, ...]
V = TypeVar("V")


def read_keyed_csv(path: Path) -> tuple[list[str], dict[str, Row]]:
    """``(header, {first column: rest of the row})`` of a CSV with a header."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputDataError(f"{path} is empty; expected a CSV with a header")
        rows: dict[str, Row] = {}
        for row in reader:
            if row:
                rows[row[0]] = tuple(row[1:])
    return header, rows


@dataclass(frozen=True, slots=True)
class KeyedDiff:
    """Keys only produced, only tracked, and in both with different values."""

    added: list[str]
    removed: list[str]
    changed: list[str]

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff_keyed(produced: Mapping[str, V], tracked: Mapping[str, V]) -> KeyedDiff:
    """Compare two keyed tables; each key list is sorted."""
    return KeyedDiff(
        added=sorted(produced.keys() - tracked.keys()),
        removed=sorted(tracked.keys() - produced.keys()),
        changed=sorted(
            k for k in produced.keys() & tracked.keys() if produced[k] != tracked[k]
        ),
    )


def diff_keyed_csv(
    produced: Path, tracked: Path, *, title: str, max_listed: int = 50
) -> str:
    """A Markdown section comparing two keyed CSVs (added/removed/changed)."""
    lines = [f"## {title}", ""]
    _, new = read_keyed_csv(produced)
    if not Path(tracked).exists():
        lines += [
            f"No tracked copy at `{tracked}` ({len(new)} rows produced).",
            "Review the produced file, then freeze it deliberately.",
            "",
        ]
        return "\n".join(lines)
    _, old = read_keyed_csv(tracked)
    diff = diff_keyed(new, old)
    if not diff.differs:
        lines += [f"Identical to `{tracked}` ({len(new)} rows).", ""]
        return "\n".join(lines)
    lines += [
        f"Differs from `{tracked}`: {len(diff.added)} added, {len(diff.removed)} "
        f"removed, {len(diff.changed)} changed ({len(new)} rows produced, "
        f"{len(old)} tracked).",
        "",
    ]

    def value(row: Row) -> str:
        return ",".join(row)

    for label, keys in (
        ("added", diff.added),
        ("removed", diff.removed),
        ("changed", diff.changed),
    ):
        if not keys:
            continue
        lines += [f"### {label}", ""]
        for key in keys[:max_listed]:
            if label == "changed":
                lines.append(f"- `{key}`: `{value(old[key])}` → `{value(new[key])}`")
            elif label == "added":
                lines.append(f"- `{key}`: `{value(new[key])}`")
            else:
                lines.append(f"- `{key}`: `{value(old[key])}`")
        if len(keys) > max_listed:
            lines.append(f"- … and {len(keys) - max_listed} more")
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SortedDiff:
    """Counts of a streamed keyed diff, with the first rows of each kind."""

    added: int
    removed: int
    changed: int
    added_rows: list[str]
    removed_rows: list[str]
    #: ``(key, produced value, tracked value)``.
    changed_rows: list[tuple[str, Row, Row]]

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _rows(path: Path) -> Iterator[tuple[str, Row]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        if next(reader, None) is None:
            raise InputDataError(f"{path} is empty; expected a CSV with a header")
        previous: str | None = None
        for row in reader:
            if not row:
                continue
            if previous is not None and row[0] <= previous:
                raise InputDataError(
                    f"{path} is not sorted by its first column ({row[0]!r} after "
                    f"{previous!r}); expected a sorted hash list"
                )
            previous = row[0]
            yield row[0], tuple(row[1:])


def diff_sorted_keyed_csvs(
    produced: Path, tracked: Path, *, max_listed: int
) -> SortedDiff:
    """Compare two keyed CSVs sorted by key, streaming (constant memory).

    For hash lists of millions of rows.  Raises :class:`InputDataError` when
    a file is not sorted by its first column.
    """
    added = removed = changed = 0
    added_rows: list[str] = []
    removed_rows: list[str] = []
    changed_rows: list[tuple[str, Row, Row]] = []
    a_iter, b_iter = _rows(produced), _rows(tracked)
    a, b = next(a_iter, None), next(b_iter, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            added += 1
            if len(added_rows) < max_listed:
                added_rows.append(a[0])
            a = next(a_iter, None)
        elif a is None or b[0] < a[0]:
            removed += 1
            if len(removed_rows) < max_listed:
                removed_rows.append(b[0])
            b = next(b_iter, None)
        else:
            if a[1] != b[1]:
                changed += 1
                if len(changed_rows) < max_listed:
                    changed_rows.append((a[0], a[1], b[1]))
            a, b = next(a_iter, None), next(b_iter, None)
    return SortedDiff(added, removed, changed, added_rows, removed_rows, changed_rows)
