"""The CDSE client against the local emulator with injected faults."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import blake3
import pytest

from benpipe.cdse.auth import TokenManager, find_credentials
from benpipe.cdse.catalogue import (
    CatalogueEntry,
    query_products,
    read_sidecar,
    search_cdse,
    search_product,
)
from benpipe.cdse.download import (
    CdseSettings,
    Downloader,
    DownloadStats,
    choose_checksum,
    download_many,
    fetch_l1c,
    is_trusted_redirect,
)
from benpipe.cdse.emulator import EmulatorServer, parse_faults
from benpipe.cdse.emulator.synthetic_products import (
    make_synthetic_world,
    write_catalogue,
)
from benpipe.errors import (
    AuthenticationError,
    CatalogueError,
    ChecksumMismatchError,
    ConfigError,
    ProductUnavailableError,
    QuotaExceededError,
)
from benpipe.fileio import write_lines_atomic

P1 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
P2 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UVP_20170613T101608"
P3 = "S2B_MSIL1C_20180525T094029_N0206_R036_T35VNK_20180525T114839"
NAMES = [P1, P2, P3]
CHUNK = 64 << 10


pytestmark = pytest.mark.usefixtures("isolated_cdse_env")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("world")
    entries = make_synthetic_world(root, NAMES, payload_bytes=600 << 10)
    return root, {str(e["Name"]).removesuffix(".SAFE"): str(e["Id"]) for e in entries}


def _settings(emu: EmulatorServer, root: Path, **kw: object) -> CdseSettings:
    base = {
        "catalogue_url": emu.catalogue_url,
        "download_url": emu.download_url,
        "token_url": emu.token_url,
        "netrc": str(root / "cdse.netrc"),
        "max_attempts": 6,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 10,
    }
    base.update(kw)
    return CdseSettings.from_mapping(base)


def _served(root: Path, name: str) -> bytes:
    return (root / "cdse" / "products" / f"{name}.zip").read_bytes()


def _blake3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


@pytest.fixture(scope="module")
def old_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, str]]:
    """Older-style catalogue entries: P1 with only an MD5, P3 with no checksum."""
    root = tmp_path_factory.mktemp("old-world")
    entries = make_synthetic_world(root, NAMES, payload_bytes=200 << 10)
    write_catalogue(root, checksums={P1: ("MD5",), P3: ()})
    return root, {str(e["Name"]).removesuffix(".SAFE"): str(e["Id"]) for e in entries}


def test_faults_all_products_end_up_verified(world, tmp_path: Path) -> None:
    root, ids = world
    faults = f"429@2,503@3,cut@4,expire-token@6,bad-md5:{P3},redirect"
    out = tmp_path / "l1c"
    with EmulatorServer(root, faults=faults) as emu:
        downloader = Downloader(_settings(emu, root), chunk_bytes=CHUNK)
        stats = {}
        elapsed = {}
        for name in NAMES:
            stats[name] = DownloadStats()
            started = time.monotonic()
            result = downloader.download(
                ids[name], out / f"{name}.zip", name=name, stats=stats[name]
            )
            elapsed[name] = time.monotonic() - started
            assert result.checksum_algorithm == "BLAKE3"
            assert result.checksum == _blake3(_served(root, name))
        emu_stats = emu.stats
    for name in NAMES:
        assert (out / f"{name}.zip").read_bytes() == _served(root, name)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.zip" for n in NAMES)
    # P1 clean; P2: 429, 503, cut, resumed; P3: 401 (free), bad bytes, re-download
    assert stats[P1].attempts == 1
    assert stats[P2].attempts == 4
    assert stats[P2].statuses == [429, 503, 200, 206]
    assert stats[P2].resumed_from > 0
    assert elapsed[P2] >= 1.0  # Retry-After: 1 was honoured (backoff is 0.01 s)
    assert stats[P3].attempts == 2
    assert stats[P3].auth_renewals == 1
    assert stats[P3].checksum_redownloads == 1
    assert emu_stats.password_grants == 1
    assert emu_stats.refresh_grants == 1
    assert emu_stats.redirects >= 8


def test_partial_file_never_under_final_name(world, tmp_path: Path) -> None:
    root, ids = world
    dest = tmp_path / f"{P1}.zip"
    size = len(_served(root, P1))
    seen_sizes: list[int] = []
    with EmulatorServer(root, faults="slow:5,cut@1") as emu:
        downloader = Downloader(_settings(emu, root), chunk_bytes=CHUNK)
        thread = threading.Thread(
            target=downloader.download, args=(ids[P1], dest), kwargs={"name": P1}
        )
        thread.start()
        saw_part = False
        while thread.is_alive():
            saw_part |= dest.with_name(dest.name + ".part").exists()
            if dest.exists():
                seen_sizes.append(dest.stat().st_size)
            time.sleep(0.002)
        thread.join()
    assert saw_part
    assert set(seen_sizes) <= {size}
    assert dest.read_bytes() == _served(root, P1)


def test_failure_keeps_part_and_no_final_file(world, tmp_path: Path) -> None:
    root, ids = world
    dest = tmp_path / f"{P1}.zip"
    with EmulatorServer(root, faults="cut@1,cut@2,cut@3") as emu:
        settings = _settings(emu, root, max_attempts=3)
        error_csv = tmp_path / "download_errors.csv"
        with pytest.raises(Exception, match="failed after 3 attempts") as info:
            fetch_l1c(
                P1,
                ids[P1],
                dest,
                settings=settings,
                error_csv=error_csv,
                downloader=Downloader(settings, chunk_bytes=CHUNK),
            )
        assert getattr(info.value, "status_code", "x") is None
    assert not dest.exists()
    part = dest.with_name(dest.name + ".part")
    assert 0 < part.stat().st_size < len(_served(root, P1))
    with error_csv.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["product", "id", "error", "attempts"]
    assert rows[1][:2] == [P1, ids[P1]]
    assert rows[1][2].startswith("DownloadError:")
    assert rows[1][3] == "3"
    # the rerun resumes and clears the error row
    kept = part.stat().st_size
    with EmulatorServer(root) as emu:
        settings = _settings(emu, root)
        result = fetch_l1c(P1, ids[P1], dest, settings=settings, error_csv=error_csv)
        assert result.resumed_from == kept
        # the kept prefix was hashed too: verified without a re-download
        assert result.checksum == _blake3(_served(root, P1))
        assert emu.stats.bytes_served == len(_served(root, P1)) - kept
    assert dest.read_bytes() == _served(root, P1)
    assert error_csv.read_text().splitlines() == ["product,id,error,attempts"]


_KILLED_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from benpipe.cdse.download import CdseSettings, Downloader
    url, token_url, netrc, pid, dest = sys.argv[1:]
    settings = CdseSettings(url, url, token_url, netrc=Path(netrc), timeout_s=10)
    Downloader(settings, chunk_bytes=65536).download(pid, Path(dest))
    """
)


def test_killed_download_resumes_with_range(world, tmp_path: Path) -> None:
    root, ids = world
    dest = tmp_path / f"{P2}.zip"
    part = dest.with_name(dest.name + ".part")
    size = len(_served(root, P2))
    with EmulatorServer(root, faults="slow:40") as emu:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _KILLED_CHILD,
                emu.catalogue_url,
                emu.token_url,
                str(root / "cdse.netrc"),
                ids[P2],
                str(dest),
            ],
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if part.exists() and part.stat().st_size >= 3 * CHUNK:
                break
            time.sleep(0.01)
        child.terminate()
        child.wait(timeout=10)
        assert not dest.exists()
        kept = part.stat().st_size
        assert 0 < kept < size
        stats = DownloadStats()
        result = Downloader(_settings(emu, root), chunk_bytes=CHUNK).download(
            ids[P2], dest, name=P2, stats=stats
        )
        resumed = [(n, r) for n, _, status, r in emu.stats.responses if status == 206]
        sent = emu.stats.sent_by_request
    assert stats.resumed_from == kept
    assert stats.bytes_transferred == size - kept < size
    assert stats.checksum_redownloads == 0
    assert (result.checksum_algorithm, result.checksum) == (
        "BLAKE3",
        _blake3(_served(root, P2)),
    )
    assert [r for _, r in resumed] == [f"bytes={kept}-"]
    assert sent[resumed[0][0]] == size - kept
    assert dest.read_bytes() == _served(root, P2)


@pytest.mark.parametrize("fault", ["bad-md5", "bad-checksum"])
def test_blake3_mismatch_twice_raises_and_cleans_up(
    world, tmp_path: Path, fault: str
) -> None:
    root, ids = world
    dest = tmp_path / f"{P1}.zip"
    expected = _blake3(_served(root, P1))
    with EmulatorServer(root, faults=f"{fault}:{P1}*2") as emu:
        stats = DownloadStats()
        with pytest.raises(ChecksumMismatchError, match="twice") as info:
            Downloader(_settings(emu, root)).download(
                ids[P1], dest, name=P1, stats=stats
            )
    message = str(info.value)
    assert f"catalogue BLAKE3 {expected}" in message
    found = message.split(f"({ids[P1]}): BLAKE3 ")[1].split()[0]
    assert len(found) == 64 and found != expected
    assert stats.attempts == 2 and stats.checksum_redownloads == 1
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()


def test_md5_only_catalogue_entry_verifies_with_md5(old_world, tmp_path: Path) -> None:
    root, ids = old_world
    with EmulatorServer(root) as emu:
        downloader = Downloader(_settings(emu, root))
        md5_result = downloader.download(ids[P1], tmp_path / "a.zip", name=P1)
        b3_result = downloader.download(ids[P2], tmp_path / "b.zip", name=P2)
    assert (md5_result.checksum_algorithm, md5_result.checksum) == (
        "MD5",
        hashlib.md5(_served(root, P1)).hexdigest(),
    )
    assert b3_result.checksum_algorithm == "BLAKE3"
    # a corrupted MD5-only product is caught by MD5
    with (
        EmulatorServer(root, faults=f"bad-md5:{P1}*2") as emu,
        pytest.raises(ChecksumMismatchError, match=r": MD5 \S+ of the downloaded"),
    ):
        Downloader(_settings(emu, root)).download(ids[P1], tmp_path / "c.zip", name=P1)


def test_no_checksum_downloads_unverified_and_says_so(
    old_world, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, ids = old_world
    with EmulatorServer(root) as emu, caplog.at_level(logging.INFO):
        result = Downloader(_settings(emu, root)).download(
            ids[P3], tmp_path / "x.zip", name=P3
        )
    assert (result.checksum_algorithm, result.checksum) == (None, None)
    assert f"{P3} ({ids[P3]}): the catalogue has no MD5 or BLAKE3" in caplog.text
    assert (tmp_path / "x.zip").read_bytes() == _served(root, P3)


def test_checksum_choice_prefers_frozen_then_blake3() -> None:
    def entry(md5: str | None, b3: str | None) -> CatalogueEntry:
        return CatalogueEntry("N.SAFE", "i", 1, md5, True, blake3=b3)

    assert choose_checksum("x", None, entry("m", "b")) == ("BLAKE3", "b")
    assert choose_checksum("x", None, entry("m", None)) == ("MD5", "m")
    assert choose_checksum("x", None, entry(None, None)) is None
    assert choose_checksum("x", None, None) is None
    # a frozen row wins over the live entry, even an MD5-only one
    assert choose_checksum("x", entry("f", None), entry("m", "b")) == ("MD5", "f")
    assert choose_checksum("x", entry("f", "g"), entry("m", "b")) == ("BLAKE3", "g")
    # a frozen row without checksums falls back to the live entry
    assert choose_checksum("x", entry(None, None), entry("m", "b")) == ("BLAKE3", "b")


def test_frozen_sidecar_md5_is_enforced(world, tmp_path: Path) -> None:
    """A sidecar in the old format (no blake3 column) is read and its MD5 used."""
    root, ids = world
    sidecar = tmp_path / "cdse_catalogue.csv"
    sidecar.write_text(
        f"tile,id,content_length,md5,online\n{P1}.SAFE,{ids[P1]},0,{'0' * 32},true\n"
    )
    assert read_sidecar(sidecar)[ids[P1]].blake3 is None
    with (
        EmulatorServer(root) as emu,
        pytest.raises(ChecksumMismatchError, match=f"catalogue MD5 {'0' * 32} twice"),
    ):
        fetch_l1c(
            P1,
            ids[P1],
            tmp_path / "x.zip",
            settings=_settings(emu, root),
            tracked_catalogue=sidecar,
        )


def test_frozen_sidecar_blake3_is_enforced(world, tmp_path: Path) -> None:
    root, ids = world
    md5 = hashlib.md5(_served(root, P1)).hexdigest()
    sidecar = tmp_path / "cdse_catalogue.csv"
    sidecar.write_text(
        "tile,id,content_length,md5,online,blake3\n"
        f"{P1}.SAFE,{ids[P1]},0,{md5},true,{'0' * 64}\n"
    )
    with (
        EmulatorServer(root) as emu,
        pytest.raises(
            ChecksumMismatchError, match=f"catalogue BLAKE3 {'0' * 64} twice"
        ),
    ):
        fetch_l1c(
            P1,
            ids[P1],
            tmp_path / "x.zip",
            settings=_settings(emu, root),
            tracked_catalogue=sidecar,
        )


def test_offline_product_is_unavailable(world, tmp_path: Path) -> None:
    root, ids = world
    with EmulatorServer(root, faults=f"offline:{P1}") as emu:
        with pytest.raises(ProductUnavailableError, match="Data Workspace"):
            Downloader(_settings(emu, root)).download(ids[P1], tmp_path / "x.zip")
        assert emu.stats.download_requests == 0


def test_persistent_429_raises_quota_error(world, tmp_path: Path) -> None:
    root, ids = world
    faults = ",".join(f"429@{n}" for n in range(1, 4)) + ",retry-after:0"
    with (
        EmulatorServer(root, faults=faults) as emu,
        pytest.raises(QuotaExceededError, match="3 attempts"),
    ):
        Downloader(_settings(emu, root, max_attempts=3)).download(
            ids[P1], tmp_path / "x.zip"
        )


def test_bad_password_is_an_auth_error_without_the_secret(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = world
    monkeypatch.setenv("CDSE_USERNAME", "demo")
    monkeypatch.setenv("CDSE_PASSWORD", "wrong-secret-123")
    with EmulatorServer(root) as emu, pytest.raises(AuthenticationError) as info:
        Downloader(_settings(emu, root)).download(ids[P1], tmp_path / "x.zip")
    assert "wrong-secret-123" not in str(info.value)
    assert "wrong-secret-123" not in repr(find_credentials("http://127.0.0.1/t"))


def test_missing_credentials_message_says_where_to_put_them(
    isolated_cdse_env: Path,
) -> None:
    with pytest.raises(AuthenticationError, match="CDSE_USERNAME") as info:
        find_credentials("https://identity.dataspace.copernicus.eu/x")
    assert str(isolated_cdse_env / ".netrc") in str(info.value)
    assert "machine identity.dataspace.copernicus.eu" in str(info.value)


def test_parallel_downloads_share_one_login(world, tmp_path: Path) -> None:
    root, ids = world
    with EmulatorServer(root, faults="expire-token@2") as emu:
        results = download_many(
            [(n, ids[n]) for n in NAMES], tmp_path, settings=_settings(emu, root)
        )
        assert emu.stats.password_grants == 1
        assert emu.stats.refresh_grants == 1
    assert all(not isinstance(r, Exception) for r in results)
    for name in NAMES:
        assert (tmp_path / f"{name}.zip").read_bytes() == _served(root, name)


_TOKEN_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from benpipe.cdse.auth import TokenManager
    tm = TokenManager(sys.argv[1], netrc_path=Path(sys.argv[2]))
    print(tm.get_token())
    """
)


def test_token_cache_is_shared_across_processes(world, tmp_path: Path) -> None:
    root, _ = world
    with EmulatorServer(root) as emu:
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _TOKEN_CHILD,
                    emu.token_url,
                    str(root / "cdse.netrc"),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        tokens = {child.communicate(timeout=30)[0].strip() for child in children}
        assert emu.stats.password_grants == 1
    assert len(tokens) == 1
    cache_files = list(
        (tmp_path / "xdg-cache" / "benpipe" / "cdse-tokens").glob("*.json")
    )
    assert len(cache_files) == 1
    assert cache_files[0].stat().st_mode & 0o777 == 0o600


def test_expired_refresh_token_logs_in_again(world, tmp_path: Path) -> None:
    root, _ = world
    cache = tmp_path / "tok.json"
    with EmulatorServer(root, token_lifetime_s=20, refresh_lifetime_s=7) as emu:
        tm = TokenManager(
            emu.token_url, netrc_path=root / "cdse.netrc", cache_path=cache
        )
        first = tm.get_token()
        # a 20 s access token is within the 30 s expiry margin -> refresh, not login
        second = tm.get_token()
        assert (emu.stats.password_grants, emu.stats.refresh_grants) == (1, 1)
        time.sleep(2.2)  # refresh token (7 s, 5 s margin) now counts as expired
        third = tm.get_token()
        assert (emu.stats.password_grants, emu.stats.refresh_grants) == (2, 1)
    assert len({first, second, third}) == 3


def test_redirect_trust_rules() -> None:
    trusted = {"catalogue.dataspace.copernicus.eu", "identity.dataspace.copernicus.eu"}
    src = "https://catalogue.dataspace.copernicus.eu/odata/v1/Products(x)/$value"
    assert is_trusted_redirect(src, "https://zipper.dataspace.copernicus.eu/x", trusted)
    assert not is_trusted_redirect(src, "https://evil.example.com/x", trusted)
    assert not is_trusted_redirect(
        src, "http://zipper.dataspace.copernicus.eu/x", trusted
    )
    assert is_trusted_redirect("http://127.0.0.1:1/a", "http://localhost:1/b", set())
    assert not is_trusted_redirect("http://127.0.0.1:1/a", "http://10.0.0.1/b", set())


def test_catalogue_search_and_diff(world, tmp_path: Path) -> None:
    root, ids = world
    names_file = tmp_path / "names.txt"
    write_lines_atomic(names_file, [f"{n}.SAFE" for n in NAMES])
    tracked = tmp_path / "tracked"
    tracked.mkdir()
    (tracked / "bigearthnet_s2_tile_ids.csv").write_text(
        f"tile,id\n{P1}.SAFE,{ids[P1]}\n{P2}.SAFE,00000000-0000-5000-8000-000000000000\n"
    )
    out = tmp_path / "search"
    with EmulatorServer(root, faults=f"offline:{P3}") as emu:
        search_cdse(
            names_file,
            catalogue_url=emu.catalogue_url,
            out_tile_ids=out / "ids.csv",
            out_catalogue=out / "cat.csv",
            out_diff=out / "diff.md",
            tracked_dir=tracked,
        )
        with pytest.raises(CatalogueError, match="0 matches"):
            search_product(
                "S2A_MSIL1C_20990101T000000_N0205_R022_T33UUP_20990101T000000.SAFE",
                catalogue_url=emu.catalogue_url,
            )
    lines = (out / "ids.csv").read_text().splitlines()
    assert lines == ["tile,id"] + [f"{n}.SAFE,{ids[n]}" for n in sorted(NAMES)]
    assert (out / "cat.csv").read_text().splitlines()[0] == (
        "tile,id,content_length,md5,online,blake3"
    )
    sidecar = read_sidecar(out / "cat.csv")
    assert sidecar[ids[P3]].online is False
    assert sidecar[ids[P1]].md5 == hashlib.md5(_served(root, P1)).hexdigest()
    assert sidecar[ids[P1]].blake3 == _blake3(_served(root, P1))
    diff = (out / "diff.md").read_text()
    assert "1 added, 0 removed, 1 changed" in diff
    assert f"1 offline: {P3}.SAFE" in diff


def test_fault_spec_grammar() -> None:
    spec = parse_faults(
        "429@2,503@3,cut@4,expire-token@1,bad-md5:X.SAFE*3,offline:Y,slow:5,redirect"
    )
    assert spec.status_at == {2: 429, 3: 503}
    assert spec.cut_at == {4} and spec.expire_token_at == {1}
    assert spec.bad_md5 == {"X": 3} and spec.offline == {"Y"}
    assert spec.slow_ms == 5 and spec.redirect
    assert parse_faults("bad-checksum:X*2").bad_md5 == {"X": 2}
    with pytest.raises(ConfigError, match="418@2"):
        parse_faults("418@2")


def test_netrc_in_home_never_replaces_the_bearer_token(
    world, tmp_path: Path, isolated_cdse_env: Path
) -> None:
    """~/.netrc with the token host (where benpipe reads its credentials) and a
    default line: requests would send them as Basic auth to the token endpoint
    (Keycloak: invalid_client) and over the Bearer token of every download."""
    root, ids = world
    netrc = isolated_cdse_env / ".netrc"
    netrc.write_text(
        "machine 127.0.0.1 login demo password demo-password\n"
        "default login someone@example.org password other-secret\n"
    )
    netrc.chmod(0o600)
    with EmulatorServer(root, faults="redirect") as emu:  # 127.0.0.1 -> localhost
        settings = _settings(emu, root, netrc=None)
        result = fetch_l1c(P1, ids[P1], tmp_path / "x.zip", settings=settings)
        assert emu.stats.password_grants == 1 and emu.stats.redirects == 1
    assert result.checksum == _blake3(_served(root, P1))
    assert (tmp_path / "x.zip").read_bytes() == _served(root, P1)


_LOGIN_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from benpipe.cdse.download import CdseSettings, fetch_l1c
    url, token_url, name, pid, dest, errors = sys.argv[1:]
    settings = CdseSettings(url, url, token_url, max_attempts=2, timeout_s=10)
    try:
        fetch_l1c(name, pid, Path(dest), settings=settings, error_csv=Path(errors))
    except Exception as exc:
        print(exc)
    """
)


def test_one_refused_login_stops_all_logins_of_the_run(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = world
    monkeypatch.setenv("CDSE_USERNAME", "demo")
    monkeypatch.setenv("CDSE_PASSWORD", "wrong-secret-123")
    errors = tmp_path / "download_errors.csv"
    with EmulatorServer(root) as emu:
        settings = _settings(emu, root, netrc=None)
        messages = []
        # jobs of one run: each with its own token manager, and Snakemake retries
        for name in (P1, P2, P1):
            with pytest.raises(AuthenticationError) as info:
                fetch_l1c(
                    name, ids[name], tmp_path / f"{name}.zip",
                    settings=settings, error_csv=errors,
                )  # fmt: skip
            messages.append(str(info.value))
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                _LOGIN_CHILD,
                emu.catalogue_url,
                emu.token_url,
                P3,
                ids[P3],
                str(tmp_path / f"{P3}.zip"),
                str(errors),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ.copy(),
        )
        messages.append(child.stdout)
        assert (emu.stats.login_failures, emu.stats.password_grants) == (1, 0)
        marker = next(
            (tmp_path / "xdg-cache" / "benpipe" / "cdse-tokens").glob(
                "*.login-refused.json"
            )
        )
        assert "wrong-secret-123" not in marker.read_text()
        assert marker.stat().st_mode & 0o777 == 0o600
        # corrected credentials log in again, and the record is gone
        monkeypatch.setenv("CDSE_PASSWORD", "demo-password")
        fetch_l1c(P1, ids[P1], tmp_path / f"{P1}.zip", settings=settings)
        assert emu.stats.password_grants == 1
    assert not marker.exists()
    for message in messages:
        assert "account 'demo'" in message, message
        assert "CDSE_USERNAME/CDSE_PASSWORD" in message, message
        assert "wrong-secret-123" not in message
    assert "refused at" in messages[0] and "HTTP 401" in messages[0]
    assert all("already refused" in m for m in messages[1:])
    with errors.open(newline="") as handle:
        rows = {row["product"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == sorted(NAMES)
    assert all(r["error"].startswith("AuthenticationError:") for r in rows.values())


_FULL_DISK_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from benpipe.cdse.download import CdseSettings, fetch_l1c
    url, token_url, netrc, name, pid, dest, errors = sys.argv[1:]
    errors_size = 64 << 10
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (errors_size, errors_size))
    settings = CdseSettings(url, url, token_url, netrc=Path(netrc), timeout_s=10)
    try:
        fetch_l1c(name, pid, Path(dest), settings=settings, error_csv=Path(errors))
    except Exception as exc:
        print(type(exc).__name__, exc)
    """
)


def test_local_write_failure_is_recorded_in_the_error_csv(
    world, tmp_path: Path
) -> None:
    """A disk that fills up (here: a file size limit) is a recorded, named failure."""
    root, ids = world
    errors = tmp_path / "download_errors.csv"
    with EmulatorServer(root) as emu:
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                _FULL_DISK_CHILD,
                emu.catalogue_url,
                emu.token_url,
                str(root / "cdse.netrc"),
                P1,
                ids[P1],
                str(tmp_path / f"{P1}.zip"),
                str(errors),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ.copy(),
        )
    assert child.stdout.startswith("DownloadError"), child.stdout + child.stderr
    assert "free space" in child.stdout and str(tmp_path) in child.stdout
    with errors.open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["product"] == P1 and row["error"].startswith("DownloadError:")
    assert "File too large" in row["error"]
    assert not (tmp_path / f"{P1}.zip").exists()


def test_rotated_refresh_tokens_are_kept_and_a_stale_one_falls_back_to_login(
    world, tmp_path: Path
) -> None:
    root, _ = world
    cache = tmp_path / "tok.json"
    with EmulatorServer(root, token_lifetime_s=20) as emu:
        tm = TokenManager(
            emu.token_url, netrc_path=root / "cdse.netrc", cache_path=cache
        )
        tm.get_token()
        stale = cache.read_text()
        tm.get_token()  # 20 s tokens are inside the 30 s margin: refresh each time
        tm.get_token()
        assert (emu.stats.password_grants, emu.stats.refresh_grants) == (1, 2)
        assert emu.stats.refresh_failures == 0  # each refresh used the newest token
        # another process still holding the first refresh token (a separate cache)
        other_cache = tmp_path / "other.json"
        other_cache.write_text(stale)
        other = TokenManager(
            emu.token_url, netrc_path=root / "cdse.netrc", cache_path=other_cache
        )
        assert other.get_token()
        assert emu.stats.refresh_failures == 1  # CDSE refused the reused token
        assert (emu.stats.password_grants, other.password_grants) == (2, 1)


def test_quota_429s_are_retried_until_every_download_is_done(
    world, tmp_path: Path
) -> None:
    root, ids = world
    with EmulatorServer(root, faults="concurrent:1,slow:5,retry-after:0") as emu:
        results = download_many(
            [(n, ids[n]) for n in NAMES],
            tmp_path,
            settings=_settings(emu, root, max_attempts=40),
            workers=3,
        )
        assert emu.stats.quota_rejections > 0
    assert all(not isinstance(r, Exception) for r in results), results
    for name in NAMES:
        assert (tmp_path / f"{name}.zip").read_bytes() == _served(root, name)


def test_search_sends_the_documented_filter_and_follows_next_links(world) -> None:
    root, ids = world
    with EmulatorServer(root) as emu:
        entry = search_product(f"{P2}.SAFE", catalogue_url=emu.catalogue_url)
        assert emu.stats.filters == [
            f"Collection/Name eq 'SENTINEL-2' and Name eq '{P2}.SAFE'"
        ]
        everything = list(
            query_products(
                "Collection/Name eq 'SENTINEL-2'",
                catalogue_url=emu.catalogue_url,
                top=1,
            )
        )
        assert emu.stats.catalogue_queries == 1 + 3
    assert entry.id == ids[P2]
    assert sorted(item["Name"] for item in everything) == sorted(
        f"{n}.SAFE" for n in NAMES
    )
