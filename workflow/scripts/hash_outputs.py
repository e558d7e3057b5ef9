"""Rule hash_outputs: hash lists of the dataset trees and metadata parquets.

Inputs: ``dataset`` (results/dataset, reference layout), ``manifest``.
Outputs: patch, reference-map and S1 hash CSVs with their ``.sha256`` digests
(the reference tiff-hasher format) and ``metadata_hashes.csv``.
Settings: the job's threads are the hashing workers.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import Progress, setup_for_snakemake
from benpipe.release.hashing import hash_outputs

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    out = snakemake.output
    hash_outputs(
        Path(snakemake.input.dataset),
        patch_csv=Path(out.patches),
        reference_maps_csv=Path(out.reference_maps),
        s1_csv=Path(out.s1),
        metadata_csv=Path(out.metadata),
        workers=int(snakemake.threads),
        progress_factory=lambda what: Progress(what, unit="B", unit_scale=True),
    )


main()
