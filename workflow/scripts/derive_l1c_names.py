"""Rule derive_l1c_names: v1 tile_names_and_links CSV -> sorted L1C names."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.fileio import write_lines_atomic
from benpipe.l1c import ALGORITHM_VERSION
from benpipe.l1c.product_list import derive_l1c_names
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    logging.getLogger(__name__).info(
        "benpipe.l1c ALGORITHM_VERSION %d", ALGORITHM_VERSION
    )
    names = derive_l1c_names(Path(snakemake.input.csv))
    write_lines_atomic(Path(snakemake.output.names), names)


main()
