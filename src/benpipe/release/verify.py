"""Compare the produced hash lists with the tracked (frozen) artifacts.

Every artifact gets one of six statuses:

``match``       the produced artifact equals its tracked copy;
``differ``      both exist and differ (the report lists the first
                ``max_listed`` differing rows or files, plus counts of added,
                removed and changed rows), or the dataset changed since its
                hash lists were made;
``missing``     a tracked copy exists but the run did not produce the
                artifact: **not compared**;
``untracked``   nothing is tracked for it (freeze it to start tracking):
                **not compared**;
``known-unreproducible``
                it differs, and every difference is declared in the tracked
                folder's ``known_unreproducible.csv`` with the reason why no
                correct rebuild can match (e.g. the published reference-map
                digest, computed under older file names);
``input``       the tile-id list when no fresh catalogue search exists: the
                tracked list *is* the run's product list, so comparing the run
                with it would prove nothing; not compared.

``all_match`` is true only when every artifact is ``match`` (or ``input``).
In strict mode, ``differ``, ``missing`` and ``untracked`` raise
:class:`VerificationError` *after* both reports are written;
``known-unreproducible`` and ``input`` never fail a run, but never count as
a match either.  The first line of the Markdown report (and ``verdict`` in
the JSON) says how many artifacts were not compared.

A tracked folder that does not exist, or holds none of the tracked files,
is an :class:`InputDataError`: there is nothing to verify against.

**The dataset as it is now.**  ``hash_outputs`` records the size and mtime
of every hashed file next to each hash list (``hashing.file_stats_path``).
Before comparing, ``verify`` re-hashes the dataset files whose size or mtime
changed since (or every file with ``rehash``), so a byte changed in
``results/dataset`` after the hash lists were made is named, without
rerunning ``hash_outputs``.

**Known-unreproducible declarations** (``known_unreproducible.csv`` in the
tracked folder; header ``artifact,entry,reason``): ``entry`` is ``*`` (the
artifact as a whole, e.g. a digest) or a pattern (``fnmatch``, case
sensitive) of row names (file names in ``hashes.txt``).  An artifact whose
every difference is covered gets ``known-unreproducible``; otherwise it stays
``differ`` and the covered rows are annotated.  A dataset changed since
hashing, or a hash list that does not match its own digest, is never covered.

**Metadata content.**  With ``published_metadata`` (a folder holding the two
published parquets), the artifact ``metadata_content`` compares the
dataset's parquets with them patch by patch (``metadata_diff``).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from benpipe.csvdiff import diff_keyed, diff_sorted_keyed_csvs, read_keyed_csv
from benpipe.dataset.layout import MAPS_TREE, S1_TREE, S2_TREE
from benpipe.errors import InputDataError, VerificationError
from benpipe.fileio import atomic_write_bytes, sha256_file
from benpipe.release.checksums import parse_checksum_lines
from benpipe.release.freeze import refreeze_hint
from benpipe.release.hashing import (
    Refresh,
    refresh_metadata_hashes,
    refresh_tree_hashes,
)

logger = logging.getLogger(__name__)

#: Bump when the report content changes for the same inputs.
#: 2: statuses known-unreproducible and input, verdict line, re-checked dataset.
ALGORITHM_VERSION = 2

Status = Literal[
    "match", "differ", "missing", "untracked", "known-unreproducible", "input"
]
STATUSES: tuple[Status, ...] = (
    "match",
    "differ",
    "missing",
    "untracked",
    "known-unreproducible",
    "input",
)
Kind = Literal["table", "digest", "checksums"]
#: Statuses that fail strict mode.
FAILING: frozenset[str] = frozenset({"differ", "missing", "untracked"})
#: Statuses of artifacts that were not compared.
NOT_COMPARED: frozenset[str] = frozenset({"missing", "untracked", "input"})
#: Statuses compatible with ``all_match``.
MATCHING: frozenset[str] = frozenset({"match", "input"})
#: The declarations file of a tracked folder.
KNOWN_UNREPRODUCIBLE_FILE = "known_unreproducible.csv"
KNOWN_UNREPRODUCIBLE_HEADER = ("artifact", "entry", "reason")

#: Notes attached to known reference quirks (REFERENCE-PIPELINE.md §3.3).
_NOTES = {
    "l1c_hashes": (
        "zip-level hashes are not a stable identity: CDSE re-packaged some zips "
        "without changing their ids (REFERENCE-PIPELINE.md §3.3); "
        "l1c_content_hashes is the meaningful comparison"
    ),
}


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    """How to compare one artifact.

    ``kind``: ``table`` (CSV keyed by its first column), ``digest`` (a hash CSV
    with a ``.sha256`` digest file; the full CSV is compared too when
    tracked), ``checksums`` (md5sum/sha256sum lines).  A tracked copy may
    have a ``fallback_tracked`` source (the parquets' md5s in ``hashes.txt``).
    ``covers``: the dataset tree a hash list describes, or ``metadata`` (the
    parquets), so the files can be re-checked as they are now.
    """

    name: str
    kind: Kind
    produced: Path
    tracked: str
    fallback_tracked: str | None = None
    covers: str | None = None


@dataclass(frozen=True, slots=True)
class ProducedPaths:
    """The produced artifacts, with the DESIGN.md §2 paths as defaults."""

    search_tile_ids: Path = Path("results/l1c/search/bigearthnet_s2_tile_ids.csv")
    l1c_hashes: Path = Path("results/hashes/ben_s2_l1c_hashes.csv")
    l1c_content_hashes: Path = Path("results/hashes/l1c_content_hashes.csv")
    patch_hashes: Path = Path("results/hashes/patch_hashes.csv")
    reference_maps_hashes: Path = Path("results/hashes/reference_maps_hashes.csv")
    s1_hashes: Path = Path("results/hashes/s1_hashes.csv")
    metadata_hashes: Path = Path("results/hashes/metadata_hashes.csv")
    catalogue_hashes: Path = Path("results/hashes/catalogue_hashes.csv")
    release_md5: Path = Path("results/release/hashes.txt")
    release_sha256: Path = Path("results/release/sha256sums.txt")
    dataset: Path = Path("results/dataset")

    @classmethod
    def under(cls, base: Path) -> ProducedPaths:
        """The default paths, relative to ``base`` (the Snakemake workdir)."""
        defaults = cls()
        return cls(
            **{
                name: base / getattr(defaults, name)
                for name in cls.__dataclass_fields__
            }
        )


def default_specs(produced: ProducedPaths) -> list[ArtifactSpec]:
    """The artifacts ``verify`` compares, in report order."""
    return [
        ArtifactSpec(
            "tile_ids",
            "table",
            produced.search_tile_ids,
            "bigearthnet_s2_tile_ids.csv",
        ),
        ArtifactSpec(
            "l1c_hashes", "table", produced.l1c_hashes, "ben_s2_l1c_hashes.csv"
        ),
        ArtifactSpec(
            "l1c_content_hashes",
            "table",
            produced.l1c_content_hashes,
            "l1c_content_hashes.csv",
        ),
        ArtifactSpec(
            "patch_hashes",
            "digest",
            produced.patch_hashes,
            "patch_hashes.csv",
            covers=S2_TREE,
        ),
        ArtifactSpec(
            "reference_maps_hashes",
            "digest",
            produced.reference_maps_hashes,
            "reference_maps_hashes.csv",
            covers=MAPS_TREE,
        ),
        ArtifactSpec(
            "s1_hashes", "digest", produced.s1_hashes, "s1_hashes.csv", covers=S1_TREE
        ),
        ArtifactSpec(
            "metadata_hashes",
            "table",
            produced.metadata_hashes,
            "metadata_hashes.csv",
            fallback_tracked="hashes.txt",
            covers="metadata",
        ),
        ArtifactSpec(
            "catalogue_hashes",
            "table",
            produced.catalogue_hashes,
            "catalogue_hashes.csv",
        ),
        ArtifactSpec("release_md5", "checksums", produced.release_md5, "hashes.txt"),
        ArtifactSpec(
            "release_sha256", "checksums", produced.release_sha256, "sha256sums.txt"
        ),
    ]


#: Every file name ``verify`` may read in a tracked folder.
def tracked_file_names() -> tuple[str, ...]:
    names: list[str] = []
    for spec in default_specs(ProducedPaths()):
        names.append(spec.tracked)
        if spec.kind == "digest":
            names.append(spec.tracked + ".sha256")
        if spec.fallback_tracked:
            names.append(spec.fallback_tracked)
    names.append(KNOWN_UNREPRODUCIBLE_FILE)
    return tuple(dict.fromkeys(names))


@dataclass(slots=True)
class ArtifactResult:
    """The comparison of one artifact."""

    name: str
    status: Status
    produced: str
    tracked: str
    details: dict[str, Any] = field(default_factory=dict)
    #: An extra Markdown section of the report (not in the JSON).
    section: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "produced": self.produced,
            "tracked": self.tracked,
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """All artifact results; ``all_match`` when every one matches."""

    artifacts: list[ArtifactResult]
    tracked_dir: str

    @property
    def all_match(self) -> bool:
        return all(a.status in MATCHING for a in self.artifacts)

    @property
    def failing(self) -> list[ArtifactResult]:
        """The artifacts that fail strict mode."""
        return [a for a in self.artifacts if a.status in FAILING]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for artifact in self.artifacts:
            counts[artifact.status] += 1
        return counts

    def verdict(self) -> str:
        """One line: how many artifacts were not compared, differ, match."""
        counts = self.counts()
        total = len(self.artifacts)

        def names(*statuses: str) -> str:
            return ", ".join(a.name for a in self.artifacts if a.status in statuses)

        not_compared = counts["missing"] + counts["untracked"] + counts["input"]
        if self.all_match:
            line = f"all {total - not_compared} compared artifacts match"
            if counts["input"]:
                line += (
                    f"; {counts['input']} not compared ({names('input')}: the "
                    "run's own input list)"
                )
            return line
        parts = []
        if counts["differ"]:
            parts.append(f"{counts['differ']} DIFFER ({names('differ')})")
        if counts["missing"] or counts["untracked"]:
            parts.append(
                f"{counts['missing'] + counts['untracked']} of {total} artifacts NOT "
                f"COMPARED ({counts['untracked']} untracked, {counts['missing']} "
                f"missing: {names('untracked', 'missing')})"
            )
        if counts["known-unreproducible"]:
            parts.append(
                f"{counts['known-unreproducible']} known-unreproducible "
                f"({names('known-unreproducible')})"
            )
        if counts["input"]:
            parts.append(f"{counts['input']} not compared ({names('input')}: input)")
        parts.append(f"{counts['match']} match")
        return "NOT ALL MATCH: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "all_match": self.all_match,
            "verdict": self.verdict(),
            "algorithm_version": ALGORITHM_VERSION,
            "tracked_artifacts_dir": self.tracked_dir,
            "counts": self.counts(),
            "not_compared": [
                a.name for a in self.artifacts if a.status in NOT_COMPARED
            ],
            "artifacts": {a.name: a.to_json() for a in self.artifacts},
        }


# ---------------------------------------------------------------- readers
def read_checksums(path: Path) -> dict[str, tuple[str, ...]]:
    """``{file name: (hex,)}`` of a ``hashes.txt``/``sha256sums.txt`` file."""
    parsed = parse_checksum_lines(path.read_text(encoding="utf-8"))
    return {name: (digest,) for name, digest in parsed.items()}


def read_digest_file(path: Path) -> str:
    text = path.read_text(encoding="ascii").strip()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InputDataError(
            f"{path} is not a sha256 digest file: expected 64 lowercase hex "
            f"characters, found {text[:80]!r}"
        )
    return text


@dataclass(frozen=True, slots=True)
class KnownUnreproducible:
    """One declaration of ``known_unreproducible.csv``."""

    artifact: str
    entry: str
    reason: str

    def covers(self, key: str | None) -> bool:
        """Whether it covers row ``key`` (``None``: the artifact as a whole)."""
        if key is None:
            return self.entry == "*"
        return fnmatch.fnmatchcase(key, self.entry)


def read_known_unreproducible(tracked_dir: Path) -> list[KnownUnreproducible]:
    """The declarations of ``tracked_dir`` (none when the file is absent)."""
    path = tracked_dir / KNOWN_UNREPRODUCIBLE_FILE
    if not path.is_file():
        return []
    known = {s.name for s in default_specs(ProducedPaths())}
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != KNOWN_UNREPRODUCIBLE_HEADER:
            raise InputDataError(
                f"{path}: header {header}, expected "
                f"{','.join(KNOWN_UNREPRODUCIBLE_HEADER)}"
            )
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 3 or not all(v.strip() for v in row):
                raise InputDataError(
                    f"{path} line {line}: expected artifact,entry,reason (all "
                    f"non-empty), found {row}"
                )
            if row[0] not in known:
                raise InputDataError(
                    f"{path} line {line}: unknown artifact {row[0]!r}; expected one "
                    f"of {', '.join(sorted(known))}"
                )
            out.append(KnownUnreproducible(*row))
    return out


# ---------------------------------------------------------------- diffing
def diff_rows(
    produced: Mapping[str, tuple[str, ...]],
    tracked: Mapping[str, tuple[str, ...]],
    *,
    max_listed: int,
    columns: Sequence[str] = (),
) -> dict[str, Any]:
    """Counts and the first ``max_listed`` added, removed and changed rows.

    The full list of differing keys is under ``"_keys"`` (removed before the
    report is written).
    """
    diff = diff_keyed(produced, tracked)
    value_cols = list(columns[1:]) if columns else []

    def show(values: tuple[str, ...]) -> str | dict[str, str]:
        if len(values) == 1:
            return values[0]
        if value_cols and len(value_cols) == len(values):
            return dict(zip(value_cols, values, strict=True))
        return ",".join(values)

    return {
        "rows_produced": len(produced),
        "rows_tracked": len(tracked),
        "added": len(diff.added),
        "removed": len(diff.removed),
        "changed": len(diff.changed),
        "added_rows": diff.added[:max_listed],
        "removed_rows": diff.removed[:max_listed],
        "changed_rows": [
            {"name": k, "produced": show(produced[k]), "tracked": show(tracked[k])}
            for k in diff.changed[:max_listed]
        ],
        "_keys": [*diff.added, *diff.removed, *diff.changed],
    }


def _differs(details: Mapping[str, Any]) -> bool:
    return bool(details["added"] or details["removed"] or details["changed"])


@dataclass(frozen=True, slots=True)
class _Context:
    """What every comparison needs besides its spec."""

    tracked_dir: Path
    max_listed: int
    known: list[KnownUnreproducible]
    dataset: Path | None
    rehash: bool
    scratch: Path
    workers: int


def _dataset_changed(
    result: ArtifactResult, refresh: Refresh, ctx: _Context, root: Path
) -> None:
    """Record in ``result`` which files changed since the hash list was made."""
    result.details["recheck"] = {
        "basis": refresh.basis,
        "files_checked": refresh.checked,
        "files_rehashed": refresh.rehashed,
    }
    if refresh.basis == "no file stats":
        result.details["recheck"]["note"] = (
            f"no {refresh.hash_csv.name.removesuffix('.csv')}.filestat.csv next to "
            "the hash list (written by an older benpipe): the dataset was not "
            "re-checked; rerun hash_outputs or pass --rehash"
        )
    if not refresh.changed:
        return
    diff = diff_sorted_keyed_csvs(
        refresh.current_csv, refresh.hash_csv, max_listed=ctx.max_listed
    )
    result.details["dataset_changed"] = {
        "root": str(root),
        "added": diff.added,
        "removed": diff.removed,
        "changed": diff.changed,
        "added_rows": diff.added_rows,
        "removed_rows": diff.removed_rows,
        "changed_rows": [
            {"name": k, "now": ",".join(a), "hashed": ",".join(b)}
            for k, a, b in diff.changed_rows
        ],
        "hint": (
            f"files under {root} changed after {refresh.hash_csv.name} was made: "
            "the hash lists and release archives no longer describe the dataset; "
            "find what modified it, then rebuild (`snakemake -R finalize_dataset`) "
            "or rehash (`snakemake -R hash_outputs`)"
        ),
    }


def _recheck_metadata(
    spec: ArtifactSpec,
    ctx: _Context,
    result: ArtifactResult,
    p_rows: dict[str, tuple[str, ...]],
) -> dict[str, tuple[str, ...]]:
    """The metadata hash rows as the parquets are now; changes go into ``result``."""
    if spec.covers != "metadata" or ctx.dataset is None or not ctx.dataset.is_dir():
        return p_rows
    basis, now = refresh_metadata_hashes(
        ctx.dataset, spec.produced, rehash_all=ctx.rehash
    )
    result.details["recheck"] = {"basis": basis}
    changed = sorted(
        k for k in p_rows.keys() | now.keys() if p_rows.get(k) != now.get(k)
    )
    if not changed:
        return p_rows
    result.details["dataset_changed"] = {
        "root": str(ctx.dataset),
        "changed": len(changed),
        "changed_rows": [
            {
                "name": k,
                "now": ",".join(now.get(k, ("<gone>",))),
                "hashed": ",".join(p_rows.get(k, ("<new>",))),
            }
            for k in changed[: ctx.max_listed]
        ],
        "hint": (
            f"metadata parquets under {ctx.dataset} changed after "
            f"{spec.produced.name} was made; find what modified them, then rebuild "
            "(`snakemake -R finalize_dataset`) or rehash (`snakemake -R hash_outputs`)"
        ),
    }
    result.status = "differ"
    return now


def _recheck_tree(spec: ArtifactSpec, ctx: _Context, result: ArtifactResult) -> Path:
    """The hash list of the tree as it is now; changes go into ``result``."""
    if ctx.dataset is None or spec.covers is None:
        return spec.produced
    root = ctx.dataset / spec.covers
    if not root.is_dir():
        result.details["recheck"] = {
            "basis": "dataset absent",
            "note": f"{root} does not exist: only the hash lists were compared",
        }
        return spec.produced
    refresh = refresh_tree_hashes(
        root,
        spec.produced,
        ctx.scratch / spec.name,
        rehash_all=ctx.rehash,
        workers=ctx.workers,
    )
    _dataset_changed(result, refresh, ctx, root)
    if refresh.changed:
        result.status = "differ"
    return refresh.current_csv


def _compare_table(spec: ArtifactSpec, tracked: Path, ctx: _Context) -> ArtifactResult:
    result = ArtifactResult(spec.name, "match", str(spec.produced), str(tracked))
    p_header, p_rows = read_keyed_csv(spec.produced)
    p_rows = _recheck_metadata(spec, ctx, result, p_rows)
    if tracked.name.endswith(".txt"):
        # Fallback: the parquets' md5 entries of a tracked hashes.txt.
        t_md5 = read_checksums(tracked)
        md5_col = p_header.index("md5") if "md5" in p_header else None
        if md5_col is None:
            raise InputDataError(
                f"{spec.produced} has no md5 column (header {p_header}); expected "
                "name,hash-sha256,md5 — rerun hash_outputs"
            )
        p_rows = {k: (v[md5_col - 1],) for k, v in p_rows.items()}
        t_rows = {k: v for k, v in t_md5.items() if k in p_rows}
        result.details["basis"] = "md5 entries of the tracked hashes.txt"
        details = diff_rows(
            p_rows, t_rows, max_listed=ctx.max_listed, columns=("name", "md5")
        )
    else:
        t_header, t_rows = read_keyed_csv(tracked)
        if t_header != p_header:
            result.details["header_produced"] = p_header
            result.details["header_tracked"] = t_header
        details = diff_rows(p_rows, t_rows, max_listed=ctx.max_listed, columns=p_header)
    result.details.update(details)
    if (
        _differs(details)
        or "header_tracked" in result.details
        or "dataset_changed" in result.details
    ):
        result.status = "differ"
    return result


def _compare_checksums(
    spec: ArtifactSpec, tracked: Path, ctx: _Context
) -> ArtifactResult:
    result = ArtifactResult(spec.name, "match", str(spec.produced), str(tracked))
    details = diff_rows(
        read_checksums(spec.produced),
        read_checksums(tracked),
        max_listed=ctx.max_listed,
        columns=("name", "hash"),
    )
    result.details.update(details)
    if _differs(details):
        result.status = "differ"
    return result


def _compare_digest(spec: ArtifactSpec, ctx: _Context) -> ArtifactResult:
    tracked_csv = ctx.tracked_dir / spec.tracked
    tracked_digest = ctx.tracked_dir / (spec.tracked + ".sha256")
    produced_digest_path = spec.produced.with_name(spec.produced.name + ".sha256")
    result = ArtifactResult(spec.name, "match", str(spec.produced), str(tracked_digest))
    produced_digest = read_digest_file(produced_digest_path)
    actual = sha256_file(spec.produced)
    if actual != produced_digest:
        result.status = "differ"
        result.details["error"] = (
            f"{produced_digest_path} ({produced_digest}) is not the sha256 of "
            f"{spec.produced} ({actual}); rerun hash_outputs"
        )
    produced_csv = _recheck_tree(spec, ctx, result)
    if produced_csv != spec.produced:
        produced_digest = sha256_file(produced_csv)
    if tracked_digest.exists():
        expected = read_digest_file(tracked_digest)
    else:
        expected = sha256_file(tracked_csv)
        result.tracked = str(tracked_csv)
    result.details["digest_produced"] = produced_digest
    result.details["digest_tracked"] = expected
    if expected != produced_digest:
        result.status = "differ"
    if tracked_csv.exists():
        result.details["tracked_csv"] = str(tracked_csv)
        _, p_rows = read_keyed_csv(produced_csv)
        _, t_rows = read_keyed_csv(tracked_csv)
        details = diff_rows(
            p_rows, t_rows, max_listed=ctx.max_listed, columns=("name", "hash-sha256")
        )
        result.details.update(details)
        if _differs(details):
            result.status = "differ"
    elif result.status == "differ":
        result.details["hint"] = (
            f"only the digest is tracked; track the full {spec.tracked} "
            "(verify.freeze_full_csvs) to see which files differ"
        )
    return result


def _apply_known(result: ArtifactResult, known: list[KnownUnreproducible]) -> None:
    """Turn ``differ`` into ``known-unreproducible`` when every difference is declared."""
    keys: list[str] = result.details.pop("_keys", [])
    decls = [k for k in known if k.artifact == result.name]
    if result.status != "differ" or not decls:
        return
    if "error" in result.details or "dataset_changed" in result.details:
        return  # a real problem, never excused
    digest_differs = result.details.get("digest_produced") != result.details.get(
        "digest_tracked"
    )
    targets: list[str | None] = list(keys) or ([None] if digest_differs else [])
    covered: dict[KnownUnreproducible, list[str]] = {}
    unexplained = []
    for key in targets:
        decl = next((d for d in decls if d.covers(key)), None)
        if decl is None:
            unexplained.append(key or "the digest")
        else:
            covered.setdefault(decl, []).extend([key] if key else [])
    if not covered:
        return
    result.details["known_unreproducible"] = [
        {"entry": d.entry, "reason": d.reason, **({"rows": rows} if rows else {})}
        for d, rows in covered.items()
    ]
    if unexplained:
        result.details["unexplained"] = unexplained
    elif targets:
        result.status = "known-unreproducible"


def compare_artifact(spec: ArtifactSpec, ctx: _Context) -> ArtifactResult:
    """Compare one artifact with its tracked copy (see the module docstring)."""
    tracked_dir = ctx.tracked_dir
    tracked = tracked_dir / spec.tracked
    if spec.kind == "digest":
        has_tracked = (
            tracked.exists() or (tracked_dir / (spec.tracked + ".sha256")).exists()
        )
    else:
        has_tracked = tracked.exists()
        if not has_tracked and spec.fallback_tracked:
            fallback = tracked_dir / spec.fallback_tracked
            if fallback.exists():
                tracked, has_tracked = fallback, True
    if not spec.produced.exists():
        if spec.name == "tile_ids" and has_tracked:
            return ArtifactResult(
                spec.name,
                "input",
                str(spec.produced),
                str(tracked),
                {
                    "basis": "input",
                    "note": (
                        "not compared: the tracked tile-id list is this run's "
                        "product list; run search_cdse to compare it with a fresh "
                        "catalogue search"
                    ),
                },
            )
        if has_tracked:
            note = "not compared: tracked, but the run did not produce this artifact"
            return ArtifactResult(
                spec.name, "missing", str(spec.produced), str(tracked), {"note": note}
            )
        return ArtifactResult(
            spec.name,
            "untracked",
            str(spec.produced),
            str(tracked),
            {"note": "not compared: neither produced nor tracked"},
        )
    if not has_tracked:
        result = ArtifactResult(
            spec.name,
            "untracked",
            str(spec.produced),
            str(tracked),
            {
                "note": (
                    f"not compared: nothing tracked under {tracked_dir}; review the "
                    "produced file and freeze it to start tracking"
                )
            },
        )
        # The dataset is still re-checked against the run's own hash list.
        if spec.kind == "digest":
            _recheck_tree(spec, ctx, result)
        elif spec.covers == "metadata":
            _recheck_metadata(spec, ctx, result, read_keyed_csv(spec.produced)[1])
        return result
    if spec.kind == "digest":
        result = _compare_digest(spec, ctx)
    elif spec.kind == "checksums":
        result = _compare_checksums(spec, tracked, ctx)
    else:
        result = _compare_table(spec, tracked, ctx)
    if spec.name == "tile_ids":
        result.details["basis"] = "catalogue search result"
    if result.status == "differ" and spec.name in _NOTES:
        result.details["note"] = _NOTES[spec.name]
    _apply_known(result, ctx.known)
    return result


def compare_metadata_content(
    dataset: Path, published: Path, *, max_listed: int
) -> ArtifactResult:
    """The ``metadata_content`` artifact: the dataset's parquets vs the published ones."""
    from benpipe.release.metadata_diff import (
        compare_metadata,
        render_markdown,
        summary_line,
    )

    comparison = compare_metadata(dataset, published, max_listed=max_listed)
    return ArtifactResult(
        "metadata_content",
        "match" if comparison.identical else "differ",
        str(dataset),
        str(published),
        {"summary": summary_line(comparison), "comparison": comparison.to_json()},
        section=render_markdown(comparison, level=2),
    )


# ---------------------------------------------------------------- reports
def _summary(a: ArtifactResult) -> str:
    d = a.details
    if a.name == "metadata_content":
        return str(d["summary"])
    if "added" in d:
        summary = (
            f"{d['rows_produced']} vs {d['rows_tracked']} rows; "
            f"+{d['added']} -{d['removed']} ~{d['changed']}"
        )
    else:
        summary = str(d.get("note", ""))
    if "dataset_changed" in d:
        summary = (
            f"dataset changed since hashing: {d['dataset_changed']['changed']} "
            f"file(s) changed; " + summary
        )
    return summary


def render_markdown(report: VerificationReport, *, max_listed: int) -> str:
    """The human-readable report; its first line is the verdict."""
    counts = report.counts()
    lines = [
        f"# Verification: {report.verdict()}",
        "",
        f"Tracked artifacts: `{report.tracked_dir}`",
        "",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        "",
        "Strict mode fails on differ, missing and untracked. known-unreproducible "
        "never fails it and never counts as a match; input (the run's own product "
        "list) never fails it.",
        "",
        "| artifact | status | produced | tracked | summary |",
        "|---|---|---|---|---|",
    ]
    for a in report.artifacts:
        lines.append(
            f"| {a.name} | {a.status} | `{a.produced}` | `{a.tracked}` | "
            f"{_summary(a)} |"
        )
    for a in report.artifacts:
        if a.status in ("match", "input"):
            continue
        if a.section:
            lines += ["", a.section.rstrip("\n")]
            continue
        d = a.details
        title = {
            "differ": "differs",
            "missing": "NOT COMPARED (missing)",
            "untracked": "NOT COMPARED (untracked)",
            "known-unreproducible": "known-unreproducible",
        }[a.status]
        lines += ["", f"## {a.name}: {title}", ""]
        for key in ("note", "hint", "error", "basis"):
            if key in d:
                lines.append(f"- {key}: {d[key]}")
        for known in d.get("known_unreproducible", []):
            rows = known.get("rows")
            which = f" ({', '.join(f'`{r}`' for r in rows)})" if rows else ""
            lines.append(
                f"- known-unreproducible `{known['entry']}`{which}: {known['reason']}"
            )
        if "unexplained" in d:
            lines.append(
                "- not covered by known_unreproducible.csv: "
                + ", ".join(f"`{k}`" for k in d["unexplained"])
            )
        if "dataset_changed" in d:
            changed = d["dataset_changed"]
            lines.append(f"- DATASET CHANGED: {changed['hint']}")
            for row in changed["changed_rows"]:
                lines.append(
                    f"  - changed since hashing: `{row['name']}` now `{row['now']}`, "
                    f"hashed `{row['hashed']}`"
                )
            for name in changed.get("added_rows", []):
                lines.append(f"  - new since hashing: `{name}`")
            for name in changed.get("removed_rows", []):
                lines.append(f"  - gone since hashing: `{name}`")
        if "digest_produced" in d and a.status != "missing":
            lines.append(
                f"- digest produced `{d['digest_produced']}`, "
                f"tracked `{d['digest_tracked']}`"
            )
        if "header_tracked" in d:
            lines.append(
                f"- header produced `{d['header_produced']}`, "
                f"tracked `{d['header_tracked']}`"
            )
        if "added" in d:
            lines.append(
                f"- {d['added']} added, {d['removed']} removed, {d['changed']} changed"
                f" (first {max_listed} of each listed)"
            )
            for name in d["added_rows"]:
                lines.append(f"  - added: `{name}`")
            for name in d["removed_rows"]:
                lines.append(f"  - removed: `{name}`")
            for row in d["changed_rows"]:
                lines.append(
                    f"  - changed: `{row['name']}` produced `{row['produced']}` "
                    f"tracked `{row['tracked']}`"
                )
    return "\n".join(lines) + "\n"


def check_tracked_dir(tracked_dir: Path) -> None:
    """Raise :class:`InputDataError` unless ``tracked_dir`` holds tracked files."""
    hint = (
        "point tracked_artifacts_dir (verify --tracked) at a folder of tracked "
        "artifacts (tracked-artifacts/reben-v2.0 for the published reBEN, "
        "tracked-artifacts/demo for the demo), or create one with the freeze "
        "targets (search_cdse + freeze_tile_ids, freeze_l1c_hashes, "
        "freeze_release_artifacts)"
    )
    if not tracked_dir.is_dir():
        raise InputDataError(
            f"the tracked artifacts folder {tracked_dir} does not exist: nothing to "
            f"verify against; {hint}"
        )
    if not any((tracked_dir / name).is_file() for name in tracked_file_names()):
        raise InputDataError(
            f"the tracked artifacts folder {tracked_dir} holds none of "
            f"{', '.join(tracked_file_names())}: nothing to verify against; {hint}"
        )


def verify(
    *,
    tracked_dir: Path,
    out_md: Path,
    out_json: Path,
    produced: ProducedPaths | None = None,
    specs: Sequence[ArtifactSpec] | None = None,
    max_listed: int = 20,
    strict: bool = False,
    copies: tuple[Path, Path] | None = None,
    published_metadata: Path | None = None,
    rehash: bool = False,
    workers: int = 1,
) -> VerificationReport:
    """Compare every artifact, write both reports, then (strict) raise.

    ``copies`` = ``(md, json)``: second copies of the reports (the rule puts
    them under logs/, which Snakemake keeps when the job fails).
    ``published_metadata``: a folder with the published parquets, compared
    with the dataset's (``metadata_content``).  ``rehash``: re-hash every
    dataset file, not only those whose size or mtime changed.  Raises
    :class:`InputDataError` when ``tracked_dir`` is missing or empty, and
    :class:`VerificationError` in strict mode when an artifact differs, is
    missing or is untracked, after every report is written.
    """
    logger.info(
        "verify (ALGORITHM_VERSION %d) against %s, strict=%s, rehash=%s",
        ALGORITHM_VERSION,
        tracked_dir,
        strict,
        rehash,
    )
    if max_listed < 1:
        raise InputDataError(f"verify.max_listed must be >= 1, got {max_listed}")
    check_tracked_dir(tracked_dir)
    produced = produced or ProducedPaths()
    specs = list(specs if specs is not None else default_specs(produced))
    out_md.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".verify-", dir=out_md.parent))
    try:
        ctx = _Context(
            tracked_dir=tracked_dir,
            max_listed=max_listed,
            known=read_known_unreproducible(tracked_dir),
            dataset=produced.dataset,
            rehash=rehash,
            scratch=scratch,
            workers=workers,
        )
        results = [compare_artifact(s, ctx) for s in specs]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if published_metadata is not None:
        results.append(
            compare_metadata_content(
                produced.dataset, published_metadata, max_listed=max_listed
            )
        )
    report = VerificationReport(results, str(tracked_dir))
    payload = (json.dumps(report.to_json(), indent=2) + "\n").encode("utf-8")
    markdown = render_markdown(report, max_listed=max_listed).encode("utf-8")
    for md_path, json_path in [(out_md, out_json), *([copies] if copies else [])]:
        atomic_write_bytes(json_path, payload)
        atomic_write_bytes(md_path, markdown)
    logger.info("verification: %s", report.verdict())
    for a in results:
        log = logger.warning if a.status in FAILING else logger.info
        log("%s: %s", a.name, a.status)
    bad = report.failing
    if bad and strict:
        by_status = {
            s: [a.name for a in bad if a.status == s]
            for s in ("differ", "missing", "untracked")
        }
        listed = "; ".join(f"{s}: {', '.join(n)}" for s, n in by_status.items() if n)
        advice = []
        if by_status["missing"] or by_status["untracked"]:
            advice.append(
                "Untracked and missing artifacts were not compared: produce them, "
                "or track them (the freeze targets, into your own tracked folder)."
            )
        if by_status["differ"]:
            advice.append(
                "If a difference is intended, review the diff and refreeze with "
                + refreeze_hint(
                    Path(a.tracked).name for a in bad if a.status == "differ"
                )
                + "; otherwise find what changed the outputs."
            )
        raise VerificationError(
            f"{len(bad)} artifact(s) do not match {tracked_dir} ({listed}); see "
            f"{copies[0] if copies else out_md}. " + " ".join(advice)
        )
    return report
