"""Rule start_database: start (or reach) PostGIS and apply the schema migrations.

Inputs:   none
Outputs:  receipt  results/db/schema.json (server kind and version, the run's
          schema and its migrations; no secret)
Settings: the database.* keys from the run settings (params.database only names
          which database and schema hold the state, so that another one reruns
          this). The run's working directory claims the schema.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.db.lifecycle import DbSettings
from benpipe.db.schema import init_database
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    settings = DbSettings.from_mapping(run.database)
    init_database(
        settings, receipt=Path(snakemake.output.receipt), owner=str(Path.cwd())
    )


main()
