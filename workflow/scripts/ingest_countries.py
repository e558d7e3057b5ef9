"""Rule ingest_countries: load the 10 BEN countries into PostGIS (countries).

Inputs:   countries  inputs.countries (Natural Earth admin-0, NAME_LONG)
          schema     results/db/schema.json
Outputs:  receipt    results/db/receipts/countries.json
Settings: the database connection from the run settings.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.db.ingest import ingest_countries
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    ingest_countries(
        DbSettings.from_mapping(run.database),
        Path(snakemake.input.countries),
        receipt=Path(snakemake.output.receipt),
    )


main()
