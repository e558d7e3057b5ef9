"""Rule ingest_v1_footprints: load every bigearthnet_v1_spatial_<EPSG>.parquet.

Inputs:   v1_dir   inputs.v1_metadata_dir
          schema   results/db/schema.json
Outputs:  receipt  results/db/receipts/v1_footprints.json
Settings: params.reference_season_quirk; the database connection from the
          run settings.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.db.ingest import ingest_v1_footprints
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    ingest_v1_footprints(
        DbSettings.from_mapping(run.database),
        Path(snakemake.input.v1_dir),
        reference_season_quirk=bool(snakemake.params.reference_season_quirk),
        receipt=Path(snakemake.output.receipt),
    )


main()
