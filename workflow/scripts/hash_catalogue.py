"""Rule hash_catalogue: sha256 and md5 of every file of the catalogue folder.

Inputs: ``catalogue`` (results/catalogue/patches.parquet), ``stac``.
Outputs: ``catalogue`` (results/hashes/catalogue_hashes.csv: name,hash-sha256,md5
with paths relative to results/catalogue).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.release.hashing import write_catalogue_hashes

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    write_catalogue_hashes(
        Path(snakemake.input.catalogue).parent, Path(snakemake.output.catalogue)
    )


main()
