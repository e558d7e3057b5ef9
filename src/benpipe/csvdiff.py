"""Keyed CSV comparison: the one home of "what was added, removed, changed".

A keyed CSV has a header and one row per key (its first column).  The L1C
hash diff, the catalogue search diff and ``verify`` all compare a produced
CSV with its tracked copy this way.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
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
