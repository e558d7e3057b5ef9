"""Build the catalogue of a dataset folder: ``patches.parquet`` and ``stac/``.

The recipe (the same for the pipeline's ``build_catalogue`` rule and for
``benpipe catalogue build`` on an extracted download):

1. read both metadata parquets and the frozen tile-id table;
2. open each reference map once: native CRS and bounds, label fractions;
3. build the rows (:func:`benpipe.catalogue.core.build_table`);
4. write the GeoParquet (deterministic bytes) and the STAC documents.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from benpipe.catalogue import stac
from benpipe.catalogue.core import (
    ALGORITHM_VERSION,
    CATALOGUE_FILE,
    ROOT_COLLECTION_ID,
    STAC_DIR,
    build_table,
    geo_metadata,
)
from benpipe.catalogue.io import (
    read_dataset_metadata,
    read_patch_facts,
    read_tile_ids,
    write_catalogue_parquet,
    write_json,
)
from benpipe.errors import InputDataError
from benpipe.fileio import staged_directory

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CatalogueResult:
    """What :func:`build_catalogue` wrote."""

    catalogue: Path
    stac_dir: Path
    patches: int
    tiles: int
    static_items: int


def stac_collections(
    table: pa.Table, *, static_items: bool
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The root Collection and the per-tile Collections of a catalogue table."""
    cols = table.select(
        [
            "id",
            "collection",
            "bbox",
            "datetime",
            "split",
            "country",
            "season",
            "proj:code",
            "platform",
            "labels",
            "l1c_product",
            "cdse_id",
        ]
    ).to_pydict()
    by_tile: dict[str, list[int]] = defaultdict(list)
    for i, tile in enumerate(cols["collection"]):
        by_tile[tile].append(i)
    bboxes = [(b["xmin"], b["ymin"], b["xmax"], b["ymax"]) for b in cols["bbox"]]
    label_counts = Counter(label for labels in cols["labels"] for label in labels)
    tiles = sorted(by_tile)
    root = stac.root_collection(
        bboxes=bboxes,
        times=cols["datetime"],
        splits=cols["split"],
        countries=cols["country"],
        seasons=cols["season"],
        proj_codes=cols["proj:code"],
        platforms=cols["platform"],
        label_counts=label_counts,
        tile_dirs=tiles,
    )
    children: dict[str, dict[str, Any]] = {}
    for tile in tiles:
        rows = by_tile[tile]
        ids = sorted((cols["id"][i] for i in rows), key=lambda s: s.encode())
        children[tile] = stac.tile_collection(
            tile,
            l1c_product=cols["l1c_product"][rows[0]],
            cdse_id=cols["cdse_id"][rows[0]],
            bboxes=[bboxes[i] for i in rows],
            times=[cols["datetime"][i] for i in rows],
            splits=[cols["split"][i] for i in rows],
            countries=[cols["country"][i] for i in rows],
            proj_codes=[cols["proj:code"][i] for i in rows],
            item_ids=ids if static_items else None,
        )
    return root, children


def write_stac(
    table: pa.Table,
    stac_dir: Path,
    *,
    dataset_dir: Path,
    static_items: bool,
) -> int:
    """Write the Collections (and static Items) into a fresh ``stac_dir``."""
    root, children = stac_collections(table, static_items=static_items)
    with staged_directory(stac_dir, "STAC folder") as staging:
        tmp = staging.path
        write_json(tmp / "collection.json", root)
        for tile, collection in children.items():
            write_json(tmp / tile / "collection.json", collection)
        written = 0
        if static_items:
            dataset_abs = Path(os.path.abspath(dataset_dir))
            for row in table.to_pylist():
                item_dir = (
                    Path(os.path.abspath(stac_dir)) / row["collection"] / row["id"]
                )
                asset_root = Path(os.path.relpath(dataset_abs, item_dir)).as_posix()
                links = [
                    {
                        "rel": "root",
                        "href": "../../collection.json",
                        "type": "application/json",
                    },
                    {
                        "rel": "parent",
                        "href": "../collection.json",
                        "type": "application/json",
                    },
                    {
                        "rel": "collection",
                        "href": "../collection.json",
                        "type": "application/json",
                    },
                ]
                item = stac.item_from_row(row, asset_root=asset_root, links=links)
                write_json(
                    tmp / row["collection"] / row["id"] / f"{row['id']}.json", item
                )
                written += 1
    return written


def write_catalogue(
    table: pa.Table, out_dir: Path, *, dataset_dir: Path, static_items: bool
) -> int:
    """Write ``out_dir/patches.parquet`` and ``out_dir/stac/`` for catalogue rows.

    Returns the number of static Items written.
    """
    root, children = stac_collections(table, static_items=False)
    stac_meta = {
        "version": "1.0.0",
        "collections": {ROOT_COLLECTION_ID: root, **children},
    }
    write_catalogue_parquet(
        table, out_dir / CATALOGUE_FILE, geo=geo_metadata(table), stac=stac_meta
    )
    return write_stac(
        table, out_dir / STAC_DIR, dataset_dir=dataset_dir, static_items=static_items
    )


def build_catalogue(
    dataset_dir: Path,
    out_dir: Path,
    *,
    tile_ids: Path,
    overlap_threshold: float = 0.01,
    reference_season_quirk: bool = True,
    static_items: bool | None = None,
    workers: int = 2,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CatalogueResult:
    """Write ``out_dir/patches.parquet`` and ``out_dir/stac/`` for ``dataset_dir``.

    ``static_items``: write one JSON file per Item too (default: only for at
    most :data:`benpipe.catalogue.stac.STATIC_ITEMS_MAX` patches).
    ``overwrite`` replaces an existing catalogue; otherwise an existing one is
    an :class:`InputDataError`.
    """
    start = time.monotonic()
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    catalogue = out_dir / CATALOGUE_FILE
    stac_dir = out_dir / STAC_DIR
    if not overwrite and catalogue.exists():
        raise InputDataError(
            f"{catalogue} already exists; pass --overwrite to rebuild the catalogue"
        )
    if overwrite and stac_dir.exists():
        shutil.rmtree(stac_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    logger.info(
        "catalogue of %s (algorithm version %d, overlap threshold %s)",
        dataset_dir,
        ALGORITHM_VERSION,
        overlap_threshold,
    )
    metadata = read_dataset_metadata(dataset_dir)
    tiles = read_tile_ids(tile_ids)
    ids = metadata.column("patch_id").to_pylist()
    facts = read_patch_facts(dataset_dir, ids, workers=workers, progress=progress)
    table = build_table(
        metadata,
        facts,
        tiles,
        overlap_threshold=overlap_threshold,
        reference_season_quirk=reference_season_quirk,
    )
    if static_items is None:
        static_items = table.num_rows <= stac.STATIC_ITEMS_MAX
    items = write_catalogue(
        table, out_dir, dataset_dir=dataset_dir, static_items=static_items
    )
    children = table.column("collection").unique()
    logger.info(
        "catalogue %s: %d patches of %d tiles, %d static Items, %.1f s",
        catalogue,
        table.num_rows,
        len(children),
        items,
        time.monotonic() - start,
    )
    return CatalogueResult(catalogue, stac_dir, table.num_rows, len(children), items)
