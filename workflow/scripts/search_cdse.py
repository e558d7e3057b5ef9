"""Rule search_cdse (freeze target): names -> CDSE ids, sidecar and diff.

Retry and timeout settings come from the config, not params, so tuning them
does not mark the search outdated; the catalogue URL is a param.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.cdse.catalogue import search_cdse
from benpipe.cdse.download import CdseSettings
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    params = snakemake.params
    policy = CdseSettings.from_mapping(snakemake.config["cdse"]).policy
    progress = Progress("catalogue queries")
    search_cdse(
        Path(snakemake.input.names),
        catalogue_url=str(params.catalogue_url),
        out_tile_ids=Path(snakemake.output.tile_ids),
        out_catalogue=Path(snakemake.output.catalogue),
        out_diff=Path(snakemake.output.diff),
        tracked_dir=Path(params.tracked_dir),
        policy=policy,
        progress=progress,
    )
    progress.close()


main()
