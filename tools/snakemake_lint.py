"""Run `snakemake --lint` and fail on any lint except the accepted ones.

Accepted (STYLE.md §12: each accepted lint carries its reason):

* "Specify a conda environment or container for each rule." benpipe's rules
  run in ONE project environment that contains benpipe itself (`make setup`,
  or envs/pipeline.yaml + `pip install .` for conda users). A per-rule
  `conda:` env cannot contain benpipe: Snakemake builds envs from a copy of
  the YAML, so it cannot install the checkout (STYLE.md §4), and there is no
  published container image to name.
"""

from __future__ import annotations

import re
import subprocess
import sys

ACCEPTED = {"Specify a conda environment or container for each rule."}


def main(argv: list[str]) -> int:
    result = subprocess.run(
        ["snakemake", "--lint", *argv], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    titles = re.findall(r"^\s+\* (.+?):?$", output, flags=re.MULTILINE)
    unexpected = sorted({t for t in titles if t not in ACCEPTED})
    if "Lints for" not in output and result.returncode != 0:
        print(output, file=sys.stderr)
        return result.returncode
    if unexpected:
        print(output, file=sys.stderr)
        print(f"snakemake --lint: unexpected lints: {unexpected}", file=sys.stderr)
        return 1
    accepted = len(titles)
    print(f"snakemake --lint: clean ({accepted} accepted lint(s): {sorted(ACCEPTED)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
