"""Rule export_metadata_tables: the four reference metadata CSVs from PostGIS.

Inputs:   labels   every results/db/receipts/labels/<L2A>.json
          align    results/db/receipts/align_v1.json
Outputs:  label, s2v1, split, country: results/metadata/patch_id_<what>_mapping.csv
Settings: the database connection from the run settings.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.dataset.cross_product import export_metadata_tables
from benpipe.db.lifecycle import DbSettings
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    export_metadata_tables(
        DbSettings.from_mapping(run.database),
        {
            "patch_id_label_mapping.csv": Path(snakemake.output.label),
            "patch_id_s2v1_mapping.csv": Path(snakemake.output.s2v1),
            "patch_id_split_mapping.csv": Path(snakemake.output.split),
            "patch_id_country_mapping.csv": Path(snakemake.output.country),
        },
    )


main()
