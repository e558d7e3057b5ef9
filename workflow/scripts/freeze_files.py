"""Freeze targets (freeze_tile_ids, freeze_l1c_hashes, freeze_release_artifacts).

Copies each reviewed produced file onto its tracked copy: every named input
goes to the output of the same name (benpipe.release.freeze).

Inputs:  the produced files (tile ids and catalogue, L1C hash lists, release
         hash lists), keyed like the outputs.
Outputs: their tracked copies under ``<tracked_artifacts_dir>/``.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.release.freeze import freeze_artifacts

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    freeze_artifacts(
        (Path(snakemake.input[key]), Path(snakemake.output[key]))
        for key in snakemake.output.keys()  # noqa: SIM118 (Namedlist iterates values)
    )


main()
