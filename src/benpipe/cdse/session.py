"""HTTP sessions for CDSE that never send ``~/.netrc`` credentials.

``requests`` reads ``~/.netrc`` whenever a request carries no ``auth=``
(``Session.trust_env``): it then replaces our ``Authorization: Bearer`` header
with Basic auth for any host netrc lists (the demo's netrc lists the download
host; many users keep a ``default`` line), and it sends the user's password
as Basic auth to the token endpoint, which Keycloak reads as client
credentials (``401 invalid_client``).  It does the same again on every
redirect.  benpipe looks credentials up itself (:mod:`benpipe.cdse.auth`), so
its sessions switch ``trust_env`` off and take from the environment only what
``trust_env`` gave besides netrc: the proxy settings (``HTTP(S)_PROXY``,
``NO_PROXY``, which clusters rely on) and a CA bundle (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.utils import get_environ_proxies

if TYPE_CHECKING:
    from requests.sessions import _Settings


class CdseSession(requests.Session):
    """A :class:`requests.Session` with environment proxies and CA bundle, never netrc."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Mapping[str, str] | None,
        stream: bool | None,
        verify: Any,
        cert: Any,
    ) -> _Settings:
        """As ``requests`` does under ``trust_env``, minus netrc (see the module)."""
        merged: dict[str, str] = dict(proxies or {})
        target = url.decode() if isinstance(url, bytes) else (url or "")
        for scheme, proxy in get_environ_proxies(
            target, no_proxy=merged.get("no_proxy")
        ).items():
            merged.setdefault(scheme, proxy)
        if verify is True or verify is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get(
                "CURL_CA_BUNDLE"
            )
            verify = bundle or verify
        return super().merge_environment_settings(url, merged, stream, verify, cert)


def new_session(headers: Mapping[str, str] | None = None) -> CdseSession:
    """A fresh :class:`CdseSession` (optionally with default headers)."""
    session = CdseSession()
    session.headers.update(headers or {})
    return session
