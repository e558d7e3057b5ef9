"""Freeze target freeze_release_artifacts: copy produced hash lists to tracked.

Inputs: produced hash lists (keys as the outputs).
Outputs: their copies under ``<tracked_artifacts_dir>/``.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.release.freeze import freeze_artifacts

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    pairs = [
        (Path(snakemake.input[key]), Path(snakemake.output[key]))
        for key in snakemake.output.keys()  # noqa: SIM118 (Namedlist)
    ]
    freeze_artifacts(pairs)


main()
