"""Safe extraction of an L1C product zip into its ``<name>.SAFE`` folder.

:func:`extract_l1c` unpacks a product zip safely (no absolute paths, no
``..``, no symlinks) and re-creates the empty folders sen2cor needs
(:func:`recreate_empty_dirs`).
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from benpipe.errors import InputDataError
from benpipe.fileio import staged_directory

logger = logging.getLogger(__name__)

_CHUNK = 8 << 20


def check_member(zip_path: Path, info: zipfile.ZipInfo) -> PurePosixPath:
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


def safe_root(zip_path: Path, members: Sequence[PurePosixPath]) -> str | None:
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


def zip_of(safe_dir: Path) -> Path | None:
    """The product zip an extracted ``<name>.SAFE`` came from, when it sits next
    to it as the rules lay them out (``resources/l1c/<name>.zip`` is extracted
    into ``resources/l1c/<name>.SAFE``); None otherwise."""
    candidate = Path(safe_dir).with_suffix(".zip")
    return candidate if candidate.is_file() else None


def extract_l1c(zip_path: Path, dest: Path) -> Path:
    """Extract an L1C zip so that ``dest`` is the ``<name>.SAFE`` folder itself.

    Every entry is validated before anything is written; absolute paths,
    ``..`` components, backslashes and symlinks raise :class:`InputDataError`
    naming the entry.  Extraction goes to a staging folder renamed onto
    ``dest`` at the end (:func:`benpipe.fileio.staged_directory`; an existing
    ``dest`` is replaced), so an interrupted run leaves no partial ``dest``.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise InputDataError(
            f"{zip_path} is not a valid zip ({exc}); delete it and rerun to "
            "download it again"
        ) from exc
    with archive:
        infos = archive.infolist()
        members = [check_member(zip_path, info) for info in infos]
        root = safe_root(zip_path, members)
        with staged_directory(dest, "extracted L1C", replace=True) as staging:
            _extract_members(archive, infos, members, staging.path, strip_root=root)
            if not (staging.path / "MTD_MSIL1C.xml").is_file():
                raise InputDataError(
                    f"zip {zip_path} has no MTD_MSIL1C.xml at the SAFE root "
                    f"(top folder {root!r}); is it an L1C product?"
                )
            created = recreate_empty_dirs(staging.path)
    logger.info(
        "extracted %d entries of %s into %s; re-created %d empty folders",
        len(infos),
        zip_path.name,
        dest,
        len(created),
    )
    return dest


def _extract_members(
    archive: zipfile.ZipFile,
    infos: Sequence[zipfile.ZipInfo],
    members: Sequence[PurePosixPath],
    target_dir: Path,
    *,
    strip_root: str | None,
) -> None:
    """Write the (checked) members under ``target_dir``, without the SAFE folder."""
    for info, member in zip(infos, members, strict=True):
        rel = PurePosixPath(*member.parts[1:]) if strip_root else member
        if not rel.parts:
            continue
        target = target_dir.joinpath(*rel.parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
