"""Patch-by-patch comparison of two sets of metadata parquets.

``benpipe compare-metadata OURS PUBLISHED`` and the ``metadata_content``
section of ``verify`` (when ``verify.published_metadata_dir`` is set) compare
the metadata of a rebuild with the published ``metadata.parquet`` and
``metadata_for_patches_with_snow_cloud_or_shadow.parquet``
(REFERENCE-PIPELINE.md §6.1, §8.2).  The parquet *bytes* cannot match (the
reference wrote them with DuckDB, benpipe with pyarrow); their *content* can,
and this says where it does not:

* the patches found on one side only;
* for the patches of both sides, each column that differs: ``labels`` (which
  labels were added, i.e. are in ours only, or removed, i.e. are in the
  published row only), ``split``, ``country``, ``s1_name``,
  ``s2v1_name``, the two flags, and ``parquet`` (which of the two files holds
  the patch);
* counts per column, per tile (the patch id without ``_<x>_<y>``) and per
  value change (``train -> test``), and the first ``max_listed`` examples.

Both sides are read with pyarrow and joined with pandas, vectorised: the
full published files (549 488 patches) compare in a few seconds.  Only the
rows that differ are looked at one by one (labels added/removed).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benpipe.dataset.layout import METADATA_COLUMNS, METADATA_FILES
from benpipe.errors import InputDataError

logger = logging.getLogger(__name__)

#: The metadata columns compared, in report order (patch_id is the key).
VALUE_COLUMNS: tuple[str, ...] = METADATA_COLUMNS[1:]
#: Plus ``parquet``: which of the two files holds the patch.
COMPARED_COLUMNS: tuple[str, ...] = (*VALUE_COLUMNS, "parquet")
#: Joins the labels of one patch into one comparable string (no label has it).
_LABEL_SEP = "\x1f"
_NULL = "<null>"


@dataclass(frozen=True, slots=True)
class MetadataComparison:
    """The result of :func:`compare_metadata` (see :meth:`to_json`)."""

    ours: dict[str, Any]
    published: dict[str, Any]
    only_ours: dict[str, Any]
    only_published: dict[str, Any]
    columns: dict[str, dict[str, Any]]
    common: int
    #: Common patches with at least one differing column.
    differing_patches: int
    max_listed: int

    @property
    def identical(self) -> bool:
        """No patch on one side only, no column differing on a common patch."""
        return not (
            self.only_ours["count"]
            or self.only_published["count"]
            or any(c["differ"] for c in self.columns.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "ours": self.ours,
            "published": self.published,
            "patches": {
                "common": self.common,
                "only_ours": self.only_ours["count"],
                "only_published": self.only_published["count"],
                "common_with_differences": self.differing_patches,
            },
            "only_ours": self.only_ours,
            "only_published": self.only_published,
            "columns": self.columns,
            "max_listed": self.max_listed,
        }


# ---------------------------------------------------------------- reading
def _parquet_files(source: Path) -> list[Path]:
    """The parquets of ``source``: a folder holding both, or one parquet file."""
    if source.is_dir():
        files = [source / name for name in METADATA_FILES]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InputDataError(
                f"{source} lacks {', '.join(missing)}; expected a folder with "
                f"{' and '.join(METADATA_FILES)} (a dataset folder or the published "
                "download), or pass the parquet files themselves"
            )
        return files
    if source.is_file():
        return [source]
    raise InputDataError(
        f"{source} does not exist; expected a folder with {' and '.join(METADATA_FILES)} "
        "or a metadata parquet file"
    )


def _read_one(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputDataError(f"cannot read {path} as parquet: {exc}") from exc
    missing = [c for c in ("patch_id", *VALUE_COLUMNS) if c not in table.column_names]
    if missing:
        raise InputDataError(
            f"{path} has no column(s) {', '.join(missing)}; expected the metadata "
            f"schema patch_id, {', '.join(VALUE_COLUMNS)} (REFERENCE-PIPELINE §6.1)"
        )
    columns: dict[str, Any] = {"patch_id": table["patch_id"]}
    labels = table["labels"]
    if not pa.types.is_list(labels.type) and not pa.types.is_large_list(labels.type):
        raise InputDataError(
            f"{path}: labels is {labels.type}, expected a list of strings"
        )
    columns["labels"] = pc.fill_null(pc.binary_join(labels, _LABEL_SEP), _NULL)
    for name in VALUE_COLUMNS[1:]:
        column = table[name]
        if pa.types.is_boolean(column.type):
            column = pc.if_else(column, "true", "false")
        columns[name] = pc.fill_null(pc.cast(column, pa.string()), _NULL)
    frame = pa.table(columns).to_pandas()
    frame["parquet"] = path.name
    return frame


def read_metadata(source: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All patches of ``source`` (both parquets), and a summary of what was read.

    Columns: ``patch_id``, the value columns as strings (labels joined),
    ``parquet``.  A patch id that occurs twice is an :class:`InputDataError`.
    """
    files = _parquet_files(source)
    frames = [_read_one(path) for path in files]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    dups = frame["patch_id"][frame["patch_id"].duplicated()]
    if len(dups):
        shown = ", ".join(sorted(map(str, dups.unique()))[:5])
        raise InputDataError(
            f"{source}: {len(dups)} patch id(s) occur more than once ({shown}); "
            "each patch must be in exactly one row of one parquet"
        )
    summary = {
        "path": str(source),
        "patches": len(frame),
        "files": {path.name: len(f) for path, f in zip(files, frames, strict=True)},
    }
    return frame, summary


# ---------------------------------------------------------------- comparing
def _tiles(patch_ids: pd.Series) -> pd.Series:
    return patch_ids.str.replace(r"_\d+_\d+$", "", regex=True)


def _per_tile(patch_ids: pd.Series) -> dict[str, int]:
    counts = _tiles(patch_ids).value_counts()
    return {
        str(k): int(v)
        for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    }


def _only(frame: pd.DataFrame, max_listed: int) -> dict[str, Any]:
    ids = frame["patch_id"].sort_values()
    return {
        "count": len(ids),
        "per_tile": _per_tile(ids),
        "examples": [str(x) for x in ids.head(max_listed)],
    }


def _labels(value: str) -> set[str]:
    return set(value.split(_LABEL_SEP)) if value and value != _NULL else set()


def _column_diff(common: pd.DataFrame, column: str, max_listed: int) -> dict[str, Any]:
    ours, pub = common[f"{column}_ours"], common[f"{column}_pub"]
    rows = common[ours != pub].sort_values("patch_id")
    out: dict[str, Any] = {"differ": len(rows)}
    if not len(rows):
        return out
    out["per_tile"] = _per_tile(rows["patch_id"])
    if column == "labels":
        added: Counter[str] = Counter()
        removed: Counter[str] = Counter()
        examples: list[dict[str, Any]] = []
        for patch_id, a, b in zip(
            rows["patch_id"], rows["labels_ours"], rows["labels_pub"], strict=True
        ):
            plus, minus = (
                sorted(_labels(a) - _labels(b)),
                sorted(_labels(b) - _labels(a)),
            )
            added.update(plus)
            removed.update(minus)
            if len(examples) < max_listed:
                examples.append(
                    {"patch_id": str(patch_id), "added": plus, "removed": minus}
                )
        out["labels_added"] = dict(
            sorted(added.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        out["labels_removed"] = dict(
            sorted(removed.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        out["examples"] = examples
        return out
    pairs = (rows[f"{column}_ours"] + " -> " + rows[f"{column}_pub"]).value_counts()
    out["changes"] = {
        str(k): int(v)
        for k, v in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:max_listed]
    }
    out["examples"] = [
        {"patch_id": str(p), "ours": str(a), "published": str(b)}
        for p, a, b in zip(
            rows["patch_id"].head(max_listed),
            rows[f"{column}_ours"].head(max_listed),
            rows[f"{column}_pub"].head(max_listed),
            strict=True,
        )
    ]
    return out


def compare_metadata(
    ours: Path, published: Path, *, max_listed: int = 20
) -> MetadataComparison:
    """Compare the metadata of ``ours`` with ``published`` patch by patch.

    Each side is a folder holding both parquets or a single parquet file.
    Raises :class:`InputDataError` for unreadable files, missing columns or
    duplicate patch ids.
    """
    if max_listed < 1:
        raise InputDataError(f"max_listed must be >= 1, got {max_listed}")
    a, a_summary = read_metadata(ours)
    b, b_summary = read_metadata(published)
    merged = a.merge(
        b, on="patch_id", how="outer", suffixes=("_ours", "_pub"), indicator=True
    )
    side = merged["_merge"]
    only_ours = _only(merged[side == "left_only"], max_listed)
    only_published = _only(merged[side == "right_only"], max_listed)
    common = merged[side == "both"]
    columns = {c: _column_diff(common, c, max_listed) for c in COMPARED_COLUMNS}
    any_differs = pd.Series(False, index=common.index)
    for c in COMPARED_COLUMNS:
        any_differs |= common[f"{c}_ours"] != common[f"{c}_pub"]
    result = MetadataComparison(
        ours=a_summary,
        published=b_summary,
        only_ours=only_ours,
        only_published=only_published,
        columns=columns,
        common=len(common),
        differing_patches=int(any_differs.sum()),
        max_listed=max_listed,
    )
    logger.info(
        "compared %d patches (ours) with %d (published): %d common, %d only ours, "
        "%d only published, %d common with differences",
        a_summary["patches"],
        b_summary["patches"],
        result.common,
        only_ours["count"],
        only_published["count"],
        result.differing_patches,
    )
    return result


# ---------------------------------------------------------------- reports
def summary_line(result: MetadataComparison) -> str:
    """One line: identical, or the counts of what differs."""
    if result.identical:
        return f"identical: {result.common} patches, every column equal"
    parts = [
        f"{result.only_ours['count']} patch(es) only in ours",
        f"{result.only_published['count']} only in published",
        f"{result.differing_patches} of {result.common} common patches differ",
    ]
    cols = [f"{c} {d['differ']}" for c, d in result.columns.items() if d["differ"]]
    if cols:
        parts.append("by column: " + ", ".join(cols))
    return "; ".join(parts)


def render_markdown(result: MetadataComparison, *, level: int = 1) -> str:
    """The human-readable report; ``level`` is the level of its top heading."""
    h = "#" * level
    data = result.to_json()
    lines = [
        f"{h} Metadata comparison: {summary_line(result)}",
        "",
        f"- ours: `{result.ours['path']}` ({result.ours['patches']} patches: "
        + ", ".join(f"{k} {v}" for k, v in result.ours["files"].items())
        + ")",
        f"- published: `{result.published['path']}` ({result.published['patches']} "
        "patches: "
        + ", ".join(f"{k} {v}" for k, v in result.published["files"].items())
        + ")",
        f"- common patches: {result.common}; with differences: "
        f"{data['patches']['common_with_differences']}",
        "",
        f"{h}# Differing columns (common patches)",
        "",
        "| column | patches differing |",
        "|---|---:|",
        *(f"| {c} | {d['differ']} |" for c, d in result.columns.items()),
    ]
    tiles = _tile_table(result)
    if tiles:
        lines += ["", f"{h}# Per tile", "", *tiles]
    for title, only in (
        ("Only in ours", result.only_ours),
        ("Only in published", result.only_published),
    ):
        if not only["count"]:
            continue
        lines += ["", f"{h}# {title}: {only['count']} patch(es)", ""]
        lines += [f"- `{p}`" for p in only["examples"]]
        if only["count"] > len(only["examples"]):
            lines.append(f"- … ({only['count'] - len(only['examples'])} more)")
    for column, diff in result.columns.items():
        if not diff["differ"]:
            continue
        lines += ["", f"{h}# {column}: {diff['differ']} patch(es) differ", ""]
        if column == "labels":
            for key, what in (
                ("labels_added", "added (in ours only)"),
                ("labels_removed", "removed (in published only)"),
            ):
                for label, n in diff[key].items():
                    lines.append(f"- {what}: {label}: {n} patch(es)")
            lines += ["", f"First {result.max_listed}:", ""]
            for ex in diff["examples"]:
                lines.append(
                    f"- `{ex['patch_id']}`: added {ex['added'] or '[]'}, "
                    f"removed {ex['removed'] or '[]'}"
                )
        else:
            lines += [f"- {change}: {n}" for change, n in diff["changes"].items()]
            lines += ["", f"First {result.max_listed} (ours -> published):", ""]
            lines += [
                f"- `{ex['patch_id']}`: {ex['ours']} -> {ex['published']}"
                for ex in diff["examples"]
            ]
    return "\n".join(lines) + "\n"


def _tile_table(result: MetadataComparison) -> list[str]:
    """Rows tile × (only ours, only published, each differing column)."""
    cols = [c for c, d in result.columns.items() if d["differ"]]
    keys: Counter[str] = Counter()
    for only in (result.only_ours, result.only_published):
        keys.update(only["per_tile"])
    for c in cols:
        keys.update(result.columns[c]["per_tile"])
    if not keys:
        return []
    header = ["tile", "only ours", "only published", *cols]
    rows = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for tile, _ in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0])):
        cells = [
            result.only_ours["per_tile"].get(tile, 0),
            result.only_published["per_tile"].get(tile, 0),
            *(result.columns[c]["per_tile"].get(tile, 0) for c in cols),
        ]
        rows.append(f"| {tile} | " + " | ".join(str(x) for x in cells) + " |")
    return rows
