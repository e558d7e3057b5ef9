"""Rule package_release: deterministic .tar.zst archives and their hash lists.

Inputs: ``dataset`` (results/dataset, reference layout), ``manifest``.
Outputs: ``{BigEarthNet-S1,BigEarthNet-S2,Reference_Maps}.tar.zst``, copies of
the two metadata parquets, ``hashes.txt`` (md5) and ``sha256sums.txt``.
Settings: ``params.zstd_level``, ``params.file_modes``; ``zstd_threads`` from the run settings (0 =
the job's threads; the bytes do not depend on it, so it is not a param).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import Progress, setup_for_snakemake
from benpipe.release.packaging import package_release

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    zstd_threads = run.zstd_threads or int(snakemake.threads)
    package_release(
        Path(snakemake.input.dataset),
        Path(snakemake.output.md5s).parent,
        level=int(snakemake.params.zstd_level),
        threads=zstd_threads,
        file_modes=snakemake.params.file_modes,
        copy_parquets=True,
        progress_factory=lambda what: Progress(what, unit="B", unit_scale=True),
    )


main()
