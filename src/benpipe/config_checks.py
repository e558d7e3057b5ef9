"""Config checks that the JSON schema cannot express (run at DAG-build time)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benpipe.db.url import parse_database_url
from benpipe.errors import ConfigError


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key for cross-field problems."""
    patching = config.get("patching", {})
    size_m = patching.get("size_m", 1200)
    res_m = patching.get("resolution_m", 10)
    if size_m % res_m:
        raise ConfigError(
            f"patching.size_m ({size_m}) must be a multiple of "
            f"patching.resolution_m ({res_m})"
        )
    db_url = (config.get("database") or {}).get("url")
    if db_url:
        parse_database_url(str(db_url))  # ConfigError: not PostgreSQL, or a password


#: Where to get each input of a real run (README.md, "What a real run needs";
#: config/README.md has the details and checksums).
INPUT_SOURCES: dict[str, str] = {
    "tile_names_and_links": (
        "the published list ships with benpipe: tracked-artifacts/reben-v2.0/"
        "tile_names_and_links.csv.bz2 (or RSiM's BigEarthNet-S2_tools "
        "files/tile_names_and_links.csv)"
    ),
    "v1_metadata_dir": (
        "the v1 footprint GeoParquets bigearthnet_v1_spatial_<EPSG>.parquet of the "
        "reference pipeline's tracked-artifacts/ben-v1-metadata/ (docs/rebuild-reben.md)"
    ),
    "s1_root": (
        "the BigEarthNet-S1 v1.0 archive (bigearthnet.eu, BigEarthNet-S1-v1.0.tar.gz), "
        "extracted"
    ),
    "s1s2_mapping": (
        "s1s2_mapping.csv from RSiM's BigEarthNet-MM_tools (files/s1s2_mapping.csv)"
    ),
    "seasonal_snow_list": (
        "patches_with_seasonal_snow.csv of BigEarthNet v1 (also in the reference "
        "pipeline's tracked-artifacts/)"
    ),
    "cloud_shadow_list": (
        "patches_with_cloud_and_shadow.csv of BigEarthNet v1 (also in the reference "
        "pipeline's tracked-artifacts/)"
    ),
    "clc_gpkg": (
        "U2018_CLC2018_V2020_20u1.gpkg, a manual download (free login) from "
        "https://land.copernicus.eu/en/products/corine-land-cover/clc2018"
    ),
    "countries": (
        "ne_110m_admin_0_countries.geojson, Natural Earth 110 m admin-0 countries "
        "v5.1.2"
    ),
}


def require_input(key: str, path: str, *, working_dir: Path) -> str:
    """``path`` of ``inputs.<key>`` when it exists, else a :class:`ConfigError`.

    The message names the key, the path (resolved against ``working_dir``),
    and where to get the file; see docs/rebuild-reben.md.
    """
    if (working_dir / path).exists():
        return path
    source = INPUT_SOURCES.get(key, "see config/README.md")
    raise ConfigError(
        f"inputs.{key} = {path} does not exist (relative paths are relative to the "
        f"working directory {working_dir}). It is {source}. Put it there or set "
        f"inputs.{key} to where it is (README.md, 'What a real run needs'; "
        "docs/rebuild-reben.md)"
    )


def product_list_problem(
    tracked_dir: Path, tile_ids_csv: Path, n_products: int, *, working_dir: Path
) -> str | None:
    """Why a run has no product list (``None`` when it has one)."""
    where = f"tracked_artifacts_dir {tracked_dir}" + (
        ""
        if tracked_dir.is_absolute()
        else f" (in the working directory {working_dir})"
    )
    if not (working_dir / tracked_dir).is_dir():
        return f"{where} does not exist"
    if not (working_dir / tile_ids_csv).is_file():
        return f"{where} holds no {tile_ids_csv.name}"
    if n_products == 0:
        return f"{tile_ids_csv} lists no product"
    return None


def require_product_list(
    tracked_dir: Path,
    tile_ids_csv: Path,
    n_products: int,
    *,
    working_dir: Path,
    repository: Path,
) -> None:
    """Raise :class:`ConfigError` when the run has no product list.

    The product list (the L1C names and CDSE ids) comes from the tracked
    folder; without it every product rule would silently have no job.  The
    message names the folder and the freeze targets, and the repository's
    copy of the folder when a relative path missed it.
    """
    problem = product_list_problem(
        tracked_dir, tile_ids_csv, n_products, working_dir=working_dir
    )
    if problem is None:
        return
    elsewhere = ""
    if not tracked_dir.is_absolute() and (repository / tracked_dir).is_dir():
        elsewhere = (
            f" The repository has {repository / tracked_dir}: run from the "
            "repository root, or set tracked_artifacts_dir to that absolute path."
        )
    raise ConfigError(
        f"no product list: {problem}.{elsewhere} The run's L1C products come from "
        f"{tile_ids_csv.name} there. Use tracked-artifacts/reben-v2.0 (the 125 "
        "published reBEN v2.0 products, the default of config/config.yaml) or "
        "tracked-artifacts/demo, or make a list with the freeze targets: "
        "`snakemake search_cdse`, review results/l1c/search/diff.md, then "
        "`snakemake freeze_tile_ids`"
    )
