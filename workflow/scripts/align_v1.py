"""Rule align_v1: v1 alignment, country and overlaps across all products.

Inputs:   grids      every results/db/receipts/grid/<L2A>.json
          v1         results/db/receipts/v1_footprints.json
          countries  results/db/receipts/countries.json (the sha256 of both
                     inputs, which the database must hold)
Outputs:  receipt    results/db/receipts/align_v1.json
Settings: params.overlap_threshold (patching.overlap_threshold),
          params.country_rule (patching.country_rule); the database
          connection from the run settings.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.cross_product import align_v1
from benpipe.db.ingest import ingested_sha256
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    align_v1(
        DbSettings.from_mapping(run.database),
        overlap_threshold=float(snakemake.params.overlap_threshold),
        country_rule=str(snakemake.params.country_rule),
        inputs={
            "v1_footprints": ingested_sha256(Path(snakemake.input.v1)),
            "countries": ingested_sha256(Path(snakemake.input.countries)),
        },
        receipt=Path(snakemake.output.receipt),
    )


main()
