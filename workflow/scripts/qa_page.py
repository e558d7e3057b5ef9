"""Rule qa_page: the offline QA page results/qa/index.html.

Inputs:   the dataset summary and gallery (qa_dataset), every product's QA
          summary and figures (qa_product), results/verification.json.
Outputs:  page  results/qa/index.html (figures linked by relative paths)
"""

from pathlib import Path
from typing import TYPE_CHECKING

from benpipe.log import setup_for_snakemake
from benpipe.qa.page import write_qa_page

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_for_snakemake(snakemake)
    write_qa_page(
        Path(snakemake.output.page).parent,
        title="benpipe QA",
        product_summaries=[Path(p) for p in snakemake.input.products],
        verification=Path(snakemake.input.verification),
    )


main()
