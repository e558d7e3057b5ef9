"""The CDSE emulator over HTTP, as any client sees it: realm, catalogue, downloads."""

from __future__ import annotations

import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from benpipe.cdse.emulator import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    EmulatorServer,
    resolve_cdse_hosts,
)
from benpipe.cdse.emulator.synthetic_products import make_synthetic_world
from benpipe.cdse.session import new_session
from benpipe.errors import InputDataError

pytestmark = pytest.mark.usefixtures("isolated_cdse_env")

P1 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
P2 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UVP_20170613T101608"
P3 = "S2B_MSIL1C_20180525T094029_N0206_R036_T35VNK_20180525T114839"
NAMES = [P1, P2, P3]
CATALOGUE = "https://catalogue.dataspace.copernicus.eu/odata/v1"
ZIPPER = "https://zipper.dataspace.copernicus.eu/odata/v1"
IDENTITY = "https://identity.dataspace.copernicus.eu/auth/realms/CDSE"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("world")
    entries = make_synthetic_world(root, NAMES, payload_bytes=200 << 10)
    return root, {str(e["Name"]).removesuffix(".SAFE"): str(e["Id"]) for e in entries}


@pytest.fixture(scope="module")
def emu(world: tuple[Path, dict[str, str]]) -> Any:
    with EmulatorServer(
        world[0], token_lifetime_s=300, refresh_lifetime_s=600
    ) as server:
        yield server


def _login(emu: EmulatorServer, **extra: str) -> requests.Response:
    form = {
        "grant_type": "password",
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "client_id": "cdse-public",
        **extra,
    }
    return requests.post(emu.token_url, data=form, timeout=10)


def _token(emu: EmulatorServer) -> str:
    return str(_login(emu).json()["access_token"])


# ------------------------------------------------------------------ realm
def test_discovery_jwks_and_rs256_access_token(emu: EmulatorServer) -> None:
    conf = requests.get(emu.discovery_url, timeout=10).json()
    assert conf["issuer"] == f"{emu.url}/auth/realms/CDSE"
    assert conf["token_endpoint"] == emu.token_url
    assert "RS256" in conf["id_token_signing_alg_values_supported"]
    answer = _login(emu).json()
    assert answer["token_type"] == "Bearer"
    assert (answer["expires_in"], answer["refresh_expires_in"]) == (300, 600)
    access = answer["access_token"]
    key = jwt.PyJWKClient(conf["jwks_uri"]).get_signing_key_from_jwt(access)
    claims = jwt.decode(access, key.key, algorithms=["RS256"], audience="account")
    assert jwt.get_unverified_header(access)["alg"] == "RS256"
    for claim in ("exp", "iat", "iss", "aud", "azp", "sub", "preferred_username"):
        assert claim in claims
    assert claims["exp"] - claims["iat"] == 300
    assert (claims["iss"], claims["azp"]) == (conf["issuer"], "cdse-public")
    assert claims["preferred_username"] == DEMO_USERNAME
    # the refresh token is not an access token
    assert (
        requests.get(
            f"{emu.download_url}/Products(x)/$value",
            headers={"Authorization": f"Bearer {answer['refresh_token']}"},
            timeout=10,
        ).status_code
        == 401
    )


def test_refresh_tokens_rotate_and_reuse_is_refused(emu: EmulatorServer) -> None:
    first = _login(emu).json()["refresh_token"]

    def refresh(token: str) -> requests.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": "cdse-public",
        }
        return requests.post(emu.token_url, data=form, timeout=10)

    second = refresh(first)
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first
    reused = refresh(first)  # what a second process holding the old token sends
    assert reused.status_code == 400
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "Maximum allowed refresh token reuse exceeded",
    }
    assert refresh(second.json()["refresh_token"]).status_code == 200
    garbage = refresh("not-a-token")
    assert (garbage.status_code, garbage.json()["error"]) == (400, "invalid_grant")


def test_expired_refresh_token_is_not_active(
    world: tuple[Path, dict[str, str]],
) -> None:
    with EmulatorServer(world[0], refresh_lifetime_s=1) as emu:
        refresh = _login(emu).json()["refresh_token"]
        time.sleep(2.1)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": "cdse-public",
        }
        answer = requests.post(emu.token_url, data=form, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error_description"] == "Token is not active"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": "my-app"}, 401, "invalid_client"),
        ({"client_id": ""}, 401, "invalid_client"),
        ({"password": "wrong"}, 401, "invalid_grant"),
        ({"username": "nobody"}, 401, "invalid_grant"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ],
)
def test_token_endpoint_errors_are_keycloaks(
    emu: EmulatorServer, form: dict[str, str], status: int, error: str
) -> None:
    answer = _login(emu, **form)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error and body["error_description"]


def test_basic_auth_from_netrc_is_read_as_client_credentials(
    emu: EmulatorServer,
) -> None:
    """What `requests` sends when ~/.netrc lists the token host: Keycloak refuses it."""
    answer = requests.post(
        emu.token_url,
        data={
            "grant_type": "password",
            "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD,
        },
        auth=(DEMO_USERNAME, DEMO_PASSWORD),
        timeout=10,
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


# ------------------------------------------------------------------ catalogue
def _products(emu: EmulatorServer, **params: str) -> requests.Response:
    return requests.get(f"{emu.catalogue_url}/Products", params=params, timeout=10)


def test_entities_carry_what_cdse_returns(
    emu: EmulatorServer, world: tuple[Path, dict[str, str]]
) -> None:
    root, ids = world
    body = _products(
        emu, **{"$filter": f"Name eq '{P3}.SAFE'", "$expand": "Attributes"}
    ).json()
    (item,) = body["value"]
    assert body["@odata.context"] == "$metadata#Products(Attributes())"
    for key in (
        "Id", "Name", "ContentType", "ContentLength", "OriginDate", "PublicationDate",
        "ModificationDate", "Online", "EvictionDate", "S3Path", "Checksum",
        "ContentDate", "Footprint", "GeoFootprint",
    ):  # fmt: skip
        assert item[key] is not None, key
    assert item["Id"] == ids[P3]
    assert (
        item["ContentLength"]
        == (root / "cdse" / "products" / f"{P3}.zip").stat().st_size
    )
    assert item["S3Path"] == f"/eodata/Sentinel-2/MSI/L1C/2018/05/25/{P3}.SAFE"
    assert {c["Algorithm"] for c in item["Checksum"]} == {"MD5", "BLAKE3"}
    assert all(c["ChecksumDate"] for c in item["Checksum"])
    assert item["Footprint"].startswith("geography'SRID=4326;POLYGON ((")
    ring = item["GeoFootprint"]["coordinates"][0]
    assert item["GeoFootprint"]["type"] == "Polygon" and ring[0] == ring[-1]
    assert 25 < ring[0][0] < 30 and 55 < ring[0][1] < 65  # UTM zone 35, band V
    attributes = {a["Name"]: (a["ValueType"], a["Value"]) for a in item["Attributes"]}
    assert attributes["tileId"] == ("String", "35VNK")
    assert attributes["relativeOrbitNumber"] == ("Integer", 36)
    assert attributes["platformSerialIdentifier"] == ("String", "B")
    assert attributes["processingBaseline"] == ("String", "02.06")
    assert attributes["cloudCover"][0] == "Double"
    assert attributes["orbitNumber"][0] == "Integer"
    selected = _products(
        emu, **{"$filter": f"Name eq '{P3}.SAFE'", "$select": "Id,Name"}
    )
    assert set(selected.json()["value"][0]) == {"@odata.mediaContentType", "Id", "Name"}
    entity = requests.get(f"{emu.catalogue_url}/Products({ids[P3]})", timeout=10).json()
    assert entity["@odata.context"] == "$metadata#Products/$entity"
    assert entity["Name"] == f"{P3}.SAFE"


def test_search_forms_clients_send(emu: EmulatorServer) -> None:
    def names(params: dict[str, str]) -> list[str]:
        answer = _products(emu, **params)
        assert answer.status_code == 200, answer.text
        return [v["Name"].removesuffix(".SAFE") for v in answer.json()["value"]]

    # the documented exact-name form
    assert names(
        {"$filter": f"Collection/Name eq 'SENTINEL-2' and Name eq '{P1}.SAFE'"}
    ) == [P1]
    # cdsetool: collection + contains + dates, ordered, counted
    body = _products(
        emu,
        **{
            "$filter": "Collection/Name eq 'SENTINEL-2' and contains(Name,'MSIL1C') and "
            "ContentDate/Start ge 2017-06-01T00:00:00.000Z and ContentDate/Start lt "
            "2017-07-01T00:00:00.000Z",
            "$orderby": "ContentDate/Start asc",
            "$count": "true",
            "$top": "1",
        },
    ).json()
    assert body["@odata.count"] == 2 and len(body["value"]) == 1
    # eodag-style attribute clause with $expand
    relative_orbit = (
        "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'relativeOrbitNumber' "
        "and att/OData.CSC.IntegerAttribute/Value eq 36)"
    )
    assert names({"$filter": relative_orbit, "$expand": "Attributes"}) == [P3]
    assert names(
        {
            "$filter": "startswith(Name,'S2B') or endswith(Name,'T33UVP_20170613T101608.SAFE')",
            "$orderby": "ContentDate/Start desc",
        }
    ) == [P3, P2]


def test_next_links_page_through_everything(emu: EmulatorServer) -> None:
    url: str | None = f"{emu.catalogue_url}/Products"
    params: dict[str, str] | None = {
        "$filter": "Collection/Name eq 'SENTINEL-2'",
        "$top": "2",
        "$count": "true",
    }
    seen: list[str] = []
    while url:
        body = requests.get(url, params=params, timeout=10).json()
        assert body["@odata.count"] == 3
        seen += [v["Name"] for v in body["value"]]
        url, params = body.get("@odata.nextLink"), None
        if url:
            assert (
                url.startswith(f"{emu.catalogue_url}/Products?") and "%24skip=2" in url
            )
    assert sorted(seen) == sorted(f"{n}.SAFE" for n in NAMES)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"$filter": "Name eq"}, 400),
        ({"$filter": "Name eq 'x' and"}, 400),
        ({"$filter": "Name eq 'x' or (Online eq true"}, 400),
        ({"$filter": "Colour eq 'blue'"}, 400),
        (
            {
                "$filter": "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0))')"
            },
            400,
        ),
        ({"$top": "abc"}, 422),
        ({"$top": "5000"}, 422),
        ({"$top": "-3"}, 422),
        ({"$skip": "20000"}, 422),
        ({"$count": "perhaps"}, 422),
        ({"$orderby": "Name desc"}, 400),
        ({"$expand": "Quicklooks"}, 400),
        ({"$select": "Colour"}, 400),
    ],
)
def test_malformed_queries_get_json_errors_and_the_emulator_stays_up(
    emu: EmulatorServer, params: dict[str, str], status: int
) -> None:
    answer = _products(emu, **params)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["detail"]
    assert _products(emu, **{"$filter": f"Name eq '{P1}.SAFE'"}).json()["value"]


def test_a_missing_world_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="benpipe demo-world"):
        EmulatorServer(tmp_path, tls=True)


def test_filter_list_and_unknown_paths(emu: EmulatorServer) -> None:
    answer = requests.post(
        f"{emu.catalogue_url}/Products/OData.CSC.FilterList",
        json={"FilterProducts": [{"Name": f"{P1}.SAFE"}, {"Name": "xxxxxxxx.06.tar"}]},
        timeout=10,
    )
    assert [v["Name"] for v in answer.json()["value"]] == [f"{P1}.SAFE"]
    assert requests.get(f"{emu.url}/odata/v1/Nothing", timeout=10).status_code == 404
    assert (
        requests.get(f"{emu.catalogue_url}/Products(nope)", timeout=10).status_code
        == 404
    )


# ------------------------------------------------------------------ downloads
def _zip_member(root: Path, name: str, suffix: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(root / "cdse" / "products" / f"{name}.zip") as archive:
        member = next(m for m in archive.namelist() if m.endswith(suffix))
        return member, archive.read(member)


def test_head_token_param_and_range(
    emu: EmulatorServer, world: tuple[Path, dict[str, str]]
) -> None:
    root, ids = world
    served = (root / "cdse" / "products" / f"{P1}.zip").read_bytes()
    url = f"{emu.download_url}/Products({ids[P1]})/$value"
    token = _token(emu)
    counted = emu.stats.download_requests
    head = requests.head(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(served)
    assert head.headers["Accept-Ranges"] == "bytes"
    assert emu.stats.download_requests == counted  # HEAD is not a download
    assert requests.head(url, timeout=10).status_code == 401
    answer = requests.get(url, params={"token": token}, timeout=10)
    assert answer.content == served
    part = requests.get(
        url,
        headers={"Authorization": f"Bearer {token}", "Range": "bytes=100-"},
        timeout=10,
    )
    assert part.status_code == 206 and part.content == served[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(served) - 1}/{len(served)}"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, params={"token": "forged"}, timeout=10).json() == {
        "detail": "Expired signature!"
    }


def test_nodes_tree_and_one_file(
    emu: EmulatorServer, world: tuple[Path, dict[str, str]]
) -> None:
    root, ids = world
    base = f"{emu.download_url}/Products({ids[P2]})"
    (top,) = requests.get(f"{base}/Nodes", timeout=10).json()["result"]
    assert top["Name"] == f"{P2}.SAFE" and top["ChildrenNumber"] == 4
    children = requests.get(top["Nodes"]["uri"], timeout=10).json()["result"]
    assert [c["Name"] for c in children] == [
        "DATASTRIP",
        "GRANULE",
        "MTD_MSIL1C.xml",
        "manifest.safe",
    ]
    member, data = _zip_member(root, P2, "_B04.jp2")
    path = "".join(f"/Nodes({part})" for part in member.split("/"))
    token = _token(emu)
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.get(f"{base}{path}/$value", headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.content == data
    ranged = requests.get(
        f"{base}{path}/$value", headers={**headers, "Range": "bytes=10-19"}, timeout=10
    )
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert requests.get(f"{base}{path}/Nodes", timeout=10).json() == {"result": []}
    listing = requests.get(f"{base}{path.rsplit('/', 1)[0]}/Nodes", timeout=10).json()[
        "result"
    ]
    assert {n["Name"]: n["ContentLength"] for n in listing}[
        member.rsplit("/", 1)[1]
    ] == len(data)
    folder = requests.get(
        f"{base}/Nodes({P2}.SAFE)/Nodes(GRANULE)/$value", headers=headers, timeout=10
    )
    assert folder.status_code == 404
    assert (
        requests.get(
            f"{base}/Nodes({P2}.SAFE)/Nodes(nope)/Nodes", timeout=10
        ).status_code
        == 404
    )
    assert requests.get(f"{base}{path}/$value", timeout=10).status_code == 401


def test_fifth_concurrent_download_of_a_user_is_429(
    world: tuple[Path, dict[str, str]],
) -> None:
    root, ids = world
    with EmulatorServer(root, faults="concurrent:4,slow:200") as emu:
        token = _token(emu)
        url = f"{emu.download_url}/Products({ids[P1]})/$value"
        statuses: list[int] = []

        def fetch() -> None:
            with requests.get(
                url,
                headers={"Authorization": f"Bearer {token}"},
                stream=True,
                timeout=30,
            ) as r:
                statuses.append(r.status_code)
                r.content  # noqa: B018 (read the whole body)

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while emu.stats.download_requests < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        fifth = requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        for thread in threads:
            thread.join()
        assert (
            fifth.status_code == 429
            and "4 concurrent downloads" in fifth.json()["detail"]
        )
        assert statuses == [200] * 4 and emu.stats.quota_rejections == 1
        # once they are done (the server notices a moment later), it works again
        for _ in range(50):
            again = requests.get(
                url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            if again.status_code != 429:
                break
            time.sleep(0.1)
        assert again.status_code == 200


# ------------------------------------------------------------------ CDSE host names
@pytest.fixture
def cdse_hosts(
    world: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The emulator over TLS, with CDSE's host names resolved to it in this process."""
    with EmulatorServer(world[0], tls=True) as emu, resolve_cdse_hosts(emu.port):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_cert_path))
        yield emu


def test_catalogue_redirects_to_zipper_with_301_and_requests_drops_the_token(
    cdse_hosts: EmulatorServer, world: tuple[Path, dict[str, str]]
) -> None:
    root, ids = world
    conf = requests.get(
        f"{IDENTITY}/.well-known/openid-configuration", timeout=10
    ).json()
    assert conf["token_endpoint"] == f"{IDENTITY}/protocol/openid-connect/token"
    form = {
        "grant_type": "password",
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "client_id": "cdse-public",
    }
    token = requests.post(conf["token_endpoint"], data=form, timeout=10).json()[
        "access_token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{CATALOGUE}/Products({ids[P1]})/$value"
    hop = requests.get(url, headers=headers, allow_redirects=False, timeout=10)
    assert hop.status_code == 301
    assert hop.headers["Location"] == f"{ZIPPER}/Products({ids[P1]})/$value"
    # requests follows the hop but strips Authorization across hosts -> 401
    assert requests.get(url, headers=headers, timeout=10).status_code == 401
    # curl --location-trusted (re-sending the token to the new host) downloads
    served = (root / "cdse" / "products" / f"{P1}.zip").read_bytes()
    assert (
        requests.get(hop.headers["Location"], headers=headers, timeout=10).content
        == served
    )
    # HEAD resolves the same hop (cdsetool's _follow_redirect)
    assert (
        requests.head(
            url, headers=headers, allow_redirects=False, timeout=10
        ).status_code
        == 301
    )
    # links in answers name the host that was asked
    body = requests.get(
        f"{CATALOGUE}/Products", params={"$top": "1"}, timeout=10
    ).json()
    assert body["@odata.nextLink"].startswith(f"{CATALOGUE}/Products?")


def test_benpipe_session_sends_no_netrc_credentials(
    cdse_hosts: EmulatorServer, isolated_cdse_env: Path
) -> None:
    """requests' own session would put ~/.netrc Basic auth on the token request."""
    netrc = isolated_cdse_env / ".netrc"
    netrc.write_text(
        "machine identity.dataspace.copernicus.eu login demo password demo-password\n"
        "default login someone password something\n"
    )
    netrc.chmod(0o600)
    form = {
        "grant_type": "password",
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "client_id": "cdse-public",
    }
    token_url = f"{IDENTITY}/protocol/openid-connect/token"
    assert requests.Session().post(token_url, data=form, timeout=10).status_code == 401
    with new_session() as session:
        answer = session.post(token_url, data=form, timeout=10)
    assert answer.status_code == 200, answer.text
    assert "access_token" in answer.json()
