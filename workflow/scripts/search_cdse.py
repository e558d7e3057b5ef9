"""Rule search_cdse (freeze target): names -> CDSE ids, sidecar and diff.

The catalogue URL, retry and timeout settings and the tracked folder (for
the diff) come from the run settings, not params, so changing them does not
mark the search outdated (it is a freeze target: rerun it on purpose with
``snakemake search_cdse --forcerun search_cdse``).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.cdse.catalogue import search_cdse
from benpipe.cdse.download import CdseSettings
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    cdse = CdseSettings.from_mapping(run.cdse)
    progress = Progress("catalogue queries")
    search_cdse(
        Path(snakemake.input.names),
        catalogue_url=cdse.catalogue_url,
        out_tile_ids=Path(snakemake.output.tile_ids),
        out_catalogue=Path(snakemake.output.catalogue),
        out_diff=Path(snakemake.output.diff),
        tracked_dir=run.tracked_dir,
        policy=cdse.policy,
        progress=progress,
    )
    progress.close()


main()
