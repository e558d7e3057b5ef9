"""L1C zip and content hashes, compared with the tracked copies.

:func:`hash_l1c_zips` writes the reference ``ben_s2_l1c_hashes.csv`` (sha256
of the whole zip, named ``<id>.out``, REFERENCE-PIPELINE.md §3.3) and
``l1c_content_hashes.csv``: one sha256 per product over the sorted
``(path, sha256)`` pairs of its 13 band JP2s and ``MTD_*.xml`` files, which
stays stable when CDSE adds previews or HTML files to the zip.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benpipe.csvdiff import diff_keyed_csv
from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_text, sha256_file, write_csv_atomic
from benpipe.l1c.extract import check_member, safe_root
from benpipe.log import ProgressCallback

logger = logging.getLogger(__name__)

_CHUNK = 8 << 20

#: Members of a SAFE that enter the content hash (paths relative to the SAFE).
CONTENT_MEMBER_RE = re.compile(
    r"^(?:MTD_MSIL1C\.xml"
    r"|GRANULE/[^/]+/MTD_TL\.xml"
    r"|DATASTRIP/[^/]+/MTD_DS\.xml"
    r"|GRANULE/[^/]+/IMG_DATA/[^/]+_B(?:0[1-9]|1[0-2]|8A)\.jp2)$"
)


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
            members = [check_member(zip_path, info) for info in infos]
            root = safe_root(zip_path, members)
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


def hash_l1c_zips(
    zips: Mapping[str, Path],
    ids: Mapping[str, str],
    *,
    out_zip_hashes: Path,
    out_content_hashes: Path,
    out_diff: Path,
    tracked_dir: Path,
    threads: int = 2,
    progress: ProgressCallback | None = None,
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
    write_csv_atomic(out_zip_hashes, ("name", "hash-sha256"), zip_rows)
    content_rows = sorted((f"{n}.SAFE", results[n].content_sha256) for n in names)
    write_csv_atomic(out_content_hashes, ("name", "content-sha256"), content_rows)
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
