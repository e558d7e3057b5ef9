"""Run ESA sen2cor 2.11 (``L2A_Process``) reproducibly on one L1C product.

What the runner adds around the reference's call ``L2A_Process --output_dir
<dir> <L1C.SAFE>`` (REFERENCE-PIPELINE §4, ECOSYSTEM §3):

* the version that ``L2A_Process --help`` reports must match the configured
  one, and it is recorded;
* the empty folders CDSE drops (``DATASTRIP/*/QI_DATA``,
  ``GRANULE/*/AUX_DATA``) are recreated before the run;
* sen2cor writes into a fresh scratch folder next to the output (it refuses
  an existing product folder), with ``SEN2COR_N_CORES`` and ``LC_NUMERIC=C``,
  a timeout, and stdout/stderr appended to the rule log;
* the single ``*_MSIL2A_*.SAFE`` it produced is validated, renamed to the
  deterministic ``…_N9999_…_20240101T000000`` name (as the reference's
  generation-time patch does; ``PRODUCT_URI`` in ``MTD_MSIL2A.xml`` follows),
  tagged with a provenance file and moved atomically into place.

Any failure raises :class:`Sen2CorError` with the exit code and the tail of
sen2cor's output, and leaves no half-written product.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from benpipe.errors import BenpipeError, ProductLayoutError, Sen2CorError
from benpipe.fileio import staged_directory
from benpipe.l1c.extract import recreate_empty_dirs
from benpipe.l2a.products import PROVENANCE_FILE, open_l1c, open_l2a
from benpipe.names import l2a_name_for, parse_product_name

logger = logging.getLogger(__name__)

#: Lines of sen2cor output quoted in a Sen2CorError.
LOG_TAIL_LINES = 30
#: Timeout of the ``L2A_Process --help`` version probe, seconds.
VERSION_PROBE_TIMEOUT_S = 120.0

_VERSION_RES = (
    re.compile(r"sen2cor[^0-9\n]{0,20}?(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"version\W{0,3}(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE),
)
_EXISTING_OUTPUT_SIGN = "has no attribute 'SPACECRAFT_NAME'"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def version_matches(found: str, expected: str) -> bool:
    """``02.11.00`` matches ``2.11`` and ``2.11.0``, not ``2.12``/``2.1``."""
    found_t, expected_t = _version_tuple(found), _version_tuple(expected)
    return found_t[: len(expected_t)] == expected_t


def parse_sen2cor_version(help_text: str) -> str | None:
    """The version in ``L2A_Process --help`` output (e.g. ``02.11.00``)."""
    for pattern in _VERSION_RES:
        match = pattern.search(help_text)
        if match:
            return match.group(1)
    return None


def check_sen2cor_version(cmd: str, expected_version: str) -> str:
    """Run ``<cmd> --help``; return the version or raise :class:`Sen2CorError`."""
    try:
        proc = subprocess.run(
            [cmd, "--help"],
            capture_output=True,
            text=True,
            timeout=VERSION_PROBE_TIMEOUT_S,
            env=_sen2cor_env(1),
            check=False,
        )
    except FileNotFoundError as exc:
        raise Sen2CorError(
            f"sen2cor executable {cmd!r} (config l2a.sen2cor_cmd) was not found; "
            "install sen2cor 2.11 as described in docs/l2a.md, or set "
            "l2a.processor: fallback to use the built-in (non-sen2cor) converter"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise Sen2CorError(
            f"{cmd} --help did not answer within {VERSION_PROBE_TIMEOUT_S:.0f} s"
        ) from exc
    output = (proc.stdout or "") + (proc.stderr or "")
    version = parse_sen2cor_version(output)
    if version is None:
        raise Sen2CorError(
            f"{cmd} --help printed no sen2cor version (exit code {proc.returncode}); "
            f"expected {expected_version} (config l2a.sen2cor_version)",
            exit_code=proc.returncode,
            log_tail=_tail(output),
        )
    if not version_matches(version, expected_version):
        raise Sen2CorError(
            f"{cmd} is sen2cor {version}, expected {expected_version} (config "
            "l2a.sen2cor_version); other versions change the output. Install "
            "Sen2Cor-02.11.00 (docs/l2a.md) or point l2a.sen2cor_cmd at it"
        )
    return version


def _sen2cor_env(n_cores: int) -> dict[str, str]:
    env = dict(os.environ)
    env["SEN2COR_N_CORES"] = str(n_cores)
    env["LC_NUMERIC"] = "C"
    return env


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _read_tail(log_path: Path, offset: int) -> str:
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return ""
    return _tail(data.decode("utf-8", errors="replace"))


def _run(
    argv: list[str], *, env: dict[str, str], log_path: Path, timeout_s: float
) -> int:
    """Run sen2cor in its own process group, appending output to ``log_path``."""
    with log_path.open("ab") as log_handle:
        proc = subprocess.Popen(
            argv,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout_s)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def _rename_product(produced: Path, final_name: str) -> Path:
    """Rename a sen2cor product folder and its PRODUCT_URI to ``final_name``."""
    old_name = produced.name
    if old_name == final_name:
        return produced
    mtd = produced / "MTD_MSIL2A.xml"
    text = mtd.read_bytes()
    mtd.write_bytes(text.replace(old_name.encode(), final_name.encode()))
    target = produced.with_name(final_name)
    os.replace(produced, target)
    logger.info("renamed sen2cor output %s -> %s", old_name, final_name)
    return target


def run_sen2cor(
    l1c_safe: Path,
    out_dir: Path,
    *,
    cmd: str,
    expected_version: str,
    gip_l2a: Path | None,
    n_cores: int,
    timeout_s: float,
    log_path: Path,
) -> Path:
    """Convert one L1C SAFE with sen2cor into ``out_dir/<L2A name>.SAFE``.

    The recipe: check the version and the GIPP → recreate the folders CDSE
    drops → run sen2cor into the staging folder → find its one product,
    rename it, validate it, tag it → move it into place.  Returns the product
    path.  Raises :class:`Sen2CorError` on a wrong version, a non-zero exit, a
    timeout, a missing, extra or invalid output.
    """
    l1c_safe = Path(l1c_safe)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    l1c = open_l1c(l1c_safe)
    final = Path(out_dir) / f"{l2a_name_for(l1c.name)}.SAFE"
    version = check_sen2cor_version(cmd, expected_version)
    logger.info("sen2cor %s (%s) converts %s", version, cmd, l1c.name)
    if gip_l2a is not None and not Path(gip_l2a).is_file():
        raise Sen2CorError(
            f"GIPP file {gip_l2a} (config l2a.gip_l2a) does not exist; point it at "
            "a pinned L2A_GIPP.xml or set it to null for sen2cor's default"
        )
    for folder in recreate_empty_dirs(l1c_safe):
        logger.info("%s: created empty %s for sen2cor", l1c.name, folder)
    started = time.monotonic()
    # sen2cor refuses an existing product folder, so it writes into the fresh
    # staging folder; a rerun replaces the product only once the new one is valid.
    with staged_directory(final, "sen2cor output", replace=True) as staging:
        tail = _run_sen2cor_in(
            staging.path,
            l1c_safe,
            l1c_name=l1c.name,
            cmd=cmd,
            gip_l2a=gip_l2a,
            n_cores=n_cores,
            timeout_s=timeout_s,
            log_path=log_path,
        )
        produced = _single_product(staging.path, l1c.name, log_path, tail)
        product_dir = _rename_product(produced, final.name)
        try:
            open_l2a(product_dir).validate()
        except ProductLayoutError as exc:
            raise Sen2CorError(
                f"sen2cor output for {l1c.name} is incomplete: {exc}",
                exit_code=0,
                log_tail=tail,
            ) from exc
        _write_provenance(
            product_dir,
            version=version,
            l1c_name=l1c.name,
            sen2cor_name=produced.name,
            gip_l2a=gip_l2a,
        )
        staging.commit(product_dir)
    logger.info(
        "sen2cor %s wrote %s in %.1f s", version, final.name, time.monotonic() - started
    )
    return final


def _run_sen2cor_in(
    scratch: Path,
    l1c_safe: Path,
    *,
    l1c_name: str,
    cmd: str,
    gip_l2a: Path | None,
    n_cores: int,
    timeout_s: float,
    log_path: Path,
) -> str:
    """Run sen2cor with ``--output_dir scratch``; return the tail of its output."""
    argv = [cmd, "--output_dir", str(scratch)]
    if gip_l2a is not None:
        argv += ["--GIP_L2A", str(Path(gip_l2a).resolve())]
    argv.append(str(l1c_safe.resolve()))
    offset = log_path.stat().st_size if log_path.exists() else 0
    logger.info("running %s (SEN2COR_N_CORES=%d)", " ".join(argv), n_cores)
    try:
        code = _run(
            argv, env=_sen2cor_env(n_cores), log_path=log_path, timeout_s=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        tail = _read_tail(log_path, offset)
        raise Sen2CorError(
            f"sen2cor on {l1c_name} exceeded the timeout of {timeout_s:.0f} s "
            f"(config l2a.timeout_min) and was killed; see {log_path}. "
            f"Last lines:\n{tail}",
            log_tail=tail,
        ) from exc
    tail = _read_tail(log_path, offset)
    if code != 0:
        hint = ""
        if _EXISTING_OUTPUT_SIGN in tail:
            hint = (
                " (sen2cor's sign that the output product folder already "
                "existed; remove it and rerun)"
            )
        raise Sen2CorError(
            f"sen2cor on {l1c_name} failed with exit code {code}{hint}; see "
            f"{log_path}. Last lines:\n{tail}",
            exit_code=code,
            log_tail=tail,
        )
    return tail


def _single_product(scratch: Path, l1c_name: str, log_path: Path, tail: str) -> Path:
    """The one ``*_MSIL2A_*.SAFE`` sen2cor wrote, with an L2A name of the tile."""
    produced = sorted(scratch.glob("*_MSIL2A_*.SAFE"))
    if len(produced) != 1:
        raise Sen2CorError(
            f"sen2cor on {l1c_name} exited 0 but wrote {len(produced)} "
            f"*_MSIL2A_*.SAFE products into {scratch} "
            f"({', '.join(p.name for p in produced) or 'none'}), expected one; "
            f"see {log_path}. Last lines:\n{tail}",
            exit_code=0,
            log_tail=tail,
        )
    _check_produced_name(produced[0].name, f"{l2a_name_for(l1c_name)}.SAFE", l1c_name)
    return produced[0]


def _write_provenance(
    product_dir: Path,
    *,
    version: str,
    l1c_name: str,
    sen2cor_name: str,
    gip_l2a: Path | None,
) -> None:
    provenance = {
        "processor": "sen2cor",
        "version": version,
        "source_l1c": f"{l1c_name}.SAFE",
        "sen2cor_product_name": sen2cor_name,
        "gip_l2a": Path(gip_l2a).name if gip_l2a is not None else None,
    }
    (product_dir / PROVENANCE_FILE).write_text(
        json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def _check_produced_name(produced: str, final_name: str, l1c_name: str) -> None:
    try:
        got = parse_product_name(produced)
    except BenpipeError as exc:
        raise Sen2CorError(
            f"sen2cor on {l1c_name} wrote {produced}, which is not an L2A name"
        ) from exc
    want = parse_product_name(final_name)
    if got.level != "L2A" or got.tile_dir != want.tile_dir:
        raise Sen2CorError(
            f"sen2cor on {l1c_name} wrote {produced}, expected "
            f"{want.tile_dir}_<generation time>.SAFE (processing baseline N9999); "
            "was a different --processing_baseline or GIPP used?"
        )
