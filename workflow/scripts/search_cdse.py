"""Rule search_cdse (freeze target): names -> CDSE ids, sidecar and diff."""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.cdse.catalogue import search_cdse
from benpipe.cdse.retry import RetryPolicy
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    params = snakemake.params
    policy = RetryPolicy(
        max_attempts=int(params.max_attempts),
        backoff_initial_s=float(params.backoff_initial_s),
        backoff_max_s=float(params.backoff_max_s),
        timeout_s=float(params.timeout_s),
    )
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
