"""Rule download_l1c: one product zip from CDSE (resumable, verified).

Credentials are read by the library (CDSE_USERNAME/CDSE_PASSWORD or the
netrc file), never from params.  The ``cdse:`` settings (endpoints, retries,
timeouts), the frozen catalogue and the error CSV come from the run settings,
not params: a verified zip does not depend on them, so changing e.g.
``cdse.timeout_s`` does not mark downloads outdated.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.cdse.download import ALGORITHM_VERSION, CdseSettings, fetch_l1c
from benpipe.log import Progress, setup_for_snakemake

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run = setup_for_snakemake(snakemake)
    params = snakemake.params
    name = str(snakemake.wildcards.l1c)
    logging.getLogger(__name__).info(
        "download %s (id %s), ALGORITHM_VERSION %d",
        name,
        params.product_id,
        ALGORITHM_VERSION,
    )
    progress = Progress(f"download {name}", unit="B", unit_scale=True)
    fetch_l1c(
        name,
        str(params.product_id),
        Path(snakemake.output.zip),
        settings=CdseSettings.from_mapping(run.cdse),
        tracked_catalogue=run.tracked_dir / "cdse_catalogue.csv",
        error_csv=run.download_errors_csv,
        progress=progress,
    )
    progress.close()


main()
