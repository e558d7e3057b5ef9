"""CDSE authentication: credentials lookup and a process-safe token cache.

Credentials come, in this order, from the environment (``CDSE_USERNAME`` and
``CDSE_PASSWORD``), from the netrc file named in the config (``cdse.netrc``),
or from ``~/.netrc``; the netrc machine is the token host.  They are read at
the call site, never passed as Snakemake params, never logged.

One Keycloak password grant per run: the tokens are kept in a cache file
(mode 0600) under ``$XDG_CACHE_HOME/benpipe/cdse-tokens/`` (default
``~/.cache``), keyed by token URL and user, and guarded with ``fcntl.flock``
so concurrent downloads in threads *and* processes share one session.  An
access token near expiry is refreshed with the refresh token (CDSE rotates
it: the new one replaces the old in the cache under the lock, so no two
processes ever refresh with the same token); a new password grant happens
only when the refresh token is expired or refused.

One refused login stops every later login with the same credentials: the
refusal is recorded next to the token cache (``<key>.login-refused.json``,
with a salted hash of the password, never the password), and every job of
the run (Snakemake retries included) then fails at once naming the account
and where its credentials come from, instead of trying again and risking
a lock-out of the account.  Changing the credentials, or deleting that file,
allows a new attempt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import netrc
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from benpipe.cdse.retry import (
    RetryPolicy,
    TransientError,
    call_with_retries,
    is_transient,
)
from benpipe.cdse.session import new_session
from benpipe.errors import AuthenticationError
from benpipe.fileio import atomic_write_text

logger = logging.getLogger(__name__)

ENV_USERNAME = "CDSE_USERNAME"
ENV_PASSWORD = "CDSE_PASSWORD"

#: Refresh an access token this many seconds before it expires.
EXPIRY_MARGIN_S = 30.0

_THREAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Credentials:
    """A CDSE user name and password; the password never shows in ``repr``.

    ``source`` is ``"environment"`` or the netrc file they were read from.
    """

    username: str
    password: str = field(repr=False)
    source: str = "environment"

    def where(self) -> str:
        """Where the credentials come from, for error messages."""
        if self.source == "environment":
            return f"the environment variables {ENV_USERNAME}/{ENV_PASSWORD}"
        return f"the netrc file {self.source}"

    def fingerprint(self, token_url: str) -> str:
        """A salted, slow hash of the password (to recognise it, never to recover it)."""
        salt = f"benpipe-cdse\n{token_url}\n{self.username}".encode()
        return hashlib.pbkdf2_hmac(
            "sha256", self.password.encode(), salt, 100_000
        ).hex()


def find_credentials(token_url: str, netrc_path: Path | None = None) -> Credentials:
    """Look up credentials: environment, then ``netrc_path``, then ``~/.netrc``.

    Raises :class:`AuthenticationError` saying where it looked.
    """
    user = os.environ.get(ENV_USERNAME)
    password = os.environ.get(ENV_PASSWORD)
    if user and password:
        return Credentials(user, password, "environment")
    host = urlparse(token_url).hostname or ""
    candidates: list[Path] = []
    if netrc_path is not None:
        if not Path(netrc_path).is_file():
            raise AuthenticationError(
                f"netrc file {netrc_path} (config key cdse.netrc) does not exist; "
                f"create it with 'machine {host} login <user> password <password>' "
                f"or set {ENV_USERNAME} and {ENV_PASSWORD}"
            )
        candidates.append(Path(netrc_path))
    candidates.append(Path.home() / ".netrc")
    for path in candidates:
        if not path.is_file():
            continue
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as exc:
            raise AuthenticationError(
                f"cannot parse netrc file {path}: {exc.__class__.__name__}; fix "
                f"its syntax (machine {host} login <user> password <password>)"
            ) from None
        if entry and entry[0] and entry[2]:
            return Credentials(entry[0], entry[2], str(path))
    raise AuthenticationError(
        f"no CDSE credentials: set {ENV_USERNAME} and {ENV_PASSWORD}, or add "
        f"'machine {host} login <user> password <password>' to "
        f"{' or '.join(str(p) for p in candidates)}. Register for free at "
        "https://dataspace.copernicus.eu (an account without 2FA)"
    )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/benpipe/cdse-tokens`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "benpipe" / "cdse-tokens"


@dataclass
class _TokenState:
    access_token: str = ""
    access_expires_at: float = 0.0
    refresh_token: str = ""
    refresh_expires_at: float = 0.0

    def access_valid(self, now: float) -> bool:
        return (
            bool(self.access_token) and now < self.access_expires_at - EXPIRY_MARGIN_S
        )

    def refresh_valid(self, now: float) -> bool:
        return bool(self.refresh_token) and now < self.refresh_expires_at - 5.0


class _Refused(AuthenticationError):
    """The identity service refused a grant (4xx other than 429)."""

    def __init__(self, message: str, *, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class TokenManager:
    """Hands out CDSE access tokens, shared across threads and processes.

    ``credentials`` is looked up lazily (only when a password grant is
    needed).  ``cache_path`` defaults to a file under :func:`default_cache_dir`
    keyed by token URL and user name.  Counters ``password_grants`` and
    ``refresh_grants`` count the grants *this* manager made.  Token requests
    that meet a 429, a 5xx or a network error are retried with ``policy``.
    """

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str = "cdse-public",
        netrc_path: Path | None = None,
        credentials: Credentials | None = None,
        cache_path: Path | None = None,
        session: requests.Session | None = None,
        timeout_s: float = 60.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._netrc_path = netrc_path
        self._credentials = credentials
        self._cache_path = cache_path
        self._session = session or new_session()
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy(timeout_s=timeout_s)
        self.password_grants = 0
        self.refresh_grants = 0

    # -- credentials and cache location
    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = find_credentials(self.token_url, self._netrc_path)
        return self._credentials

    @property
    def cache_path(self) -> Path:
        if self._cache_path is None:
            key = hashlib.sha256(
                f"{self.token_url}\n{self.credentials.username}".encode()
            ).hexdigest()[:20]
            self._cache_path = default_cache_dir() / f"{key}.json"
        return self._cache_path

    @property
    def refusal_path(self) -> Path:
        """Where a refused login is recorded (next to the token cache)."""
        return self.cache_path.with_suffix(".login-refused.json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        path = self.cache_path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _THREAD_LOCK:
            fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _load(self) -> _TokenState:
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
            return _TokenState(
                access_token=str(data.get("access_token", "")),
                access_expires_at=float(data.get("access_expires_at", 0)),
                refresh_token=str(data.get("refresh_token", "")),
                refresh_expires_at=float(data.get("refresh_expires_at", 0)),
            )
        except (OSError, ValueError, TypeError):
            return _TokenState()

    def _save(self, state: _TokenState) -> None:
        atomic_write_text(self.cache_path, json.dumps(state.__dict__), mode=0o600)

    # -- grants
    def _post(self, data: dict[str, str]) -> requests.Response:
        try:
            resp = self._session.post(self.token_url, data=data, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise TransientError(exc.__class__.__name__) from exc
        if is_transient(resp.status_code):
            raise TransientError.from_response(resp)
        return resp

    def _grant(self, data: dict[str, str], what: str) -> _TokenState:
        started = time.time()
        resp = call_with_retries(
            lambda: self._post(data),
            policy=self.policy,
            what=f"{what} at {self.token_url}",
            advice="the CDSE identity service may be down, try again later",
            exhausted=AuthenticationError,
        )
        if resp.status_code != 200:
            detail = _error_detail(resp)
            raise _Refused(
                f"{what} at {self.token_url} refused (HTTP {resp.status_code}: {detail})",
                status=resp.status_code,
                detail=detail,
            )
        try:
            body: dict[str, Any] = resp.json()
            return _TokenState(
                access_token=str(body["access_token"]),
                access_expires_at=started + float(body.get("expires_in", 600)),
                refresh_token=str(body.get("refresh_token", "")),
                refresh_expires_at=started + float(body.get("refresh_expires_in", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthenticationError(
                f"{what} at {self.token_url} gave an unexpected answer "
                f"(no access_token); check cdse.token_url"
            ) from exc

    def _check_not_refused(self, creds: Credentials) -> None:
        """Raise if these credentials were already refused (see the module docstring)."""
        try:
            record = json.loads(self.refusal_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if record.get("fingerprint") != creds.fingerprint(self.token_url):
            return
        raise AuthenticationError(
            f"CDSE login for account {creds.username!r} (credentials from "
            f"{creds.where()}) was already refused at {self.token_url} "
            f"({record.get('refusal', 'refused')}); benpipe does not send the same "
            "credentials again, so that the account is not locked. Fix them in "
            f"{creds.where()} and rerun (to try the same ones again, delete "
            f"{self.refusal_path})"
        )

    def _password_grant(self) -> _TokenState:
        creds = self.credentials
        self._check_not_refused(creds)
        logger.info("CDSE login (password grant) as %s", creds.username)
        data = {
            "grant_type": "password",
            "username": creds.username,
            "password": creds.password,
            "client_id": self.client_id,
        }
        try:
            state = self._grant(data, "password grant")
        except _Refused as exc:
            refusal = f"HTTP {exc.status}: {exc.detail}"
            record = {
                "fingerprint": creds.fingerprint(self.token_url),
                "refusal": refusal,
            }
            atomic_write_text(self.refusal_path, json.dumps(record), mode=0o600)
            raise AuthenticationError(
                f"CDSE login for account {creds.username!r} (credentials from "
                f"{creds.where()}) refused at {self.token_url} ({refusal}); check "
                "the user name and password (an account with 2FA cannot use the "
                "password grant). Later logins of this run with the same "
                f"credentials are skipped (recorded in {self.refusal_path})"
            ) from None
        self.refusal_path.unlink(missing_ok=True)
        self.password_grants += 1
        return state

    def _refresh_grant(self, refresh_token: str) -> _TokenState:
        logger.info("refreshing the CDSE access token")
        state = self._grant(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.client_id,
            },
            "token refresh",
        )
        self.refresh_grants += 1
        if not state.refresh_token:
            state.refresh_token = refresh_token
        return state

    def _renew(self, state: _TokenState, *, force_login: bool) -> _TokenState:
        now = time.time()
        if not force_login and state.refresh_valid(now):
            try:
                new = self._refresh_grant(state.refresh_token)
            except _Refused as exc:
                logger.info("token refresh refused (%s); logging in again", exc.detail)
                new = self._password_grant()
        else:
            new = self._password_grant()
        self._save(new)
        return new

    def get_token(self) -> str:
        """A valid access token (from the cache, refreshed, or a new login)."""
        with self._locked():
            state = self._load()
            if state.access_valid(time.time()):
                return state.access_token
            return self._renew(state, force_login=False).access_token

    def renew(self, rejected_token: str, *, force_login: bool = False) -> str:
        """A new access token after the server rejected ``rejected_token`` (401).

        If another thread or process already replaced the rejected token, that
        newer token is returned without a grant.  Otherwise refresh (or, with
        ``force_login``, a password grant).
        """
        with self._locked():
            state = self._load()
            if (
                state.access_token
                and state.access_token != rejected_token
                and state.access_valid(time.time())
            ):
                return state.access_token
            return self._renew(state, force_login=force_login).access_token


def _error_detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or "no detail"
    if isinstance(body, dict):
        for key in ("error_description", "error", "detail", "message"):
            if key in body:
                return str(body[key])[:200]
    return resp.reason or "no detail"
