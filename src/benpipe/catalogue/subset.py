"""``benpipe subset``: a self-contained dataset of the patches a query selects.

The subset folder has the published layout, so ``benpipe check-dataset`` and
torchgeo's ``BigEarthNetV2`` take it as they take the full dataset::

    <out>/metadata.parquet                                   (finalize writer)
    <out>/metadata_for_patches_with_snow_cloud_or_shadow.parquet
    <out>/BigEarthNet-S2/  BigEarthNet-S1/  Reference_Maps/  copies of the files
    <out>/catalogue/patches.parquet  catalogue/stac/         its own catalogue
    <out>/hashes/*.csv(.sha256)                              release/hashing.py
    <out>/release/*.tar.zst, hashes.txt, sha256sums.txt      only with archives
    <out>/subset.json                                        the query and counts

Files are copied (a reflink where the filesystem supports it, else
``copy_file_range``, else a plain copy), never hard-linked: the subset never
shares an inode with the source dataset.  Everything is built in
``.<out>.tmp`` and renamed into place.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benpipe.catalogue.build import write_catalogue
from benpipe.catalogue.io import read_dataset_metadata, write_json
from benpipe.catalogue.query import Query, run_query, summarize
from benpipe.dataset.finalize import METADATA_SCHEMA, write_metadata_parquet
from benpipe.dataset.layout import FLAGGED_METADATA_FILE, METADATA_FILE
from benpipe.errors import InputDataError
from benpipe.fileio import sha256_file, staged_directory

logger = logging.getLogger(__name__)

#: ``ioctl`` request that clones a whole file (Linux ``FICLONE``).
_FICLONE = 0x40049409
_COPY_CHUNK = 1 << 30


class FileCopier:
    """Copy files without ever sharing an inode: reflink, copy_file_range, copy."""

    def __init__(self) -> None:
        self.counts = {"reflink": 0, "copy_file_range": 0, "copy": 0}
        self._reflink = True
        self._copy_range = hasattr(os, "copy_file_range")

    def __call__(self, src: Path, dst: Path) -> None:
        if self._reflink:
            self._reflink = self._attempt(src, dst, "reflink", _reflink)
            if self._reflink:
                return
        if self._copy_range:
            self._copy_range = self._attempt(src, dst, "copy_file_range", _copy_range)
            if self._copy_range:
                return
        shutil.copyfile(src, dst)
        self.counts["copy"] += 1

    def _attempt(
        self, src: Path, dst: Path, mode: str, copy: Callable[[int, int], None]
    ) -> bool:
        """Copy with ``copy``; False (and no more tries) if the filesystem lacks it."""
        with open(src, "rb") as fsrc, open(dst, "wb") as fdst:
            try:
                copy(fsrc.fileno(), fdst.fileno())
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise
                return False
        self.counts[mode] += 1
        return True


#: errno values meaning "this copy method is not available here".
_UNSUPPORTED = frozenset(
    {
        errno.EOPNOTSUPP,
        errno.ENOTTY,
        errno.EXDEV,
        errno.EINVAL,
        errno.ENOSYS,
        errno.EPERM,
    }
)


def _reflink(src_fd: int, dst_fd: int) -> None:
    fcntl.ioctl(dst_fd, _FICLONE, src_fd)


def _copy_range(src_fd: int, dst_fd: int) -> None:
    while os.copy_file_range(src_fd, dst_fd, _COPY_CHUNK):
        pass


@dataclass(frozen=True, slots=True)
class SubsetResult:
    out_dir: Path
    patches: int
    clean: int
    flagged: int
    files: int
    copy_mode: dict[str, int]
    archives: bool


def _subset_metadata(dataset_dir: Path, ids: list[str]) -> tuple[pa.Table, pa.Table]:
    """The two published metadata tables restricted to ``ids`` (order kept)."""
    wanted = pa.array(ids)
    tables = []
    for name in (METADATA_FILE, FLAGGED_METADATA_FILE):
        table = pq.read_table(dataset_dir / name).cast(METADATA_SCHEMA)
        tables.append(table.filter(pc.is_in(table["patch_id"], value_set=wanted)))
    return tables[0], tables[1]


def _catalogue_rows(catalogue: Path, ids: list[str]) -> pa.Table:
    """The parent catalogue's rows of ``ids``, overlaps restricted to the subset."""
    table = pq.read_table(catalogue)
    table = table.replace_schema_metadata(None)
    table = table.filter(pc.is_in(table["id"], value_set=pa.array(ids)))
    keep = set(ids)
    overlaps = [
        [o for o in others if o in keep]
        for others in table["overlapping_patches"].to_pylist()
    ]
    index = table.schema.get_field_index("overlapping_patches")
    return table.set_column(
        index,
        table.schema.field(index),
        pa.array(overlaps, type=table.schema.field(index).type),
    )


def make_subset(
    catalogue: Path,
    dataset_dir: Path,
    query: Query,
    out_dir: Path,
    *,
    archives: bool = False,
    zstd_level: int = 6,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> SubsetResult:
    """Write the subset of ``dataset_dir`` selected by ``query`` to ``out_dir``."""
    from benpipe.release.hashing import hash_outputs
    from benpipe.release.packaging import package_release

    catalogue, dataset_dir, out_dir = Path(catalogue), Path(dataset_dir), Path(out_dir)
    matched = run_query(catalogue, query, columns=["assets"])
    if matched.num_rows == 0:
        raise InputDataError(
            f"the query selects no patch of {catalogue}; nothing to subset"
        )
    ids = matched["id"].to_pylist()
    # the catalogue must describe this dataset: every id in its metadata
    known = set(read_dataset_metadata(dataset_dir)["patch_id"].to_pylist())
    unknown = [pid for pid in ids if pid not in known]
    if unknown:
        raise InputDataError(
            f"{len(unknown)} patch(es) of the catalogue {catalogue} are not in the "
            f"metadata of {dataset_dir} (first: {unknown[:3]}); pass the dataset the "
            "catalogue was built from (--dataset)"
        )
    with staged_directory(out_dir, "subset directory") as staging:
        tmp = staging.path
        clean, flagged = _subset_metadata(dataset_dir, ids)
        write_metadata_parquet(clean, tmp / METADATA_FILE)
        write_metadata_parquet(flagged, tmp / FLAGGED_METADATA_FILE)
        copier = FileCopier()
        files = 0
        assets = matched["assets"].to_pylist()
        for done, patch_assets in enumerate(assets, start=1):
            for asset in patch_assets.values():
                src = dataset_dir / asset["href"]
                dst = tmp / asset["href"]
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    copier(src, dst)
                except FileNotFoundError as exc:
                    raise InputDataError(
                        f"{src} is missing from the dataset {dataset_dir}; the "
                        "catalogue lists it (is the dataset fully extracted?)"
                    ) from exc
                files += 1
            if progress is not None and (done % 1000 == 0 or done == len(assets)):
                progress(done, len(assets))

        rows = _catalogue_rows(catalogue, ids)
        write_catalogue(rows, tmp / "catalogue", dataset_dir=tmp, static_items=False)

        hashes = tmp / "hashes"
        hash_outputs(
            tmp,
            patch_csv=hashes / "patch_hashes.csv",
            reference_maps_csv=hashes / "reference_maps_hashes.csv",
            s1_csv=hashes / "s1_hashes.csv",
            metadata_csv=hashes / "metadata_hashes.csv",
            workers=workers,
        )
        if archives:
            package_release(tmp, tmp / "release", level=zstd_level, threads=workers)
        summary = summarize(matched)
        write_json(
            tmp / "subset.json",
            {
                "catalogue_sha256": sha256_file(catalogue),
                "query": _query_json(query),
                "patches": len(ids),
                METADATA_FILE: clean.num_rows,
                FLAGGED_METADATA_FILE: flagged.num_rows,
                "summary": asdict(summary),
            },
        )
    logger.info(
        "subset %s: %d patches (%d + %d flagged), %d files copied %s",
        out_dir,
        len(ids),
        clean.num_rows,
        flagged.num_rows,
        files,
        copier.counts,
    )
    return SubsetResult(
        out_dir,
        len(ids),
        clean.num_rows,
        flagged.num_rows,
        files,
        copier.counts,
        archives,
    )


def _query_json(query: Query) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in asdict(query).items():
        if value in (None, (), False):
            continue
        if key == "intersects":
            out[key] = value.wkt
        elif key in ("start", "end"):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
