"""Benchmark: N demo products (default 125) through the pipeline's DAG.

Generates ``benpipe demo-world --products N`` (small tiles: ``--tile-size-px``,
default 1200 = 10 × 10 patches per product) unless ``--world`` names one, starts
the CDSE emulator on a free port, freezes the product list the real way
(``snakemake search_cdse freeze_tile_ids`` into the run's own tracked folder)
and times, each in a fresh ``snakemake`` process:

* parse: ``snakemake --list-rules`` (Snakefile and config, no DAG);
* DAG build: ``snakemake --dag`` (the whole job graph, written to /dev/null);
* dry run: ``snakemake -n --quiet rules`` (DAG + the job table);

goals: DAG build < 10 s and dry run < 30 s for 125 products.  With ``--run``
it then runs the whole pipeline (``--cores``; ``verify.strict`` off, since the
run's tracked folder holds no published hashes) and prints its wall time
and the jobs per rule.  Never asserts times.

    .venv/bin/python bench/bench_dag.py                       # 125 products, DAG only
    .venv/bin/python bench/bench_dag.py --products 125 --run  # + the end-to-end run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.demo import (  # noqa: E402  (the e2e tests' run driver)
    BIN,
    demo_config,
    emulator,
    free_port,
    snakemake_command,
)


def generate(out: Path, products: int, tile_size_px: int) -> float:
    """Write the N-product world; seconds taken."""
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "benpipe"), "-q", "demo-world", "--out", str(out)]
        + ["--products", str(products), "--tile-size-px", str(tile_size_px)],
        check=True,
        cwd=REPO,
    )
    return time.perf_counter() - started


def write_config(world: Path, workdir: Path, *, emulator_port: int) -> Path:
    """The demo config for ``world`` with the run's own tracked folder."""
    config = demo_config(world, emulator_port=emulator_port, db_port=free_port())
    config["tracked_artifacts_dir"] = str(workdir / "tracked")
    config["verify"]["strict"] = False
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path,
    config: Path,
    *args: str,
    targets: tuple[str, ...] = (),
    timeout: float = 600,
) -> tuple[float, str]:
    """Run snakemake; (seconds, output).  Raises with the output on failure."""
    started = time.perf_counter()
    result = subprocess.run(
        snakemake_command(workdir, config, *args, targets=targets),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{output[-4000:]}")
    return seconds, output


def job_counts(output: str) -> Counter[str]:
    """{rule: jobs} of a ``Job stats`` table."""
    table = output.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    return Counter(
        {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    )


def freeze_product_list(workdir: Path, config: Path) -> float:
    """search_cdse + freeze_tile_ids (against the emulator); seconds."""
    seconds, _ = snakemake(
        workdir, config, "--cores", "1", targets=("search_cdse", "freeze_tile_ids")
    )
    return seconds


def time_dag(workdir: Path, config: Path) -> dict[str, object]:
    """Parse, DAG-build and dry-run seconds, and the dry run's jobs per rule."""
    parse, _ = snakemake(workdir, config, "--list-rules")
    dag, _ = snakemake(workdir, config, "--dag")
    dry, output = snakemake(workdir, config, "-n", "--quiet", "rules")
    jobs = job_counts(output)
    return {"parse_s": parse, "dag_s": dag, "dry_run_s": dry, "jobs": dict(jobs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=125)
    parser.add_argument("--tile-size-px", type=int, default=1200)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/bench-dag"))
    parser.add_argument("--world", type=Path, help="an existing --products N world")
    parser.add_argument("--run", action="store_true", help="also run the pipeline")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {
        "products": args.products,
        "load_start": os.getloadavg(),
    }
    world = args.world or args.workdir / "world"
    if args.world is None:
        results["world_s"] = generate(world, args.products, args.tile_size_px)
        print(
            f"world of {args.products} products: {results['world_s']:.0f} s", flush=True
        )
    run_dir = args.workdir / "run"
    with emulator(world, log=run_dir / "logs" / "cdse-emulator.log") as port:
        config = write_config(world, run_dir, emulator_port=port)
        results["freeze_s"] = freeze_product_list(run_dir, config)
        timing = time_dag(run_dir, config)
        results |= timing
        print(
            f"{args.products} products: parse {timing['parse_s']:.1f} s, DAG build "
            f"{timing['dag_s']:.1f} s (goal < 10), dry run {timing['dry_run_s']:.1f} s "
            f"(goal < 30), {sum(timing['jobs'].values())} jobs; load "  # type: ignore[attr-defined]
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )
        if args.run:
            seconds, output = snakemake(
                run_dir, config, "--cores", str(args.cores), timeout=24 * 3600
            )
            results["run_s"] = seconds
            results["run_jobs"] = (
                dict(job_counts(output)) if "Job stats:" in output else {}
            )
            print(
                f"end-to-end run of {args.products} products on {args.cores} cores: "
                f"{seconds / 60:.1f} min; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    results["load_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
