"""A seeded synthetic catalogue of any size, for benchmarks and tests.

Tiles sit at real UTM positions across the BigEarthNet countries (zones 29 to
35), each with its 91 × 91 patch grid; a seeded share of the patches is kept,
with random labels, fractions, flags and names in the published formats.  The
rows go through :func:`benpipe.catalogue.core.build_table`, so the synthetic
catalogue has exactly the real schema, order and derived columns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from benpipe.catalogue.core import (
    FRACTION_CLASSES,
    PatchFacts,
    TileRef,
    build_table,
)
from benpipe.clc import BEN19_CLASSES
from benpipe.dataset.finalize import METADATA_SCHEMA
from benpipe.grid import PatchGridParams, split_for_patch
from benpipe.names import BEN_COUNTRIES, l2a_name_for, patch_name, tile_dir_for

_LETTERS = "CDEFGHJKLMNPQRSTUVWX"


def _l1c_name(rng: np.random.Generator, zone: int, index: int, when: datetime) -> str:
    band = "TUVW"[index % 4]
    square = (
        _LETTERS[(index * 7) % len(_LETTERS)] + _LETTERS[(index * 3) % len(_LETTERS)]
    )
    stamp = when.strftime("%Y%m%dT%H%M%S")
    mission = "S2A" if index % 2 else "S2B"
    orbit = int(rng.integers(1, 143))
    return f"{mission}_MSIL1C_{stamp}_N0205_R{orbit:03d}_T{zone}{band}{square}_{stamp}"


def synthetic_catalogue(
    patches: int, *, seed: int = 0, tile_side_patches: int = 91
) -> pa.Table:
    """About ``patches`` catalogue rows (seeded), in the real schema and order."""
    rng = np.random.default_rng(seed)
    per_tile = tile_side_patches * tile_side_patches
    keep_share = 0.53
    n_tiles = max(1, int(np.ceil(patches / (per_tile * keep_share))))
    side_m = tile_side_patches * 1200.0
    params = PatchGridParams(tile_side_m=side_m)
    start = datetime(2017, 6, 1, 10, tzinfo=UTC)

    ids: list[str] = []
    epsgs: list[int] = []
    bounds: list[tuple[float, float, float, float]] = []
    shares: list[np.ndarray] = []
    meta: dict[str, list[object]] = {f.name: [] for f in METADATA_SCHEMA}
    tiles: dict[str, TileRef] = {}
    for t in range(n_tiles):
        zone = 29 + t % 7
        when = start + timedelta(days=int(rng.integers(0, 365)), seconds=t)
        l1c = _l1c_name(rng, zone, t, when)
        tile_dir = tile_dir_for(l1c)
        tiles[tile_dir] = TileRef(
            l1c_product=l1c, l2a_product=l2a_name_for(l1c), cdse_id=f"synthetic-{t:05d}"
        )
        ulx = 300_000.0 + 109_800.0 * ((t // 7) % 4)
        uly = 6_000_000.0 + 600_000.0 * ((t // 28) % 3) - 109_800.0 * ((t // 7) % 2)
        country = BEN_COUNTRIES[t % len(BEN_COUNTRIES)]
        keep = rng.random(per_tile) < keep_share
        for k in np.flatnonzero(keep).tolist():
            row, col = divmod(k, tile_side_patches)
            pid = patch_name(l1c, col=col, row=row)
            n_labels = int(rng.integers(1, 5))
            label_idx = np.sort(rng.choice(len(BEN19_CLASSES), n_labels, replace=False))
            weights = rng.dirichlet(np.ones(n_labels + 1))
            fractions = np.zeros(len(FRACTION_CLASSES))
            fractions[label_idx] = weights[:n_labels]
            fractions[-1] = weights[-1] * 0.3
            fractions /= fractions.sum()
            labels = sorted(
                (BEN19_CLASSES[i] for i in label_idx.tolist()), key=lambda s: s.encode()
            )
            flag = rng.random()
            ids.append(pid)
            meta["patch_id"].append(pid)
            meta["labels"].append(labels)
            meta["split"].append(split_for_patch(col=col, row=row, params=params))
            meta["country"].append(country)
            meta["s1_name"].append(
                f"S1A_IW_GRDH_1SDV_{when.strftime('%Y%m%dT%H%M%S')}_{zone}UUP_{col}_{row}"
            )
            meta["s2v1_name"].append(
                f"S2A_MSIL2A_{when.strftime('%Y%m%dT%H%M%S')}_{col}_{row}"
            )
            meta["contains_seasonal_snow"].append(flag < 0.11)
            meta["contains_cloud_or_shadow"].append(0.11 <= flag < 0.13)
            left = ulx + col * 1200.0
            top = uly - row * 1200.0
            epsgs.append(32600 + zone)
            bounds.append((left, top - 1200.0, left + 1200.0, top))
            shares.append(fractions)
            if len(ids) >= patches:
                break
        if len(ids) >= patches:
            break
    metadata = pa.table(meta, schema=METADATA_SCHEMA)
    facts = PatchFacts.from_rows(epsgs, bounds, np.array(shares))
    return build_table(
        metadata, facts, tiles, overlap_threshold=0.01, reference_season_quirk=True
    )
