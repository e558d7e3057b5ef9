"""Dataset-level QA figures from a dataset directory (rule ``qa_dataset``, ``benpipe qa``).

Only the published contract is read, so a downloaded reBEN works as well as a
run's ``results/dataset``: the two metadata parquets, one S2 GeoTIFF header
per tile (its georeferencing; every other patch position follows from the
patch name), and the GeoTIFFs of the gallery's sample patches.  Country
outlines come from a separate vector file (the run's ``inputs.countries``),
optional.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benpipe.clc import BEN19_CLASSES
from benpipe.dataset.layout import (
    FLAGGED_METADATA_FILE,
    MAPS_TREE,
    METADATA_FILE,
    S1_TREE,
    S2_TREE,
    SPLITS,
)
from benpipe.errors import InputDataError, NamingError
from benpipe.fileio import atomic_write_bytes, staged_directory, write_json_atomic
from benpipe.names import parse_patch_name, parse_s1_name
from benpipe.qa.core import (
    ALGORITHM_VERSION,
    BEN19_SHORT,
    RGB_BANDS,
    SEASONS,
    PatchRecord,
    class_counts_by_split,
    class_slug,
    cooccurrence,
    counts_by,
    db_to_grey,
    gallery_samples,
    map_bounds,
    split_totals,
    stretch_rgb,
    tile_label,
)
from benpipe.qa.figures import (
    GallerySample,
    MapLayer,
    class_frequency_png,
    cooccurrence_png,
    gallery_png,
    patch_map_png,
    split_counts_png,
)

logger = logging.getLogger(__name__)

#: CRS of the patch map (ETRS89-LAEA Europe, the CORINE CRS).
MAP_EPSG = 3035
#: Fixed display ranges of the S1 thumbnails (backscatter in dB).
VV_RANGE_DB = (-25.0, 0.0)
VH_RANGE_DB = (-32.0, -5.0)
#: Sub-folders of a QA directory and the dataset figures' file stems.
DATASET_DIR = "dataset"
GALLERY_DIR = "gallery"
SUMMARY_FILE = "summary.json"
DATASET_FIGURES: tuple[str, ...] = (
    "class_frequencies",
    "label_cooccurrence",
    "patches_per_country",
    "patches_per_season",
    "patches_per_tile",
    "patch_map",
)
_COUNTRY_NAME_COLUMNS = ("NAME_LONG", "name_long", "NAME", "ADMIN", "name")


@dataclass(frozen=True, slots=True)
class FigureEntry:
    """A figure of the QA page: file relative to the QA directory, title, text."""

    file: str
    title: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "title": self.title, "description": self.description}


@dataclass(frozen=True, slots=True)
class DatasetQa:
    """Facts and figures of one dataset (``summary.json``)."""

    dataset: str
    patches: int
    flagged: int
    splits: dict[str, int]
    countries: dict[str, int]
    tiles: int
    figures: list[FigureEntry] = field(default_factory=list)
    gallery: list[FigureEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm_version": ALGORITHM_VERSION,
            "dataset": self.dataset,
            "patches": self.patches,
            "flagged": self.flagged,
            "splits": self.splits,
            "countries": self.countries,
            "tiles": self.tiles,
            "figures": [f.to_json() for f in self.figures],
            "gallery": [f.to_json() for f in self.gallery],
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> DatasetQa:
        return cls(
            dataset=str(payload["dataset"]),
            patches=int(payload["patches"]),
            flagged=int(payload["flagged"]),
            splits={str(k): int(v) for k, v in payload["splits"].items()},
            countries={str(k): int(v) for k, v in payload["countries"].items()},
            tiles=int(payload["tiles"]),
            figures=[FigureEntry(**f) for f in payload["figures"]],
            gallery=[FigureEntry(**f) for f in payload["gallery"]],
        )

    @classmethod
    def read(cls, path: Path) -> DatasetQa:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputDataError(
                f"QA summary {path} is unreadable or incomplete ({exc}); rerun "
                "qa_dataset (or benpipe qa) to rebuild it"
            ) from exc


# ---------------------------------------------------------------- reading
def read_records(dataset_dir: Path) -> list[PatchRecord]:
    """Every patch of both metadata parquets (``flagged`` for the second)."""
    import pyarrow.parquet as pq

    records: list[PatchRecord] = []
    columns = ["patch_id", "labels", "split", "country", "s1_name"]
    for name, flagged in ((METADATA_FILE, False), (FLAGGED_METADATA_FILE, True)):
        path = dataset_dir / name
        if not path.is_file():
            raise InputDataError(
                f"{path} is missing: {dataset_dir} is not a reBEN dataset directory "
                f"(expected {METADATA_FILE}, {FLAGGED_METADATA_FILE}, {S2_TREE}/, "
                f"{MAPS_TREE}/, {S1_TREE}/)"
            )
        try:
            table = pq.read_table(path, columns=columns)
        except (OSError, ValueError, KeyError) as exc:
            raise InputDataError(
                f"{path} cannot be read with columns {columns}: {exc}"
            ) from exc
        data = table.to_pydict()
        for i, pid in enumerate(data["patch_id"]):
            try:
                parse_patch_name(str(pid))
            except NamingError as exc:
                raise InputDataError(f"{path} row {i}: {exc}") from exc
            records.append(
                PatchRecord(
                    patch_id=str(pid),
                    labels=tuple(data["labels"][i] or ()),
                    split=str(data["split"][i]),
                    country=str(data["country"][i]),
                    s1_name=str(data["s1_name"][i]),
                    flagged=flagged,
                )
            )
    return records


@dataclass(frozen=True, slots=True)
class TileGeo:
    """Georeferencing of a tile folder, from one of its patch GeoTIFFs."""

    epsg: int
    ulx: float
    uly: float
    patch_side_m: float


def tile_geocoding(
    dataset_dir: Path, records: Iterable[PatchRecord]
) -> dict[str, TileGeo]:
    """{tile folder: georeferencing}, reading one S2 B02 header per tile."""
    import rasterio

    first: dict[str, str] = {}
    for rec in records:
        tile = rec.tile_dir
        if tile not in first or rec.patch_id < first[tile]:
            first[tile] = rec.patch_id
    out: dict[str, TileGeo] = {}
    with rasterio.Env():
        for tile, pid in sorted(first.items()):
            path = dataset_dir / S2_TREE / tile / pid / f"{pid}_B02.tif"
            try:
                with rasterio.open(path) as src:
                    epsg = src.crs.to_epsg() if src.crs is not None else None
                    left, top = src.transform.c, src.transform.f
                    side = src.width * src.transform.a
            except rasterio.errors.RasterioIOError as exc:
                raise InputDataError(
                    f"{path} cannot be opened ({exc}); the patch map needs one S2 "
                    f"GeoTIFF per tile folder of {S2_TREE}"
                ) from exc
            if epsg is None:
                raise InputDataError(f"{path} has no EPSG-coded CRS")
            name = parse_patch_name(pid)
            out[tile] = TileGeo(
                epsg=int(epsg),
                ulx=float(left) - name.col * side,
                uly=float(top) + name.row * side,
                patch_side_m=float(side),
            )
    return out


def patch_centres(
    records: Sequence[PatchRecord], tiles: dict[str, TileGeo], *, epsg: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Patch centres in ``epsg``, in the order of ``records``."""
    from pyproj import Transformer

    x = np.empty(len(records))
    y = np.empty(len(records))
    by_epsg: dict[int, list[int]] = {}
    for i, rec in enumerate(records):
        name = parse_patch_name(rec.patch_id)
        geo = tiles[name.tile_dir]
        x[i] = geo.ulx + (name.col + 0.5) * geo.patch_side_m
        y[i] = geo.uly - (name.row + 0.5) * geo.patch_side_m
        by_epsg.setdefault(geo.epsg, []).append(i)
    for source, index in sorted(by_epsg.items()):
        transformer = Transformer.from_crs(source, epsg, always_xy=True)
        tx, ty = transformer.transform(x[index], y[index])
        x[index], y[index] = tx, ty
    return x, y


def country_outlines(
    path: Path, *, bounds: tuple[float, float, float, float], epsg: int
) -> tuple[list[npt.NDArray[np.float64]], list[tuple[float, float, str]]]:
    """Country rings clipped to ``bounds`` (in ``epsg``) and their name anchors."""
    import geopandas
    import shapely

    try:
        frame = geopandas.read_file(path)
    except (OSError, RuntimeError, ValueError) as exc:  # pyogrio: DataSourceError
        raise InputDataError(
            f"country outlines {path} cannot be read ({exc}); pass the Natural "
            "Earth admin-0 file of inputs.countries"
        ) from exc
    if frame.crs is None:
        raise InputDataError(f"country outlines {path} have no CRS")
    name_col = next((c for c in _COUNTRY_NAME_COLUMNS if c in frame.columns), None)
    frame = frame.to_crs(epsg)
    box = shapely.box(*bounds)
    rings: list[npt.NDArray[np.float64]] = []
    names: list[tuple[float, float, str]] = []
    for i, geom in enumerate(frame.geometry):
        if geom is None or geom.is_empty or not geom.intersects(box):
            continue
        clipped = shapely.clip_by_rect(geom, *bounds)
        for poly in getattr(clipped, "geoms", [clipped]):
            if poly.geom_type == "Polygon" and not poly.is_empty:
                rings.append(np.asarray(poly.exterior.coords, dtype=np.float64))
        if name_col is not None and not clipped.is_empty:
            anchor = clipped.representative_point()
            names.append(
                (float(anchor.x), float(anchor.y), str(frame[name_col].iloc[i]))
            )
    return rings, names


def _read_band(path: Path) -> npt.NDArray[Any] | None:
    import rasterio

    if not path.is_file():
        return None
    with rasterio.open(path) as src:
        return np.asarray(src.read(1))


def read_gallery_sample(dataset_dir: Path, rec: PatchRecord) -> GallerySample:
    """A sample patch's true colour, reference map and S1 VV/VH from the trees."""
    tile = rec.tile_dir
    folder = dataset_dir / S2_TREE / tile / rec.patch_id
    bands = [_read_band(folder / f"{rec.patch_id}_{b}.tif") for b in RGB_BANDS]
    if any(b is None for b in bands):
        raise InputDataError(
            f"{folder}: a true-colour band ({', '.join(RGB_BANDS)}) is missing; "
            "run benpipe check-dataset on the dataset"
        )
    rgb = stretch_rgb(np.stack([np.asarray(b, dtype=np.uint16) for b in bands], axis=2))
    ref = _read_band(
        dataset_dir
        / MAPS_TREE
        / tile
        / rec.patch_id
        / f"{rec.patch_id}_reference_map.tif"
    )
    s1 = parse_s1_name(rec.s1_name)
    s1_folder = dataset_dir / S1_TREE / s1.group / s1.name
    vv = _read_band(s1_folder / f"{s1.name}_VV.tif")
    vh = _read_band(s1_folder / f"{s1.name}_VH.tif")
    return GallerySample(
        patch_id=rec.patch_id,
        labels=rec.labels,
        rgb=rgb,
        reference_map=None if ref is None else np.asarray(ref, dtype=np.uint16),
        vv=None
        if vv is None
        else db_to_grey(vv, low_db=VV_RANGE_DB[0], high_db=VV_RANGE_DB[1]),
        vh=None
        if vh is None
        else db_to_grey(vh, low_db=VH_RANGE_DB[0], high_db=VH_RANGE_DB[1]),
    )


# ---------------------------------------------------------------- building
def build_dataset_figures(
    dataset_dir: Path,
    out_dir: Path,
    *,
    countries: Path | None = None,
    samples_per_class: int = 4,
) -> DatasetQa:
    """Write the dataset figures, the gallery and ``summary.json`` under ``out_dir``.

    ``out_dir/dataset/<figure>.png`` (:data:`DATASET_FIGURES`),
    ``out_dir/gallery/<nn>_<class>.png`` (a folder built aside and renamed)
    and ``out_dir/dataset/summary.json``.  Statistics count the patches of
    ``metadata.parquet``; the map shows the flagged ones too.
    """
    if samples_per_class < 1:
        raise InputDataError(
            f"samples_per_class is {samples_per_class}; the gallery needs at least 1"
        )
    started = time.monotonic()
    records = read_records(dataset_dir)
    main = [r for r in records if not r.flagged]
    map_inputs = _map_inputs(dataset_dir, records, countries)
    figures_dir = out_dir / DATASET_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    logger.info(
        "%s: %d patches (%d flagged) in %d tiles",
        dataset_dir,
        len(main),
        len(records) - len(main),
        len({r.tile_dir for r in records}),
    )
    entries: list[FigureEntry] = []

    def emit(stem: str, png: bytes, title: str, description: str) -> None:
        atomic_write_bytes(figures_dir / f"{stem}.png", png)
        entries.append(FigureEntry(f"{DATASET_DIR}/{stem}.png", title, description))

    emit(
        "class_frequencies",
        class_frequency_png(
            class_counts_by_split(main), title="Patches per class and split"
        ),
        "Class frequencies per split",
        f"Patches of {METADATA_FILE} carrying each of the 19 classes, per split.",
    )
    emit(
        "label_cooccurrence",
        cooccurrence_png(cooccurrence(main), title="Label co-occurrence"),
        "Label co-occurrence",
        "Patches carrying both classes (diagonal: patches carrying the class), "
        "log colour scale.",
    )
    emit(
        "patches_per_country",
        split_counts_png(
            counts_by(main, "country"), title="Patches per country", what="country"
        ),
        "Patches per country",
        "Patches per country (the country of most of the patch area) and split.",
    )
    emit(
        "patches_per_season",
        split_counts_png(
            counts_by(main, "season", order=SEASONS),
            title="Patches per season",
            what="season",
        ),
        "Patches per season",
        "Patches per meteorological season of the acquisition date, and split.",
    )
    tiles = counts_by(main, "tile_dir")
    emit(
        "patches_per_tile",
        split_counts_png(
            {tile_label(k): v for k, v in tiles.items()},
            title="Patches per tile",
            what="tile",
        ),
        "Patches per tile",
        "Patches per tile folder (MGRS tile, acquisition date, satellite) and split.",
    )
    emit(
        "patch_map",
        patch_map_png(
            map_inputs.layer,
            outlines=map_inputs.rings,
            outline_names=map_inputs.names,
            title=f"{len(records)} patches by split",
            crs_label=f"EPSG:{MAP_EPSG}",
        ),
        "Patch map",
        (
            "Every patch of both parquets as a square coloured by split, in "
            f"EPSG:{MAP_EPSG}"
            + (" over the country outlines" if countries else "")
            + "."
        ),
    )
    gallery = _write_gallery(dataset_dir, out_dir, main, samples_per_class)
    result = DatasetQa(
        dataset=dataset_dir.name,
        patches=len(main),
        flagged=len(records) - len(main),
        splits=dict(split_totals(main)),
        countries={k: sum(v.values()) for k, v in counts_by(main, "country").items()},
        tiles=len({r.tile_dir for r in records}),
        figures=entries,
        gallery=gallery,
    )
    write_json_atomic(figures_dir / SUMMARY_FILE, result.to_json())
    logger.info(
        "dataset QA: %d figures and %d gallery pages in %.1f s",
        len(entries),
        len(gallery),
        time.monotonic() - started,
    )
    return result


@dataclass(frozen=True, slots=True)
class _MapInputs:
    layer: MapLayer
    rings: list[npt.NDArray[np.float64]]
    names: list[tuple[float, float, str]]


def _map_inputs(
    dataset_dir: Path, records: Sequence[PatchRecord], countries: Path | None
) -> _MapInputs:
    """Patch positions (one header per tile) and country outlines, read up front."""
    tiles = tile_geocoding(dataset_dir, records)
    x, y = patch_centres(records, tiles, epsg=MAP_EPSG)
    split_index = {s: i for i, s in enumerate(SPLITS)}
    unknown = sorted({r.split for r in records} - set(split_index))
    if unknown:
        raise InputDataError(
            f"{dataset_dir}: split value(s) {unknown} are not among {list(SPLITS)}; "
            "run benpipe check-dataset on it"
        )
    splits = np.array([split_index[r.split] for r in records], dtype=np.uint8)
    side = max((t.patch_side_m for t in tiles.values()), default=1200.0)
    rings: list[npt.NDArray[np.float64]] = []
    names: list[tuple[float, float, str]] = []
    if countries is not None:
        rings, names = country_outlines(
            countries, bounds=map_bounds(x, y), epsg=MAP_EPSG
        )
    return _MapInputs(MapLayer(x_m=x, y_m=y, split=splits, side_m=side), rings, names)


def _write_gallery(
    dataset_dir: Path,
    out_dir: Path,
    records: Sequence[PatchRecord],
    samples_per_class: int,
) -> list[FigureEntry]:
    entries: list[FigureEntry] = []
    # The gallery folder belongs to this build: it is replaced as a whole.
    with staged_directory(out_dir / GALLERY_DIR, "QA gallery", replace=True) as staging:
        for cls, samples in gallery_samples(
            records, per_class=samples_per_class
        ).items():
            stem = class_slug(cls)
            png = gallery_png(
                cls,
                [read_gallery_sample(dataset_dir, rec) for rec in samples],
                title=f"{BEN19_CLASSES.index(cls) + 1}. {cls}",
            )
            atomic_write_bytes(staging.path / f"{stem}.png", png)
            entries.append(
                FigureEntry(
                    f"{GALLERY_DIR}/{stem}.png",
                    BEN19_SHORT[cls],
                    f"{len(samples)} sample patch(es) carrying {cls!r} "
                    "(fewest labels first).",
                )
            )
    return entries
