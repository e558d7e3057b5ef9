"""Resource figures of a finished run: measured per product, projected to 125.

Reads the Snakemake ``benchmark:`` TSVs of a run (``benchmarks/<rule>/*.tsv``)
and prints Markdown tables:

1. measured, per heavy rule and product: wall time, CPU time (``cpu_time``)
   and peak memory (``max_rss``);
2. a projection to a full run (default 125 products) on N cores.

Projection assumptions (printed with the table):

* CPU time scales with the pixel count: a demo tile of ``--demo-px`` pixels
  per side stands for a real one of ``--real-px`` (10980), i.e.
  ``scale = (real_px / demo_px)²`` unless ``--scale-factor`` is given.
* Per-product rules (one TSV per product) run once per product; whole-run
  rules (one TSV) grow with the number of products as well as with the
  pixels: ``x scale x products / demo products``.
* Peak memory (rough): a size-independent overhead (interpreter, GDAL,
  libraries; by default the smallest ``max_rss`` of the selected rules'
  Python jobs, or ``--rss-overhead-mb``) plus the rest scaled by ``scale`` (whole bands
  held in memory). Demo tiles are so small that this is dominated by the
  overhead estimate; for firm memory figures benchmark one full-size product
  and pass ``--demo-px 10980``. For streaming whole-run rules (hashing,
  packaging) it is an upper bound.
* Wall time on N cores = total CPU time / N: perfect packing, CPU-bound. I/O
  waits, the slowest product and the database are not modelled.

Usage::

    .venv/bin/python bench/resource_table.py --benchmarks <run>/benchmarks --cores 32
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

#: below this, a benchmarked process cannot be a Python job with its libraries
MIN_PYTHON_RSS_MB = 30.0

HEAVY_RULES = (
    "convert_l2a",
    "build_patch_grid",
    "label_patches",
    "export_patches",
    "hash_outputs",
    "package_release",
)


@dataclass(frozen=True)
class Measurement:
    rule: str
    item: str  # product name, or the rule name for whole-run rules
    wall_s: float
    cpu_s: float
    max_rss_mb: float


def _number(value: str | None) -> float:
    try:
        number = float(value) if value not in (None, "", "NA", "-") else math.nan
    except ValueError:
        return math.nan
    return number


def read_tsv(path: Path, rule: str) -> Measurement | None:
    """Mean over the repeats of one benchmark file (None when it is empty)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        return None

    def mean(key: str) -> float:
        values = [v for v in (_number(r.get(key)) for r in rows) if not math.isnan(v)]
        return statistics.fmean(values) if values else math.nan

    return Measurement(
        rule=rule,
        item=path.stem,
        wall_s=mean("s"),
        cpu_s=mean("cpu_time"),
        max_rss_mb=mean("max_rss"),
    )


def collect(root: Path, rules: tuple[str, ...] | None) -> dict[str, list[Measurement]]:
    """rule -> measurements, from ``<root>/<rule>/**/*.tsv``."""
    found: dict[str, list[Measurement]] = {}
    if not root.is_dir():
        return found
    for rule_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if rules is not None and rule_dir.name not in rules:
            continue
        items = [read_tsv(p, rule_dir.name) for p in sorted(rule_dir.rglob("*.tsv"))]
        kept = [m for m in items if m is not None]
        if kept:
            found[rule_dir.name] = kept
    return found


def is_per_product(measurements: list[Measurement]) -> bool:
    rule = measurements[0].rule
    return not (len(measurements) == 1 and measurements[0].item == rule)


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    hours, rest = divmod(seconds, 3600)
    return (
        f"{int(hours)} h {int(rest // 60):02d} min" if hours else f"{rest / 60:.1f} min"
    )


def measured_table(found: dict[str, list[Measurement]]) -> list[str]:
    lines = [
        "| rule | product | wall (s) | cpu_time (s) | max_rss (MB) |",
        "|---|---|---:|---:|---:|",
    ]
    for rule, items in found.items():
        for m in items:
            item = m.item if is_per_product(items) else "(whole run)"
            lines.append(
                f"| {rule} | {item} | {fmt(m.wall_s)} | {fmt(m.cpu_s)} | "
                f"{fmt(m.max_rss_mb, 0)} |"
            )
    return lines


def projection_table(
    found: dict[str, list[Measurement]],
    *,
    scale: float,
    products: int,
    demo_products: int,
    cores: int,
    rss_overhead_mb: float,
) -> tuple[list[str], float]:
    lines = [
        f"| rule | kind | demo cpu/product (s) | projected cpu/product (s) | "
        f"projected cpu, {products} products (h) | demo max_rss (MB) | "
        "projected max_rss (MB, rough) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    total_cpu = 0.0
    for rule, items in found.items():
        cpu = [m.cpu_s for m in items if not math.isnan(m.cpu_s)]
        rss = [m.max_rss_mb for m in items if not math.isnan(m.max_rss_mb)]
        peak = max(rss) if rss else math.nan
        projected_rss = rss_overhead_mb + max(0.0, peak - rss_overhead_mb) * scale
        if is_per_product(items):
            kind = "per product"
            per_product = statistics.fmean(cpu) if cpu else math.nan
        else:
            kind = "whole run"
            per_product = (sum(cpu) / demo_products) if cpu else math.nan
        projected_per_product = per_product * scale
        projected_total = projected_per_product * products
        if not math.isnan(projected_total):
            total_cpu += projected_total
        lines.append(
            f"| {rule} | {kind} | {fmt(per_product, 2)} | "
            f"{fmt(projected_per_product, 0)} | {fmt(projected_total / 3600, 2)} | "
            f"{fmt(peak, 0)} | {fmt(projected_rss, 0)} |"
        )
    lines.append(f"| **total** | | | | **{fmt(total_cpu / 3600, 2)}** | | |")
    return lines, total_cpu


def count_demo_products(found: dict[str, list[Measurement]]) -> int:
    per_product = [len(items) for items in found.values() if is_per_product(items)]
    return max(per_product) if per_product else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--benchmarks",
        type=Path,
        default=Path("benchmarks"),
        help="benchmark folder of a finished run (default: ./benchmarks)",
    )
    parser.add_argument(
        "--rules",
        default=",".join(HEAVY_RULES),
        help="comma-separated rules, or 'all' (default: the heavy rules)",
    )
    parser.add_argument(
        "--demo-px",
        type=int,
        default=1200,
        help="tile side of the measured run in 10 m pixels (demo: 1200)",
    )
    parser.add_argument(
        "--real-px",
        type=int,
        default=10980,
        help="tile side of a real Sentinel-2 product (10980)",
    )
    parser.add_argument(
        "--scale-factor", type=float, default=None, help="override (real_px/demo_px)^2"
    )
    parser.add_argument(
        "--products",
        type=int,
        default=125,
        help="products of the projected run (reBEN: 125)",
    )
    parser.add_argument(
        "--demo-products",
        type=int,
        default=None,
        help="products of the measured run (default: counted)",
    )
    parser.add_argument(
        "--cores",
        type=int,
        default=os.cpu_count() or 1,
        help="cores of the projected machine or allocation",
    )
    parser.add_argument(
        "--rss-overhead-mb",
        type=float,
        default=None,
        help="size-independent part of a job's memory (default: the smallest "
        "max_rss >= 30 MB among the selected rules)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    rules = (
        None if args.rules == "all" else tuple(r for r in args.rules.split(",") if r)
    )
    found = collect(args.benchmarks, rules)
    if not found:
        print(
            f"no benchmark TSVs under {args.benchmarks} for rules {args.rules}",
            file=sys.stderr,
        )
        return 1
    scale = args.scale_factor or (args.real_px / args.demo_px) ** 2
    demo_products = args.demo_products or count_demo_products(found)
    overhead = args.rss_overhead_mb
    if overhead is None:
        # smallest Python job among the selected rules (a few-MB figure is a
        # shell wrapper, not the interpreter with its libraries)
        python_rss = [
            m.max_rss_mb
            for items in found.values()
            for m in items
            if not math.isnan(m.max_rss_mb) and m.max_rss_mb >= MIN_PYTHON_RSS_MB
        ]
        overhead = min(python_rss) if python_rss else 0.0

    print(f"## Measured ({args.benchmarks}, {demo_products} products)\n")
    print("\n".join(measured_table(found)))
    lines, total_cpu = projection_table(
        found,
        scale=scale,
        products=args.products,
        demo_products=demo_products,
        cores=args.cores,
        rss_overhead_mb=overhead,
    )
    print(f"\n## Projection: {args.products} products on {args.cores} cores\n")
    print("\n".join(lines))
    print(
        f"\nWall time if CPU-bound and perfectly packed: total CPU / {args.cores} cores"
        f" = **{duration(total_cpu / args.cores)}**.\n"
        "\nAssumptions: CPU time, and per-job memory above an overhead of "
        f"{overhead:.0f} MB, scale with the pixel count, "
        f"scale = {scale:.2f}"
        + (" (given)" if args.scale_factor else f" = ({args.real_px}/{args.demo_px})²")
        + "; per-product rules run once per product; whole-run rules scale with "
        f"products ({args.products}/{demo_products}) and pixels; no I/O waits, "
        "database contention or stragglers are modelled. Projected memory is "
        "rough (dominated by the overhead estimate for demo tiles) and an upper "
        "bound for the streaming whole-run rules (hash_outputs, package_release). "
        "Projections from the demo world are indicative; for firm figures run "
        "one full-size product (`benpipe demo-world --tile-size-px 10980 "
        "--only-first`) and pass `--demo-px 10980`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
