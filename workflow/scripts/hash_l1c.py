"""Rule hash_l1c: zip and content sha256 of every L1C zip, diffed with tracked.

Settings: params.products, params.ids; the tracked folder from the run
settings; threads = hashing workers.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.l1c.hashes import hash_l1c_zips
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    products = [str(p) for p in snakemake.params.products]
    zips = dict(zip(products, (Path(z) for z in snakemake.input.zips), strict=True))
    ids = dict(zip(products, (str(i) for i in snakemake.params.ids), strict=True))
    progress = Progress("hashed zips")
    hash_l1c_zips(
        zips,
        ids,
        out_zip_hashes=Path(snakemake.output.zip_hashes),
        out_content_hashes=Path(snakemake.output.content_hashes),
        out_diff=Path(snakemake.output.diff),
        tracked_dir=run.tracked_dir,
        threads=int(snakemake.threads),
        progress=progress,
    )
    progress.close()


main()
