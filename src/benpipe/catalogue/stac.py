"""STAC documents of the catalogue: pure builders of JSON-ready dicts.

Layout under ``<catalogue>/stac/`` (docs/catalogue.md):

* ``collection.json``: the root Collection (extent, license, citation,
  label classes, ``item_assets`` for the 12 bands, VV/VH and the reference
  map, summaries of splits and countries), with an asset pointing to the
  Items as stac-geoparquet (``../patches.parquet``) and a child link per tile;
* ``<tile folder>/collection.json``: one Collection per dataset tile folder;
* ``<tile folder>/<patch>/<patch>.json``: static JSON Items, only when asked
  for (or for catalogues of at most :data:`STATIC_ITEMS_MAX` patches).

Every Item is a row of ``patches.parquet``; :func:`item_from_row` turns a row
into the Item JSON (the same mapping stac-geoparquet readers apply).
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import shapely

from benpipe.catalogue.core import (
    EO_EXTENSION,
    GEOTIFF_TYPE,
    LABEL_EXTENSION,
    PROJECTION_EXTENSION,
    REFERENCE_MAP_ASSET,
    ROOT_COLLECTION_ID,
    SCIENTIFIC_EXTENSION,
    STAC_VERSION,
)
from benpipe.clc import BEN19_CLASSES
from benpipe.dataset.layout import S1_POLARISATIONS
from benpipe.names import BAND_RESOLUTION_M, BANDS

#: Catalogues up to this many patches get static JSON Items by default.
STATIC_ITEMS_MAX = 2000

LICENSE = "CDLA-Permissive-1.0"
LICENSE_URL = "https://cdla.dev/permissive-1-0/"
DATASET_DOI = "10.5281/zenodo.10891137"
PAPER_DOI = "10.48550/arXiv.2407.03653"
CITATION = (
    "Clasen, K. N., Hackel, L., Burgert, T., Sumbul, G., Demir, B., Markl, V. "
    "(2024). reBEN: Refined BigEarthNet Dataset for Remote Sensing Image "
    "Analysis. arXiv:2407.03653"
)
TOP_LEVEL = frozenset(
    {
        "type",
        "stac_version",
        "stac_extensions",
        "id",
        "geometry",
        "bbox",
        "collection",
        "links",
        "assets",
    }
)

#: eo v2.0 common name and centre wavelength (µm) of each Sentinel-2 band.
_BAND_EO: dict[str, tuple[str, float]] = {
    "B01": ("coastal", 0.443),
    "B02": ("blue", 0.49),
    "B03": ("green", 0.56),
    "B04": ("red", 0.665),
    "B05": ("rededge071", 0.705),
    "B06": ("rededge075", 0.74),
    "B07": ("rededge078", 0.783),
    "B08": ("nir", 0.842),
    "B8A": ("nir08", 0.865),
    "B09": ("nir09", 0.945),
    "B11": ("swir16", 1.61),
    "B12": ("swir22", 2.19),
}


def rfc3339(value: datetime) -> str:
    """``2017-06-13T10:10:31Z`` (UTC, whole seconds as in product names)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def item_assets() -> dict[str, dict[str, Any]]:
    """``item_assets`` of the root Collection: what each Item asset holds."""
    assets: dict[str, dict[str, Any]] = {}
    for band in BANDS:
        common, wavelength = _BAND_EO[band]
        res = BAND_RESOLUTION_M[band]
        side = 1200 // res
        assets[band] = {
            "title": f"Sentinel-2 L2A band {band} ({res} m, {side}x{side} px, UInt16)",
            "type": GEOTIFF_TYPE,
            "roles": ["data"],
            "gsd": float(res),
            "bands": [
                {
                    "name": band,
                    "eo:common_name": common,
                    "eo:center_wavelength": wavelength,
                }
            ],
        }
    for pol in S1_POLARISATIONS:
        assets[pol] = {
            "title": f"Sentinel-1 GRD {pol} backscatter (BigEarthNet v1 S1 patch)",
            "type": GEOTIFF_TYPE,
            "roles": ["data"],
        }
    assets[REFERENCE_MAP_ASSET] = {
        "title": "Reference map: CORINE Land Cover 2018 code of every 10 m pixel",
        "type": GEOTIFF_TYPE,
        "roles": ["labels", "labels-raster"],
    }
    return assets


def _extent(
    bboxes: Sequence[Sequence[float]], times: Sequence[datetime]
) -> dict[str, Any]:
    if bboxes:
        overall = [
            min(b[0] for b in bboxes),
            min(b[1] for b in bboxes),
            max(b[2] for b in bboxes),
            max(b[3] for b in bboxes),
        ]
        interval: list[str | None] = [rfc3339(min(times)), rfc3339(max(times))]
    else:
        overall, interval = [-180.0, -90.0, 180.0, 90.0], [None, None]
    return {"spatial": {"bbox": [overall]}, "temporal": {"interval": [interval]}}


def _license_links() -> list[dict[str, str]]:
    return [
        {
            "rel": "license",
            "href": LICENSE_URL,
            "type": "text/html",
            "title": "Community Data License Agreement - Permissive - Version 1.0",
        },
        {
            "rel": "cite-as",
            "href": f"https://doi.org/{DATASET_DOI}",
            "title": "BigEarthNet v2.0 on Zenodo",
        },
    ]


def root_collection(
    *,
    bboxes: Sequence[Sequence[float]],
    times: Sequence[datetime],
    splits: Iterable[str],
    countries: Iterable[str],
    seasons: Iterable[str],
    proj_codes: Iterable[str],
    platforms: Iterable[str],
    label_counts: Mapping[str, int],
    tile_dirs: Sequence[str],
) -> dict[str, Any]:
    """The root Collection (one per catalogue)."""
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [
            LABEL_EXTENSION,
            EO_EXTENSION,
            PROJECTION_EXTENSION,
            SCIENTIFIC_EXTENSION,
        ],
        "id": ROOT_COLLECTION_ID,
        "title": "BigEarthNet v2.0 (reBEN)",
        "description": (
            "Pairs of Sentinel-2 L2A and Sentinel-1 patches of 1200 m x 1200 m with "
            "BEN-19 multi-labels and pixel-wise reference maps from CORINE Land Cover "
            "2018 (reBEN, BigEarthNet v2.0). One Item per patch; the Items are in "
            "../patches.parquet (stac-geoparquet). Asset hrefs of Items are relative "
            "to the root of the extracted dataset (the folder holding "
            "metadata.parquet). Cite: " + CITATION
        ),
        "keywords": [
            "BigEarthNet",
            "reBEN",
            "Sentinel-1",
            "Sentinel-2",
            "CORINE Land Cover",
            "multi-label classification",
            "semantic segmentation",
        ],
        "license": LICENSE,
        "providers": [
            {
                "name": "TU Berlin, Remote Sensing Image Analysis (RSiM) group",
                "roles": ["producer", "licensor"],
                "url": "https://bigearth.net",
            },
            {
                "name": "European Space Agency / Copernicus",
                "roles": ["producer"],
                "url": "https://dataspace.copernicus.eu",
            },
        ],
        "sci:doi": DATASET_DOI,
        "sci:citation": CITATION,
        "sci:publications": [{"doi": PAPER_DOI, "citation": CITATION}],
        "extent": _extent(bboxes, times),
        "summaries": {
            "split": sorted(set(splits)),
            "country": sorted(set(countries)),
            "season": sorted(set(seasons)),
            "platform": sorted(set(platforms)),
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "proj:code": sorted(set(proj_codes)),
            "label:type": ["vector"],
            "label:properties": ["labels"],
            "label:classes": [{"name": "labels", "classes": list(BEN19_CLASSES)}],
            "label:tasks": ["classification", "segmentation"],
            "label:methods": ["automated"],
            "label:overviews": [
                {
                    "property_key": "labels",
                    "counts": [
                        {"name": cls, "count": int(label_counts.get(cls, 0))}
                        for cls in BEN19_CLASSES
                    ],
                }
            ],
        },
        "item_assets": item_assets(),
        "assets": {
            "geoparquet-items": {
                "href": "../patches.parquet",
                "type": "application/vnd.apache.parquet",
                "title": "Every Item of this catalogue as stac-geoparquet",
                "roles": ["stac-items"],
            }
        },
        "links": [
            {"rel": "root", "href": "./collection.json", "type": "application/json"},
            *(
                {
                    "rel": "child",
                    "href": f"./{tile}/collection.json",
                    "type": "application/json",
                    "title": tile,
                }
                for tile in tile_dirs
            ),
            *_license_links(),
        ],
    }


def tile_collection(
    tile_dir: str,
    *,
    l1c_product: str,
    cdse_id: str,
    bboxes: Sequence[Sequence[float]],
    times: Sequence[datetime],
    splits: Sequence[str],
    countries: Sequence[str],
    proj_codes: Iterable[str],
    item_ids: Sequence[str] | None,
) -> dict[str, Any]:
    """The Collection of one dataset tile folder (one Sentinel-2 product)."""
    split_counts = Counter(splits)
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": "../collection.json", "type": "application/json"},
        {"rel": "parent", "href": "../collection.json", "type": "application/json"},
    ]
    for pid in item_ids or ():
        links.append(
            {
                "rel": "item",
                "href": f"./{pid}/{pid}.json",
                "type": "application/geo+json",
            }
        )
    links += _license_links()
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": tile_dir,
        "title": f"reBEN patches of {tile_dir}",
        "description": (
            f"The {len(splits)} patches of the Sentinel-2 product {tile_dir} "
            f"(from L1C {l1c_product}, CDSE id {cdse_id}): "
            + ", ".join(f"{k} {v}" for k, v in sorted(split_counts.items()))
            + ". Items: rows of ../../patches.parquet whose collection is this id."
        ),
        "license": LICENSE,
        "extent": _extent(bboxes, times),
        "summaries": {
            "split": sorted(split_counts),
            "country": sorted(set(countries)),
            "proj:code": sorted(set(proj_codes)),
        },
        "links": links,
    }


def _as_lists(value: Any) -> Any:
    """GeoJSON mapping with lists instead of tuples (what JSON gives back)."""
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_lists(v) for v in value]
    return value


def item_from_row(
    row: Mapping[str, Any],
    *,
    asset_root: str = "",
    links: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The STAC Item JSON of one catalogue row (``table.to_pylist()`` form).

    ``asset_root`` is prefixed to the dataset-relative asset hrefs (for
    static Items: the relative path from the Item's folder to the dataset
    root); ``links`` replaces the row's links.
    """
    geometry = shapely.from_wkb(row["geometry"])
    bbox = row["bbox"]
    properties: dict[str, Any] = {}
    for key, value in row.items():
        if key in TOP_LEVEL:
            continue
        properties[key] = rfc3339(value) if isinstance(value, datetime) else value
    assets = {
        key: {
            **{k: v for k, v in asset.items() if k != "href"},
            "href": posixpath.join(asset_root, asset["href"])
            if asset_root
            else asset["href"],
        }
        for key, asset in row["assets"].items()
    }
    return {
        "type": row["type"],
        "stac_version": row["stac_version"],
        "stac_extensions": list(row["stac_extensions"]),
        "id": row["id"],
        "geometry": _as_lists(shapely.geometry.mapping(geometry)),
        "bbox": [bbox["xmin"], bbox["ymin"], bbox["xmax"], bbox["ymax"]],
        "properties": properties,
        "links": [
            dict(link) for link in (links if links is not None else row["links"])
        ],
        "assets": assets,
        "collection": row["collection"],
    }
