"""sen2cor runner against the test double tests/sen2cor_double/L2A_Process."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from benpipe.errors import Sen2CorError
from benpipe.l2a.convert import L2AParams, convert_product, write_sidecar
from benpipe.l2a.products import PROVENANCE_FILE, open_l2a
from benpipe.l2a.sen2cor import (
    check_sen2cor_version,
    parse_sen2cor_version,
    run_sen2cor,
    version_matches,
)

from .l2a_fixture import L1C_NAME, L2A_NAME, make_l1c_safe

DOUBLE = Path(__file__).resolve().parents[1] / "sen2cor_double" / "L2A_Process"


@pytest.fixture(autouse=True)
def _double_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # the double runs with the interpreter that has benpipe installed
    monkeypatch.setenv(
        "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    monkeypatch.delenv("SEN2COR_DOUBLE_MODE", raising=False)
    monkeypatch.delenv("SEN2COR_DOUBLE_VERSION", raising=False)


@pytest.fixture
def l1c(tmp_path: Path) -> Path:
    return make_l1c_safe(tmp_path / "in", side_px=60)


def _run(l1c: Path, out: Path, log: Path, **kw: object) -> Path:
    args: dict[str, object] = dict(
        cmd=str(DOUBLE), expected_version="2.11", gip_l2a=None, n_cores=2,
        timeout_s=60.0, log_path=log,
    )  # fmt: skip
    args.update(kw)
    return run_sen2cor(l1c, out, **args)  # type: ignore[arg-type]


def _assert_clean(out: Path) -> None:
    leftovers = list(out.iterdir()) if out.exists() else []
    assert leftovers == [], f"half-written output left behind: {leftovers}"


# ---------------------------------------------------------------- version


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Sen2Cor 02.11.00 (benpipe test double)", "02.11.00"),
        ("usage: ...\nSen2Cor. Version: 02.11.00, created: 2022.09.06", "02.11.00"),
        ("nothing here", None),
    ],
)
def test_parse_version(text: str, version: str | None) -> None:
    assert parse_sen2cor_version(text) == version


def test_version_matching() -> None:
    assert version_matches("02.11.00", "2.11")
    assert version_matches("02.11.00", "2.11.0")
    assert not version_matches("02.12.03", "2.11")
    assert not version_matches("02.10.01", "2.11")


def test_wrong_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_sen2cor_version(str(DOUBLE), "2.11") == "02.11.00"
    monkeypatch.setenv("SEN2COR_DOUBLE_VERSION", "02.12.03")
    with pytest.raises(Sen2CorError, match=r"sen2cor 02\.12\.03, expected 2\.11"):
        check_sen2cor_version(str(DOUBLE), "2.11")


def test_missing_executable(tmp_path: Path, l1c: Path) -> None:
    with pytest.raises(Sen2CorError, match="was not found.*docs/l2a.md"):
        _run(l1c, tmp_path / "out", tmp_path / "log", cmd=str(tmp_path / "nope"))
    _assert_clean(tmp_path / "out")


# ---------------------------------------------------------------- success


def test_success_renames_deterministically(tmp_path: Path, l1c: Path) -> None:
    log = tmp_path / "logs" / "convert.log"
    out = _run(l1c, tmp_path / "out", log)
    assert out == tmp_path / "out" / f"{L2A_NAME}.SAFE"
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no scratch left
    mtd = (out / "MTD_MSIL2A.xml").read_text()
    assert f"<PRODUCT_URI>{L2A_NAME}.SAFE</PRODUCT_URI>" in mtd
    assert "20991231T235959" not in mtd
    product = open_l2a(out)
    product.validate()
    assert product.processor == "sen2cor 02.11.00"
    assert not product.is_fallback
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert provenance["sen2cor_product_name"].endswith("_20991231T235959.SAFE")
    # CDSE fix-ups were applied to the input, the double's output reached the log
    assert list(l1c.glob("DATASTRIP/*/QI_DATA")) and list(
        l1c.glob("GRANULE/*/AUX_DATA")
    )
    assert "Processing" in log.read_text() and "with 2 cores" in log.read_text()


def test_gipp_is_passed_and_checked(tmp_path: Path, l1c: Path) -> None:
    with pytest.raises(Sen2CorError, match="GIPP file"):
        _run(l1c, tmp_path / "out", tmp_path / "log", gip_l2a=tmp_path / "none.xml")
    gipp = tmp_path / "L2A_GIPP.xml"
    gipp.write_text("<L2A_Ground_Image_Processing_Parameter/>")
    assert _run(l1c, tmp_path / "out", tmp_path / "log", gip_l2a=gipp).is_dir()


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("mode", "pattern", "exit_code"),
    [
        ("exit1", r"failed with exit code 1", 1),
        ("existing-output", r"output product folder already existed", 1),
        ("no-output", r"wrote 0 \*_MSIL2A_\*\.SAFE products", 0),
        ("two-outputs", r"wrote 2 \*_MSIL2A_\*\.SAFE products", 0),
        ("bad-product", r"incomplete.*B05_20m\.jp2", 0),
    ],
)
def test_failure_modes(
    tmp_path: Path,
    l1c: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    pattern: str,
    exit_code: int,
) -> None:
    monkeypatch.setenv("SEN2COR_DOUBLE_MODE", mode)
    log = tmp_path / "convert.log"
    with pytest.raises(Sen2CorError, match=pattern) as info:
        _run(l1c, tmp_path / "out", log)
    assert info.value.exit_code == exit_code
    if mode in ("exit1", "existing-output", "no-output"):
        tail = info.value.log_tail.splitlines()
        assert 0 < len(tail) <= 30
        assert "progress line 00" not in info.value.log_tail  # only the tail
    if mode == "exit1":
        assert "simulated processing failure" in info.value.log_tail
    _assert_clean(tmp_path / "out")


def test_timeout_kills_and_cleans(
    tmp_path: Path, l1c: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEN2COR_DOUBLE_MODE", "hang")
    with pytest.raises(Sen2CorError, match="exceeded the timeout of 3 s") as info:
        _run(l1c, tmp_path / "out", tmp_path / "convert.log", timeout_s=3.0)
    assert info.value.exit_code is None
    _assert_clean(tmp_path / "out")


# ---------------------------------------------------------------- dispatch


def test_convert_product_records_the_converter(tmp_path: Path, l1c: Path) -> None:
    out_safe = tmp_path / "l2a" / f"{L2A_NAME}.SAFE"
    log = tmp_path / "log"
    fallback = convert_product(l1c, out_safe, params=L2AParams(processor="fallback"))
    assert (fallback.converter, fallback.converter_version) == (
        "benpipe-fallback-dos1",
        "2",
    )
    assert (fallback.l1c, fallback.l2a) == (L1C_NAME, L2A_NAME)
    sen2cor = convert_product(
        l1c,
        out_safe,
        params=L2AParams(processor="sen2cor", sen2cor_cmd=str(DOUBLE)),
        threads=2,
        log_path=log,
    )
    assert (sen2cor.converter, sen2cor.converter_version) == ("sen2cor", "02.11.00")
    write_sidecar(sen2cor, tmp_path / "l2a" / f"{L2A_NAME}.json")
    sidecar = json.loads((tmp_path / "l2a" / f"{L2A_NAME}.json").read_text())
    assert sidecar["converter"] == "sen2cor" and sidecar["algorithm_version"] >= 1
    assert sorted(p.name for p in out_safe.parent.iterdir()) == [
        f"{L2A_NAME}.SAFE",
        f"{L2A_NAME}.json",
    ]


def test_convert_product_rejects_a_foreign_output_name(
    tmp_path: Path, l1c: Path
) -> None:
    from benpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="does not match the L2A name"):
        convert_product(
            l1c, tmp_path / "X.SAFE", params=L2AParams(processor="fallback")
        )


# ---------------------------------------------------------------- the double itself


def test_double_enforces_the_invocation_contract(tmp_path: Path, l1c: Path) -> None:
    import subprocess

    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, SEN2COR_N_CORES="2", LC_NUMERIC="C")
    # CDSE fix-ups not applied: QI_DATA/AUX_DATA missing
    proc = subprocess.run(
        [str(DOUBLE), "--output_dir", str(out), str(l1c)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "QI_DATA is missing" in proc.stderr
    from benpipe.l1c.extract import recreate_empty_dirs

    recreate_empty_dirs(l1c)
    no_cores = {k: v for k, v in env.items() if k != "SEN2COR_N_CORES"}
    proc = subprocess.run(
        [str(DOUBLE), "--output_dir", str(out), str(l1c)],
        env=no_cores, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "SEN2COR_N_CORES" in proc.stderr
    proc = subprocess.run(
        [str(DOUBLE), str(l1c)], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "--output_dir is required" in proc.stderr
    assert list(out.iterdir()) == []
