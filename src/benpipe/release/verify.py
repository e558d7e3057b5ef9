"""Compare the produced hash lists with the tracked (frozen) artifacts.

Every artifact gets one of four statuses:

``match``      the produced artifact equals its tracked copy;
``differ``     both exist and differ (the report lists the first
               ``max_listed`` differing rows or files, plus counts of added,
               removed and changed rows);
``missing``    a tracked copy exists but the run did not produce the artifact;
``untracked``  nothing is tracked for it yet (freeze it to start tracking).

``all_match`` is true when no artifact differs or is missing; untracked
artifacts are reported but never fail a run, so a new project can run to the
end before its first freeze.  In strict mode, :class:`VerificationError` is
raised *after* both reports are written.

Tile ids are special: the tracked ``bigearthnet_s2_tile_ids.csv`` is itself
the input of the run (the product list), so comparing the run against it is
trivially true.  When a fresh catalogue search result exists
(``results/l1c/search/bigearthnet_s2_tile_ids.csv``, from ``search_cdse``) it
is compared; otherwise the status is ``match`` with ``basis: input``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from benpipe.csvdiff import diff_keyed, read_keyed_csv
from benpipe.errors import InputDataError, VerificationError
from benpipe.fileio import atomic_write_bytes, sha256_file
from benpipe.release.checksums import parse_checksum_lines
from benpipe.release.freeze import refreeze_hint

logger = logging.getLogger(__name__)

#: Bump when the report content changes for the same inputs.
ALGORITHM_VERSION = 1

Status = Literal["match", "differ", "missing", "untracked"]
Kind = Literal["table", "digest", "checksums"]
FAILING: frozenset[str] = frozenset({"differ", "missing"})

#: Notes attached to known reference quirks (REFERENCE-PIPELINE.md §3.3, §10).
_NOTES = {
    "l1c_hashes": (
        "zip-level hashes are not a stable identity: CDSE re-packaged some zips "
        "without changing their ids (REFERENCE-PIPELINE.md §3.3); "
        "l1c_content_hashes is the meaningful comparison"
    ),
    "reference_maps_hashes": (
        "the reference's tracked digest was computed when maps were named "
        "*_segmentation.tiff and cannot match current names "
        "(REFERENCE-PIPELINE.md §7.2 item 7, §10 item 12)"
    ),
}


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    """How to compare one artifact.

    ``kind``: ``table`` (CSV keyed by its first column), ``digest`` (a hash CSV
    with a ``.sha256`` digest file; the full CSV is compared too when
    tracked), ``checksums`` (md5sum/sha256sum lines).  A tracked copy may
    have a ``fallback_tracked`` source (the parquets' md5s in ``hashes.txt``).
    """

    name: str
    kind: Kind
    produced: Path
    tracked: str
    fallback_tracked: str | None = None


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
    release_md5: Path = Path("results/release/hashes.txt")
    release_sha256: Path = Path("results/release/sha256sums.txt")

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
            "patch_hashes", "digest", produced.patch_hashes, "patch_hashes.csv"
        ),
        ArtifactSpec(
            "reference_maps_hashes",
            "digest",
            produced.reference_maps_hashes,
            "reference_maps_hashes.csv",
        ),
        ArtifactSpec("s1_hashes", "digest", produced.s1_hashes, "s1_hashes.csv"),
        ArtifactSpec(
            "metadata_hashes",
            "table",
            produced.metadata_hashes,
            "metadata_hashes.csv",
            fallback_tracked="hashes.txt",
        ),
        ArtifactSpec("release_md5", "checksums", produced.release_md5, "hashes.txt"),
        ArtifactSpec(
            "release_sha256", "checksums", produced.release_sha256, "sha256sums.txt"
        ),
    ]


@dataclass(slots=True)
class ArtifactResult:
    """The comparison of one artifact."""

    name: str
    status: Status
    produced: str
    tracked: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "produced": self.produced,
            "tracked": self.tracked,
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """All artifact results; ``all_match`` when none differs or is missing."""

    artifacts: list[ArtifactResult]
    tracked_dir: str

    @property
    def all_match(self) -> bool:
        return not any(a.status in FAILING for a in self.artifacts)

    def to_json(self) -> dict[str, Any]:
        counts = {s: 0 for s in ("match", "differ", "missing", "untracked")}
        for artifact in self.artifacts:
            counts[artifact.status] += 1
        return {
            "all_match": self.all_match,
            "algorithm_version": ALGORITHM_VERSION,
            "tracked_artifacts_dir": self.tracked_dir,
            "counts": counts,
            "artifacts": {a.name: a.to_json() for a in self.artifacts},
        }


# ---------------------------------------------------------------- readers
def read_checksums(path: Path) -> dict[str, tuple[str, ...]]:
    """``{file name: (hex,)}`` of a ``hashes.txt``/``sha256sums.txt`` file."""
    parsed = parse_checksum_lines(path.read_text(encoding="utf-8"))
    return {name: (digest,) for name, digest in parsed.items()}


def _read_digest_file(path: Path) -> str:
    text = path.read_text(encoding="ascii").strip()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InputDataError(
            f"{path} is not a sha256 digest file: expected 64 lowercase hex "
            f"characters, found {text[:80]!r}"
        )
    return text


# ---------------------------------------------------------------- diffing
def diff_rows(
    produced: Mapping[str, tuple[str, ...]],
    tracked: Mapping[str, tuple[str, ...]],
    *,
    max_listed: int,
    columns: Sequence[str] = (),
) -> dict[str, Any]:
    """Counts and the first ``max_listed`` added, removed and changed rows."""
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
    }


def _differs(details: Mapping[str, Any]) -> bool:
    return bool(details["added"] or details["removed"] or details["changed"])


def _compare_table(
    spec: ArtifactSpec, tracked: Path, max_listed: int
) -> ArtifactResult:
    result = ArtifactResult(spec.name, "match", str(spec.produced), str(tracked))
    p_header, p_rows = read_keyed_csv(spec.produced)
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
            p_rows, t_rows, max_listed=max_listed, columns=("name", "md5")
        )
    else:
        t_header, t_rows = read_keyed_csv(tracked)
        if t_header != p_header:
            result.details["header_produced"] = p_header
            result.details["header_tracked"] = t_header
        details = diff_rows(p_rows, t_rows, max_listed=max_listed, columns=p_header)
    result.details.update(details)
    if _differs(details) or "header_tracked" in result.details:
        result.status = "differ"
    return result


def _compare_checksums(
    spec: ArtifactSpec, tracked: Path, max_listed: int
) -> ArtifactResult:
    result = ArtifactResult(spec.name, "match", str(spec.produced), str(tracked))
    details = diff_rows(
        read_checksums(spec.produced),
        read_checksums(tracked),
        max_listed=max_listed,
        columns=("name", "hash"),
    )
    result.details.update(details)
    if _differs(details):
        result.status = "differ"
    return result


def _compare_digest(
    spec: ArtifactSpec, tracked_dir: Path, max_listed: int
) -> ArtifactResult:
    tracked_csv = tracked_dir / spec.tracked
    tracked_digest = tracked_dir / (spec.tracked + ".sha256")
    produced_digest_path = spec.produced.with_name(spec.produced.name + ".sha256")
    result = ArtifactResult(spec.name, "match", str(spec.produced), str(tracked_digest))
    produced_digest = _read_digest_file(produced_digest_path)
    actual = sha256_file(spec.produced)
    if actual != produced_digest:
        result.status = "differ"
        result.details["error"] = (
            f"{produced_digest_path} ({produced_digest}) is not the sha256 of "
            f"{spec.produced} ({actual}); rerun hash_outputs"
        )
    if tracked_digest.exists():
        expected = _read_digest_file(tracked_digest)
    else:
        expected = sha256_file(tracked_csv)
        result.tracked = str(tracked_csv)
    result.details["digest_produced"] = produced_digest
    result.details["digest_tracked"] = expected
    if expected != produced_digest:
        result.status = "differ"
    if tracked_csv.exists():
        result.details["tracked_csv"] = str(tracked_csv)
        _, p_rows = read_keyed_csv(spec.produced)
        _, t_rows = read_keyed_csv(tracked_csv)
        details = diff_rows(
            p_rows, t_rows, max_listed=max_listed, columns=("name", "hash-sha256")
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


def compare_artifact(
    spec: ArtifactSpec, tracked_dir: Path, *, max_listed: int
) -> ArtifactResult:
    """Compare one artifact with its tracked copy (see the module docstring)."""
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
                "match",
                str(spec.produced),
                str(tracked),
                {
                    "basis": "input",
                    "note": (
                        "the tracked tile-id list is this run's product list; no "
                        "fresh catalogue search to compare (run search_cdse)"
                    ),
                },
            )
        status: Status = "missing" if has_tracked else "untracked"
        return ArtifactResult(
            spec.name,
            status,
            str(spec.produced),
            str(tracked),
            {"note": "the run did not produce this artifact"},
        )
    if not has_tracked:
        return ArtifactResult(
            spec.name,
            "untracked",
            str(spec.produced),
            str(tracked),
            {"note": "no tracked copy; freeze it to start tracking"},
        )
    if spec.kind == "digest":
        result = _compare_digest(spec, tracked_dir, max_listed)
    elif spec.kind == "checksums":
        result = _compare_checksums(spec, tracked, max_listed)
    else:
        result = _compare_table(spec, tracked, max_listed)
    if spec.name == "tile_ids":
        result.details["basis"] = "catalogue search result"
    if result.status == "differ" and spec.name in _NOTES:
        result.details["note"] = _NOTES[spec.name]
    return result


# ---------------------------------------------------------------- reports
def render_markdown(report: VerificationReport, *, max_listed: int) -> str:
    """The human-readable report."""
    data = report.to_json()
    verdict = (
        "All tracked artifacts match."
        if report.all_match
        else "Some artifacts DIFFER from or are MISSING against the tracked copies."
    )
    lines = [
        "# benpipe verification report",
        "",
        f"Tracked artifacts: `{report.tracked_dir}`",
        "",
        f"**{verdict}**",
        "",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in data["counts"].items()),
        "",
        "| artifact | status | produced | tracked | summary |",
        "|---|---|---|---|---|",
    ]
    for a in report.artifacts:
        d = a.details
        if "added" in d:
            summary = (
                f"{d['rows_produced']} vs {d['rows_tracked']} rows; "
                f"+{d['added']} -{d['removed']} ~{d['changed']}"
            )
        else:
            summary = d.get("note", "")
        if a.status == "match" and d.get("basis") == "input":
            summary = "match (input): " + summary
        lines.append(
            f"| {a.name} | {a.status} | `{a.produced}` | `{a.tracked}` | {summary} |"
        )
    for a in report.artifacts:
        if a.status != "differ":
            continue
        d = a.details
        lines += ["", f"## {a.name}: differs", ""]
        for key in ("note", "hint", "error", "basis"):
            if key in d:
                lines.append(f"- {key}: {d[key]}")
        if "digest_produced" in d:
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
) -> VerificationReport:
    """Compare every artifact, write both reports, then (strict) raise.

    ``copies`` = ``(md, json)``: second copies of the reports (the rule puts
    them under logs/, which Snakemake keeps when the job fails).  Raises
    :class:`VerificationError` in strict mode when an artifact differs or is
    missing, after every report is written.
    """
    logger.info(
        "verify (ALGORITHM_VERSION %d) against %s, strict=%s",
        ALGORITHM_VERSION,
        tracked_dir,
        strict,
    )
    if max_listed < 1:
        raise InputDataError(f"verify.max_listed must be >= 1, got {max_listed}")
    specs = list(
        specs if specs is not None else default_specs(produced or ProducedPaths())
    )
    results = [compare_artifact(s, tracked_dir, max_listed=max_listed) for s in specs]
    report = VerificationReport(results, str(tracked_dir))
    payload = (json.dumps(report.to_json(), indent=2) + "\n").encode("utf-8")
    markdown = render_markdown(report, max_listed=max_listed).encode("utf-8")
    for md_path, json_path in [(out_md, out_json), *([copies] if copies else [])]:
        atomic_write_bytes(json_path, payload)
        atomic_write_bytes(md_path, markdown)
    for a in results:
        log = logger.warning if a.status in FAILING else logger.info
        log("%s: %s", a.name, a.status)
    bad = [a.name for a in results if a.status in FAILING]
    if bad and strict:
        raise VerificationError(
            f"{len(bad)} artifact(s) differ from or are missing against "
            f"{tracked_dir}: {', '.join(bad)}; see {copies[0] if copies else out_md}. "
            "If the change is intended, review the diff and refreeze with "
            + refreeze_hint(
                Path(a.tracked).name for a in results if a.status in FAILING
            )
            + "; otherwise find what changed the outputs"
        )
    return report
