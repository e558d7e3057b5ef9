"""Rule ingest_clc: load the CORINE GeoPackage into PostGIS (clc_polygons).

Inputs:   gpkg     inputs.clc_gpkg (EPSG:3035, column Code_18)
          schema   results/db/schema.json
Outputs:  receipt  results/db/receipts/clc.json (rows, source sha256)
Settings: params.layer (inputs.clc_layer); the database connection from the
          run settings.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.db.ingest import ingest_clc
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    ingest_clc(
        DbSettings.from_mapping(run.database),
        Path(snakemake.input.gpkg),
        layer=str(snakemake.params.layer),
        receipt=Path(snakemake.output.receipt),
    )


main()
