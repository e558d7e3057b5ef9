"""Benchmark: the content digest of a directory input (``benpipe.dirstate``).

``record_input_tree``'s param is computed whenever Snakemake builds the DAG,
so its cost is paid by every ``snakemake`` invocation.  This builds an
S1-like tree (``<group>/<name>/<name>_{VV,VH}.tif``, ``--files`` files of
``--size-kb`` each), then times three digests:

* the first (every file hashed, the hash cache written);
* an unchanged tree (one ``stat`` per file, the cache read);
* after one file changed (one file hashed, the cache rewritten).

It prints files per second for each; the unchanged case extrapolated to the
1.1 M files of the v1 S1 archive is the per-invocation cost of a real run.
Never asserts times.

    .venv/bin/python bench/bench_dirstate.py                     # 100,000 files
    .venv/bin/python bench/bench_dirstate.py --files 400000 --size-kb 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from benpipe.dirstate import directory_state

S1_FILES = 1_100_000


def build_tree(root: Path, files: int, size: int) -> None:
    payload = os.urandom(size)
    per_group = 2000
    for i in range(files // 2):
        group = f"S1A_IW_GRDH_1SDV_2017{i // per_group:04d}T000000"
        name = f"{group}_33UUP_{i % 100}_{i // 100 % 100}"
        folder = root / group / name
        folder.mkdir(parents=True, exist_ok=True)
        for pol in ("VV", "VH"):
            (folder / f"{name}_{pol}.tif").write_bytes(payload)


def timed(root: Path, cache: Path, what: str) -> float:
    started = time.perf_counter()
    state = directory_state(root, cache=cache)
    seconds = time.perf_counter() - started
    n = len(state.files)
    print(
        f"{what:28s} {seconds:7.2f} s  {n / seconds:10,.0f} files/s  "
        f"({state.hashed:,} hashed, {state.hashed_bytes / 1e6:,.0f} MB)"
    )
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--size-kb", type=float, default=1.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-dirstate-", dir="/var/tmp"))
    try:
        started = time.perf_counter()
        build_tree(base / "s1", args.files, int(args.size_kb * 1024))
        print(f"built {args.files:,} files in {time.perf_counter() - started:.1f} s")
        cache = base / "cache.tsv"
        timed(base / "s1", cache, "first digest (hash all)")
        rate = timed(base / "s1", cache, "unchanged (cache)")
        victim = next((base / "s1").rglob("*_VV.tif"))
        victim.write_bytes(b"changed")
        timed(base / "s1", cache, "one file changed")
        print(
            f"per invocation for the v1 S1 archive ({S1_FILES:,} files), "
            f"unchanged: about {S1_FILES / rate:.0f} s"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
