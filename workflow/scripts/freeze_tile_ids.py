"""Freeze rules (freeze_tile_ids, freeze_l1c_hashes): copy reviewed files to tracked.

Each named input is copied onto the output of the same name.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.l1c.hashes import freeze_files
from benpipe.log import setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    pairs = {
        Path(snakemake.input[key]): Path(snakemake.output[key])
        for key in snakemake.output.keys()  # noqa: SIM118 (Namedlist iterates values)
    }
    freeze_files(pairs)


main()
