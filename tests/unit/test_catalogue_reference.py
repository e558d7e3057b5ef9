"""Golden: the metadata-only catalogue columns of the published reBEN.

Reads the published metadata.parquet and tile-id table in place from
../shared/reference-artifacts (skips when absent): every patch must map to one
of the 125 frozen L1C products, with a sensing time, season and asset paths
of the published layout.  (Geometry and label fractions need the GeoTIFFs.)
"""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq

from benpipe.catalogue.core import METADATA_COLUMNS, asset_hrefs, describe_metadata
from benpipe.catalogue.io import read_tile_ids


def test_published_metadata_maps_to_the_frozen_products(reference_artifacts):
    tiles = read_tile_ids(reference_artifacts / "bigearthnet_s2_tile_ids.csv")
    assert len(tiles) == 125
    table = pq.read_table(reference_artifacts / "metadata.parquet").select(
        list(METADATA_COLUMNS)
    )
    meta = describe_metadata(table, tiles, reference_season_quirk=True)
    assert table.num_rows == 480_038
    assert len(set(meta.tile_dirs)) == 115  # tiles contributing patches
    years = Counter(t.year for t in meta.sensing)
    assert set(years) == {2017, 2018}
    assert set(meta.seasons) == {"spring", "summer", "fall", "winter"}
    # the sensing time is the datatake of the patch's own name
    for pid, when in list(zip(meta.ids, meta.sensing, strict=True))[::5000]:
        assert pid.split("_")[2] == when.strftime("%Y%m%dT%H%M%S")
    # the tile column is the MGRS tile of the patch id
    assert all(
        pid.split("_")[5] == "T" + tile
        for pid, tile in zip(meta.ids, meta.tiles, strict=True)
    )
    hrefs = asset_hrefs(meta.ids[0], meta.data["s1_name"][0])
    assert hrefs["B8A"].startswith("BigEarthNet-S2/") and hrefs["B8A"].endswith(
        "_B8A.tif"
    )
    assert hrefs["VV"].startswith("BigEarthNet-S1/S1")
    assert hrefs["labels"].endswith("_reference_map.tif")
