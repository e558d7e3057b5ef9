"""L1C products: v1 CSV to names, safe extraction, zip and content hashes.

* :func:`derive_l1c_names` reads BigEarthNet v1 ``tile_names_and_links.csv``
  (or ``.csv.bz2``; no header, CRLF) and returns the unique L1C names with
  ``.SAFE`` as the CDSE catalogue spells them (REFERENCE-PIPELINE.md §2).
* :func:`extract_l1c` unpacks a product zip safely (no absolute paths, no
  ``..``, no symlinks) and re-creates the empty folders sen2cor needs.
* :func:`hash_l1c_zips` writes the reference ``ben_s2_l1c_hashes.csv``
  (sha256 of the whole zip, named ``<id>.out``, §3.3) and
  ``l1c_content_hashes.csv``: one sha256 per product over the sorted
  ``(path, sha256)`` pairs of its 13 band JP2s and ``MTD_*.xml`` files, which
  stays stable when CDSE adds previews or HTML files to the zip.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benpipe.errors import InputDataError, NamingError
from benpipe.fileio import atomic_write_text, sha256_file
from benpipe.names import parse_product_name

logger = logging.getLogger(__name__)

_CHUNK = 8 << 20

#: Members of a SAFE that enter the content hash (paths relative to the SAFE).
CONTENT_MEMBER_RE = re.compile(
    r"^(?:MTD_MSIL1C\.xml"
    r"|GRANULE/[^/]+/MTD_TL\.xml"
    r"|DATASTRIP/[^/]+/MTD_DS\.xml"
    r"|GRANULE/[^/]+/IMG_DATA/[^/]+_B(?:0[1-9]|1[0-2]|8A)\.jp2)$"
)


# ------------------------------------------------------------------ names
def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".bz2":
        return io.TextIOWrapper(bz2.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def derive_l1c_names(csv_path: Path) -> list[str]:
    """Sorted unique L1C names (``….SAFE``) of a v1 ``tile_names_and_links`` CSV.

    The file has no header and three columns: v1 patch, L1C name with
    ``.SAFE``, old SciHub link.  Every name is validated.
    """
    first_line: dict[str, int] = {}
    rows = 0
    with _open_text(Path(csv_path)) as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) != 3:
                raise InputDataError(
                    f"{csv_path} line {line_no}: expected 3 columns (v1 patch, "
                    f"L1C name.SAFE, link), found {len(row)}: {row!r}; is this "
                    "BigEarthNet v1 tile_names_and_links.csv?"
                )
            first_line.setdefault(row[1], line_no)
            rows += 1
    names: set[str] = set()
    for raw, line_no in first_line.items():
        tile = raw.strip()
        if not tile.endswith(".SAFE"):
            raise InputDataError(
                f"{csv_path} line {line_no}: L1C name {tile!r} lacks the "
                "'.SAFE' suffix of the v1 tile_names_and_links.csv format"
            )
        try:
            parsed = parse_product_name(tile.removesuffix(".SAFE"))
        except NamingError as exc:
            raise InputDataError(f"{csv_path} line {line_no}: {exc}") from exc
        if parsed.level != "L1C":
            raise InputDataError(
                f"{csv_path} line {line_no}: {tile} is not an L1C product"
            )
        names.add(tile)
    if not names:
        raise InputDataError(f"{csv_path} holds no rows; expected v1 patch rows")
    logger.info("%d rows, %d unique L1C products in %s", rows, len(names), csv_path)
    return sorted(names)


def read_names_file(path: Path) -> list[str]:
    """Names written by :func:`benpipe.fileio.write_lines_atomic` (one per line)."""
    return [
        line.strip()
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


# ------------------------------------------------------------------ extraction
def _check_member(zip_path: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    if "\\" in name:
        raise InputDataError(
            f"zip {zip_path}: entry {name!r} contains a backslash; refusing to "
            "extract (possible path traversal); re-download the product"
        )
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise InputDataError(
            f"zip {zip_path}: entry {name!r} is an absolute path; refusing to "
            "extract (zip-slip); re-download the product"
        )
    if ".." in path.parts:
        raise InputDataError(
            f"zip {zip_path}: entry {name!r} contains '..'; refusing to extract "
            "(zip-slip); re-download the product"
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InputDataError(
            f"zip {zip_path}: entry {name!r} is a symbolic link; refusing to "
            "extract; re-download the product"
        )
    return path


def _safe_root(zip_path: Path, members: Sequence[PurePosixPath]) -> str | None:
    """The common top-level ``<name>.SAFE`` folder, or None when absent."""
    tops = {m.parts[0] for m in members if m.parts}
    if len(tops) == 1:
        (top,) = tops
        if top.endswith(".SAFE"):
            return top
    return None


def recreate_empty_dirs(safe_dir: Path) -> list[Path]:
    """Create ``DATASTRIP/*/QI_DATA`` and ``GRANULE/*/AUX_DATA`` when missing.

    CDSE zips drop empty folders; sen2cor 2.11 fails without them
    (ECOSYSTEM.md §1.7).  Returns the folders created.
    """
    created: list[Path] = []
    for parent, child in (("DATASTRIP", "QI_DATA"), ("GRANULE", "AUX_DATA")):
        base = safe_dir / parent
        if not base.is_dir():
            continue
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            target = sub / child
            if not target.exists():
                target.mkdir()
                created.append(target)
    return created


def extract_l1c(zip_path: Path, dest: Path) -> Path:
    """Extract an L1C zip so that ``dest`` is the ``<name>.SAFE`` folder itself.

    Every entry is validated before anything is written; absolute paths,
    ``..`` components, backslashes and symlinks raise :class:`InputDataError`
    naming the entry.  Extraction goes to a temporary sibling folder that is
    renamed to ``dest`` at the end, so an interrupted run leaves no partial
    ``dest``.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise InputDataError(
            f"{zip_path} is not a valid zip ({exc}); delete it and rerun to "
            "download it again"
        ) from exc
    with archive:
        infos = archive.infolist()
        members = [_check_member(zip_path, info) for info in infos]
        root = _safe_root(zip_path, members)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            for info, member in zip(infos, members, strict=True):
                rel = PurePosixPath(*member.parts[1:]) if root else member
                if not rel.parts:
                    continue
                target = tmp.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            if not (tmp / "MTD_MSIL1C.xml").is_file():
                raise InputDataError(
                    f"zip {zip_path} has no MTD_MSIL1C.xml at the SAFE root "
                    f"(top folder {root!r}); is it an L1C product?"
                )
            created = recreate_empty_dirs(tmp)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info(
        "extracted %d entries of %s into %s; re-created %d empty folders",
        len(infos),
        zip_path.name,
        dest,
        len(created),
    )
    return dest


# ------------------------------------------------------------------ hashing
@dataclass(frozen=True, slots=True)
class ZipHashes:
    """Hashes of one product zip."""

    path: Path
    sha256: str
    content_sha256: str
    content_members: int


def content_sha256(zip_path: Path) -> tuple[str, int]:
    """Content hash of an L1C zip and the number of members it covers.

    Reads every member (so CRC errors surface like ``zip -T``); hashes the
    members matching :data:`CONTENT_MEMBER_RE` (paths relative to the SAFE
    root) and returns sha256 over the sorted lines ``<path>\\t<sha256>\\n``.
    """
    pairs: list[tuple[str, str]] = []
    try:
        with zipfile.ZipFile(zip_path) as archive:
            infos = archive.infolist()
            members = [_check_member(zip_path, info) for info in infos]
            root = _safe_root(zip_path, members)
            for info, member in zip(infos, members, strict=True):
                if info.is_dir():
                    continue
                rel = "/".join(member.parts[1:] if root else member.parts)
                wanted = bool(CONTENT_MEMBER_RE.match(rel))
                digest = hashlib.sha256()
                with archive.open(info) as src:
                    while chunk := src.read(_CHUNK):
                        if wanted:
                            digest.update(chunk)
                if wanted:
                    pairs.append((rel, digest.hexdigest()))
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise InputDataError(
            f"{zip_path} is not a valid zip ({exc}); delete it and rerun to "
            "download it again"
        ) from exc
    if not pairs:
        raise InputDataError(
            f"{zip_path} holds no band JP2 or MTD_*.xml member; is it an L1C product?"
        )
    total = hashlib.sha256()
    for rel, hexdigest in sorted(pairs):
        total.update(f"{rel}\t{hexdigest}\n".encode())
    return total.hexdigest(), len(pairs)


def hash_zip(path: Path) -> ZipHashes:
    """Whole-file sha256 and content hash of one product zip."""
    whole = sha256_file(path)
    content, count = content_sha256(path)
    return ZipHashes(
        path=Path(path), sha256=whole, content_sha256=content, content_members=count
    )


def _write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_two_column_csv(path: Path) -> dict[str, str]:
    """``first column -> second column`` of a headed two-column CSV."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return {row[0]: row[1] for row in reader if row}


def diff_keyed_csv(
    produced: Path, tracked: Path, *, title: str, max_listed: int = 50
) -> str:
    """Markdown section comparing two ``key,value`` CSVs (added/removed/changed)."""
    lines = [f"## {title}", ""]
    new = read_two_column_csv(produced)
    if not Path(tracked).exists():
        lines += [
            f"No tracked copy at `{tracked}` ({len(new)} rows produced).",
            "Review the produced file, then freeze it deliberately.",
            "",
        ]
        return "\n".join(lines)
    old = read_two_column_csv(tracked)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(new) & set(old) if new[k] != old[k])
    if not (added or removed or changed):
        lines += [f"Identical to `{tracked}` ({len(new)} rows).", ""]
        return "\n".join(lines)
    lines += [
        f"Differs from `{tracked}`: {len(added)} added, {len(removed)} removed, "
        f"{len(changed)} changed ({len(new)} rows produced, {len(old)} tracked).",
        "",
    ]
    for label, keys in (("added", added), ("removed", removed), ("changed", changed)):
        if not keys:
            continue
        lines.append(f"### {label}")
        lines.append("")
        for key in keys[:max_listed]:
            if label == "changed":
                lines.append(f"- `{key}`: `{old[key]}` → `{new[key]}`")
            elif label == "added":
                lines.append(f"- `{key}`: `{new[key]}`")
            else:
                lines.append(f"- `{key}`: `{old[key]}`")
        if len(keys) > max_listed:
            lines.append(f"- … and {len(keys) - max_listed} more")
        lines.append("")
    return "\n".join(lines)


def hash_l1c_zips(
    zips: Mapping[str, Path],
    ids: Mapping[str, str],
    *,
    out_zip_hashes: Path,
    out_content_hashes: Path,
    out_diff: Path,
    tracked_dir: Path,
    threads: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ZipHashes]:
    """Hash every product zip and compare with the tracked copies.

    ``zips`` maps L1C name (no ``.SAFE``) to its zip, ``ids`` the same names
    to CDSE ids.  Writes ``name,hash-sha256`` (``<id>.out``, as the reference
    does) and ``name,content-sha256`` (``<L1C>.SAFE``), both sorted by name
    with LF endings, plus a Markdown diff against ``tracked_dir``.
    """
    missing = sorted(set(zips) - set(ids))
    if missing:
        raise InputDataError(
            f"no CDSE id for {missing[:5]} (and {max(0, len(missing) - 5)} more); "
            "run search_cdse and freeze_tile_ids"
        )
    names = sorted(zips)
    results: dict[str, ZipHashes] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for done, (name, hashes) in enumerate(
            zip(names, pool.map(lambda n: hash_zip(zips[n]), names), strict=True),
            start=1,
        ):
            results[name] = hashes
            if progress is not None:
                progress(done, len(names))
    zip_rows = sorted((f"{ids[n]}.out", results[n].sha256) for n in names)
    if len({sha for _, sha in zip_rows}) != len(zip_rows):
        logger.warning("two product zips have the same sha256; check the downloads")
    _write_csv(out_zip_hashes, ("name", "hash-sha256"), zip_rows)
    content_rows = sorted((f"{n}.SAFE", results[n].content_sha256) for n in names)
    _write_csv(out_content_hashes, ("name", "content-sha256"), content_rows)
    tracked_dir = Path(tracked_dir)
    report = "\n".join(
        [
            "# L1C hashes compared with the tracked copies",
            "",
            "Zip hashes change when CDSE re-packages a product (previews, HTML);",
            "content hashes cover only the band JP2s and MTD_*.xml files.",
            "",
            diff_keyed_csv(
                out_zip_hashes,
                tracked_dir / "ben_s2_l1c_hashes.csv",
                title="Zip sha256 (ben_s2_l1c_hashes.csv)",
            ),
            diff_keyed_csv(
                out_content_hashes,
                tracked_dir / "l1c_content_hashes.csv",
                title="Content sha256 (l1c_content_hashes.csv)",
            ),
        ]
    )
    atomic_write_text(out_diff, report)
    logger.info("hashed %d product zips", len(names))
    return results


def freeze_files(pairs: Mapping[Path, Path]) -> None:
    """Copy produced artifacts onto their tracked copies (``src -> dst``)."""
    for src, dst in pairs.items():
        atomic_write_text(Path(dst), Path(src).read_text(encoding="utf-8"))
        logger.info("froze %s -> %s", src, dst)
