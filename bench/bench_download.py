"""Loopback download benchmark: benpipe's CDSE client versus curl.

Builds a temporary world of N random product zips, starts the CDSE emulator
in its own process (``benpipe cdse-emulator --port 0``), then downloads all
files in parallel (4 at once, like the CDSE quota) with

* benpipe: ``download_many`` (threads, Range-capable), verified with the
  checksum the catalogue offers (BLAKE3 in this world, as on CDSE),
* benpipe-noverify: the same without the catalogue lookup and verification,
* curl: four ``curl -o`` processes with the bearer token,

alternating for ``--rounds`` rounds, and prints MB/s for both and the ratio
(best round of each).  It never asserts wall time.

    .venv/bin/python bench/bench_download.py            # 4 x 200 MB
    .venv/bin/python bench/bench_download.py --size-mb 50 --rounds 1
"""

from __future__ import annotations

import argparse
import filecmp
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benpipe.cdse.auth import TokenManager
from benpipe.cdse.download import CdseSettings, Downloader, download_many
from benpipe.cdse.emulator.synthetic_products import make_synthetic_world

NAMES = [
    "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608",
    "S2A_MSIL1C_20170613T101031_N0205_R022_T33UVP_20170613T101608",
    "S2B_MSIL1C_20171017T100029_N0205_R122_T33UUP_20171017T100031",
    "S2B_MSIL1C_20180204T094159_N0206_R036_T29SND_20180204T094201",
    "S2B_MSIL1C_20180525T094029_N0206_R036_T35VNK_20180525T114839",
    "S2A_MSIL1C_20170717T113321_N0205_R080_T29UPA_20170717T113326",
    "S2B_MSIL1C_20171112T114339_N0206_R123_T29UNV_20171112T120048",
    "S2A_MSIL1C_20180221T112111_N0206_R037_T29SNB_20180221T132529",
]


def _start_emulator(root: Path) -> tuple[subprocess.Popen[str], str]:
    exe = Path(sys.executable).with_name("benpipe")
    proc = subprocess.Popen(
        [str(exe), "-q", "cdse-emulator", "--root", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.terminate()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def _run_benpipe(
    settings: CdseSettings,
    items: list[tuple[str, str]],
    out: Path,
    *,
    verify: bool,
    algorithms: set[str],
) -> float:
    """Download ``items``; adds the verification algorithms used to ``algorithms``."""
    started = time.perf_counter()
    if verify:
        results: list[object] = list(
            download_many(items, out, settings=settings, workers=4)
        )
    else:
        downloader = Downloader(settings)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(
                pool.map(
                    lambda item: downloader.download(
                        item[1], out / f"{item[0]}.zip", check_catalogue=False
                    ),
                    items,
                )
            )
    elapsed = time.perf_counter() - started
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise SystemExit(f"benpipe downloads failed: {failed}")
    algorithms.update(
        str(getattr(r, "checksum_algorithm", None) or "none") for r in results
    )
    return elapsed


def _run_curl(url: str, token: str, items: list[tuple[str, str]], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    config = out / ".curl-header"
    config.write_text(f'header = "Authorization: Bearer {token}"\n')
    config.chmod(0o600)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "curl",
                "--silent",
                "--fail",
                "--location-trusted",
                "--config",
                str(config),
                "--output",
                str(out / f"{name}.zip"),
                f"{url}/odata/v1/Products({pid})/$value",
            ]
        )
        for name, pid in items
    ]
    codes = [p.wait() for p in procs]
    elapsed = time.perf_counter() - started
    config.unlink()
    if any(codes):
        raise SystemExit(f"curl failed with exit codes {codes}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="products (≤ 8)")
    parser.add_argument("--size-mb", type=float, default=200, help="size of each zip")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-download-"))
    names = NAMES[: args.files]
    try:
        t0 = time.perf_counter()
        entries = make_synthetic_world(
            work / "world", names, payload_bytes=int(args.size_mb * (1 << 20))
        )
        total = sum(int(str(e["ContentLength"])) for e in entries)
        print(
            f"world: {len(entries)} zips, {total / 1e6:.0f} MB in total "
            f"({time.perf_counter() - t0:.1f} s to generate)"
        )
        items = [(str(e["Name"]).removesuffix(".SAFE"), str(e["Id"])) for e in entries]
        emulator, url = _start_emulator(work / "world")
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        try:
            settings = CdseSettings(
                catalogue_url=f"{url}/odata/v1",
                download_url=f"{url}/odata/v1",
                token_url=f"{url}/auth/realms/CDSE/protocol/openid-connect/token",
                netrc=work / "world" / "cdse.netrc",
                timeout_s=60,
            )
            token = TokenManager(
                settings.token_url, netrc_path=settings.netrc
            ).get_token()
            tools = ("curl", "benpipe", "benpipe-noverify")
            best = dict.fromkeys(tools, float("inf"))
            used: dict[str, set[str]] = {tool: set() for tool in tools}
            for round_no in range(1, args.rounds + 1):
                for tool in tools:
                    out = work / f"out-{tool}"
                    shutil.rmtree(out, ignore_errors=True)
                    if tool == "curl":
                        elapsed = _run_curl(url, token, items, out)
                    else:
                        elapsed = _run_benpipe(
                            settings,
                            items,
                            out,
                            verify=tool == "benpipe",
                            algorithms=used[tool],
                        )
                    best[tool] = min(best[tool], elapsed)
                    print(
                        f"round {round_no} {tool:16s} {elapsed:6.2f} s "
                        f"{total / elapsed / 1e6:8.1f} MB/s"
                    )
            for name, _ in items:
                src = work / "world" / "cdse" / "products" / f"{name}.zip"
                for tool in tools:
                    if not filecmp.cmp(
                        src, work / f"out-{tool}" / f"{name}.zip", shallow=False
                    ):
                        raise SystemExit(f"{tool} copy of {name} differs")
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
        rate = {tool: total / best[tool] / 1e6 for tool in tools}
        algorithm = "/".join(sorted(used["benpipe"]))
        print(
            f"curl:             {rate['curl']:8.1f} MB/s (4 parallel, no verification)"
        )
        print(
            f"benpipe:          {rate['benpipe']:8.1f} MB/s "
            f"(4 parallel, verified with {algorithm})"
        )
        print(
            f"benpipe-noverify: {rate['benpipe-noverify']:8.1f} MB/s "
            "(4 parallel, no verification)"
        )
        print(
            f"ratio benpipe/curl: {rate['benpipe'] / rate['curl']:.2f} "
            f"({algorithm} verified; goal >= 0.9), "
            f"without verification: {rate['benpipe-noverify'] / rate['curl']:.2f}"
        )
        print(
            f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
