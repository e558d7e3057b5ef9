"""Rule extract_l1c: safe extraction of one L1C zip into resources/l1c/<name>.SAFE."""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.l1c.extract import extract_l1c
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    extract_l1c(Path(snakemake.input.zip), Path(snakemake.output.safe))


main()
