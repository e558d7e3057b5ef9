"""Golden: the metadata-only catalogue columns of the published reBEN.

Reads the published metadata.parquet and tile-id table in place from
../shared/reference-artifacts (skips when absent): every patch must map to one
of the 125 frozen L1C products, with a sensing time, season and asset paths
of the published layout.  (Geometry and label fractions need the GeoTIFFs.)
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from benpipe.catalogue.core import asset_hrefs, describe_metadata
from benpipe.catalogue.io import read_tile_ids
from benpipe.dataset.layout import METADATA_COLUMNS


def test_published_metadata_maps_to_the_frozen_products(reference_artifacts):
    tiles = read_tile_ids(reference_artifacts / "bigearthnet_s2_tile_ids.csv")
    assert len(tiles) == 125
    table = pq.read_table(reference_artifacts / "metadata.parquet").select(
        list(METADATA_COLUMNS)
    )
    meta = describe_metadata(table, tiles, reference_season_quirk=True)
    assert table.num_rows == 480_038
    assert len(meta.tile_list) == 115  # tiles contributing patches
    assert {t.year for t in meta.sensing} == {2017, 2018}
    assert set(meta.seasons) == {"spring", "summer", "fall", "winter"}
    ids = meta.ids.to_pylist()
    sensing = meta.per_row(meta.sensing, pa.timestamp("us", tz="UTC")).to_pylist()
    tile_of = meta.per_row(meta.tiles, pa.string()).to_pylist()
    l1c_of = meta.per_row([r.l1c_product for r in meta.refs], pa.string()).to_pylist()
    # the sensing time is the datatake of the patch's own name; the tile and
    # the L1C product are those of its tile folder
    for pid, when, tile, l1c in list(zip(ids, sensing, tile_of, l1c_of, strict=True))[
        ::997
    ]:
        assert pid.split("_")[2] == when.strftime("%Y%m%dT%H%M%S")
        assert pid.split("_")[5] == "T" + tile
        assert l1c.split("_")[2] == pid.split("_")[2]
        assert l1c.split("_")[5] == "T" + tile
    hrefs = asset_hrefs(ids[0], table.column("s1_name")[0].as_py())
    assert hrefs["B8A"].startswith("BigEarthNet-S2/") and hrefs["B8A"].endswith(
        "_B8A.tif"
    )
    assert hrefs["VV"].startswith("BigEarthNet-S1/S1")
    assert hrefs["labels"].endswith("_reference_map.tif")
