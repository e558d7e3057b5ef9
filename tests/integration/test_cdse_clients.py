"""A real CDSE client, cdsetool, against the emulator serving the demo world.

cdsetool hard-codes CDSE's host names (``query.py`` and ``download.py`` build
``https://catalogue.dataspace.copernicus.eu/...`` and
``https://download.dataspace.copernicus.eu/...`` inline; ``Credentials``
reads ``https://identity.dataspace.copernicus.eu/.../openid-configuration``).
Nothing of cdsetool is patched: the emulator serves TLS for those names with a
CA made at start-up (trusted through ``REQUESTS_CA_BUNDLE`` and
``SSL_CERT_FILE``), and :func:`resolve_cdse_hosts` resolves the names to it in
this process, as an ``/etc/hosts`` entry would.  So cdsetool runs its own code
paths: discovery, JWKS and JWT validation in ``Credentials``, OData queries
with ``$count``/``$orderby``/``@odata.nextLink``, the ``HEAD`` redirect probe,
whole-product and per-file (``Nodes`` + ``manifest.safe``) downloads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from pathlib import Path
from typing import Any

import blake3
import pytest

from benpipe.cdse.emulator import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    EmulatorServer,
    resolve_cdse_hosts,
)
from benpipe.demo import WorldParams, generate_world

cdsetool_credentials = pytest.importorskip("cdsetool.credentials")
cdsetool_query = pytest.importorskip("cdsetool.query")
cdsetool_download = pytest.importorskip("cdsetool.download")

pytestmark = pytest.mark.usefixtures("isolated_cdse_env")

P1 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
P4 = "S2B_MSIL1C_20180204T094159_N0206_R036_T29SND_20180204T094201"
#: cdsetool sleeps about a minute between attempts: fail at once instead.
FAST = {"max_attempts": 1}


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two products of the real demo world (real SAFE metadata and manifest)."""
    root = tmp_path_factory.mktemp("clients") / "world"
    generate_world(root, WorldParams(seed=0, products=("P1", "P4"), s1_rasters=False))
    return root


@pytest.fixture
def cdse(demo_world: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with EmulatorServer(demo_world, tls=True) as emu, resolve_cdse_hosts(emu.port):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_cert_path))
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_cert_path))
        yield emu


@pytest.fixture
def credentials(cdse: EmulatorServer) -> Any:
    return cdsetool_credentials.Credentials(DEMO_USERNAME, DEMO_PASSWORD)


def test_login_with_discovery_and_jwt_validation(cdse: EmulatorServer) -> None:
    creds = cdsetool_credentials.Credentials(DEMO_USERNAME, DEMO_PASSWORD)
    session = creds.get_session()
    assert session.headers["Authorization"].startswith("Bearer ey")
    assert cdse.stats.password_grants == 1
    with pytest.raises(cdsetool_credentials.InvalidCredentialsException):
        cdsetool_credentials.Credentials(DEMO_USERNAME, "wrong")
    assert cdse.stats.login_failures == 1


def test_query_by_name_and_by_date_range_with_count(cdse: EmulatorServer) -> None:
    by_name = cdsetool_query.query_features(
        "SENTINEL-2", {"name": "T29SND"}, options=FAST
    )
    assert len(by_name) == 1
    assert [f["Name"] for f in by_name] == [f"{P4}.SAFE"]
    june = cdsetool_query.query_features(
        "SENTINEL-2",
        {
            "contentDateStartGe": dt.date(2017, 6, 1),
            "contentDateStartLt": dt.date(2017, 7, 1),
            "productType": "S2MSI1C",
        },
        options={**FAST, "expand_attributes": True},
    )
    assert len(june) == 1  # @odata.count
    (feature,) = list(june)
    assert feature["Name"] == f"{P1}.SAFE"
    assert cdsetool_query.get_product_attribute(feature, "tileId") == "33UUP"
    # one feature per page: cdsetool follows @odata.nextLink
    paged = cdsetool_query.query_features("SENTINEL-2", {"top": 1}, options=FAST)
    assert sorted(f["Name"] for f in paged) == [f"{P1}.SAFE", f"{P4}.SAFE"]
    assert len(paged) == 2
    filters = cdse.stats.filters
    assert all(f.startswith("Collection/Name eq 'SENTINEL-2'") for f in filters)
    assert any("ContentDate/Start ge 2017-06-01T00:00:00.000Z" in f for f in filters)


def test_download_whole_product_matches_catalogue_checksums(
    cdse: EmulatorServer, credentials: Any, demo_world: Path, tmp_path: Path
) -> None:
    (feature,) = list(
        cdsetool_query.query_features("SENTINEL-2", {"name": "T33UUP"}, options=FAST)
    )
    out = tmp_path / "out"
    name = cdsetool_download.download_feature(
        feature, str(out), {"credentials": credentials, "download_attempts": 1}
    )
    assert name == f"{P1}.SAFE.zip"
    data = (out / name).read_bytes()
    assert data == (demo_world / "cdse" / "products" / f"{P1}.zip").read_bytes()
    checksums = {c["Algorithm"]: c["Value"] for c in feature["Checksum"]}
    assert checksums["MD5"] == hashlib.md5(data).hexdigest()
    assert checksums["BLAKE3"] == blake3.blake3(data).hexdigest()


def test_download_one_band_through_nodes(
    cdse: EmulatorServer, credentials: Any, demo_world: Path, tmp_path: Path
) -> None:
    (feature,) = list(
        cdsetool_query.query_features("SENTINEL-2", {"name": "T29SND"}, options=FAST)
    )
    out = tmp_path / "bands"
    title = cdsetool_download.download_feature(
        feature,
        str(out),
        {
            "credentials": credentials,
            "download_attempts": 1,
            "filter_pattern": "*_B04.jp2",
        },
    )
    assert title == f"{P4}.SAFE"
    (band,) = (out / title).rglob("*.jp2")
    with zipfile.ZipFile(demo_world / "cdse" / "products" / f"{P4}.zip") as archive:
        member = next(m for m in archive.namelist() if m.endswith("_B04.jp2"))
        assert band.relative_to(out).as_posix() == member
        assert band.read_bytes() == archive.read(member)
    assert [p.name for p in (out / title).rglob("*") if p.is_file()] == [band.name]
