"""CDSE's Keycloak realm as clients meet it: discovery, JWKS, token grants.

``/auth/realms/CDSE``:

* ``/.well-known/openid-configuration``: the discovery document (issuer and
  endpoints on the host that was asked, CDSE's algorithm and scope lists);
* ``/protocol/openid-connect/certs``: the JWKS with the realm's RSA key;
* ``/protocol/openid-connect/token`` (form-encoded POST): the ``password``
  and ``refresh_token`` grants of the public client ``cdse-public``.

Access tokens are RS256 JWTs (``exp``, ``iat``, ``jti``, ``iss``, ``aud``,
``sub``, ``typ``, ``azp``, ``sid``, ``scope``, ``preferred_username``,
``email``) that clients can check against the JWKS.  Refresh tokens are HS512
JWTs of their session and rotate: each refresh returns a new one, and a used
one is refused (``400 invalid_grant``, "Maximum allowed refresh token reuse
exceeded"), which reproduces the race of two processes refreshing at once.
Errors are Keycloak's: ``401 invalid_client`` for an unknown client (also
when a netrc-derived ``Authorization: Basic`` header names one), ``401
invalid_grant`` "Invalid user credentials", ``400 invalid_grant`` "Token is
not active" for an expired refresh token, ``400 invalid_request`` for a
missing parameter, ``400 unsupported_grant_type``.

The RSA key and the refresh-token secret are made at start-up, kept in memory
only and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REALM_PATH = "/auth/realms/CDSE"
TOKEN_PATH = f"{REALM_PATH}/protocol/openid-connect/token"
CERTS_PATH = f"{REALM_PATH}/protocol/openid-connect/certs"
DISCOVERY_PATH = f"{REALM_PATH}/.well-known/openid-configuration"
PUBLIC_CLIENT = "cdse-public"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the documented demo credential)
AUDIENCE = ["CLOUDFERRO_PUBLIC", "account"]
SCOPE = "AUDIENCE_PUBLIC openid email profile ondemand_processing user-context"
#: What CDSE's discovery document lists (clients pass it to ``jwt.decode``).
SIGNING_ALGORITHMS = [
    "PS384", "ES384", "RS384", "HS256", "HS512", "ES256",
    "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
]  # fmt: skip
_INVALID_CLIENT = "Invalid client or Invalid client credentials"


@dataclass(frozen=True, slots=True)
class GrantAnswer:
    """What the token endpoint answers, and what kind of grant it was."""

    status: int
    body: dict[str, Any]
    grant: str  # password | refresh_token | other
    username: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def _error(
    status: int, error: str, description: str, grant: str, user: str | None = None
) -> GrantAnswer:
    return GrantAnswer(
        status, {"error": error, "error_description": description}, grant, user
    )


@dataclass
class _Session:
    username: str
    client_id: str
    refresh_jti: str


@dataclass
class Realm:
    """The emulated realm: its users, client, keys and sessions (not thread-safe)."""

    access_lifetime_s: float = 600.0
    refresh_lifetime_s: float = 3600.0
    users: Mapping[str, str] = field(
        default_factory=lambda: {DEMO_USERNAME: DEMO_PASSWORD}
    )
    clients: frozenset[str] = frozenset({PUBLIC_CLIENT})
    clock: Callable[[], float] = time.time
    issued_tokens: list[str] = field(default_factory=list)
    """Every token handed out (tests grep outputs for them)."""

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(
            hashlib.sha256(public_der).digest()
        ).decode()[:43]
        self._refresh_secret = secrets.token_bytes(64)
        self._sessions: dict[str, _Session] = {}
        self._active_access: dict[str, float] = {}

    # -- documents
    def discovery(self, base: str) -> dict[str, Any]:
        issuer = f"{base}{REALM_PATH}"
        endpoint = f"{issuer}/protocol/openid-connect"
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{endpoint}/auth",
            "token_endpoint": f"{endpoint}/token",
            "introspection_endpoint": f"{endpoint}/token/introspect",
            "userinfo_endpoint": f"{endpoint}/userinfo",
            "end_session_endpoint": f"{endpoint}/logout",
            "jwks_uri": f"{endpoint}/certs",
            "revocation_endpoint": f"{endpoint}/revoke",
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "password",
                "client_credentials",
            ],
            "response_types_supported": ["code", "none", "id_token", "token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": SIGNING_ALGORITHMS,
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "claims_supported": [
                "aud",
                "sub",
                "iss",
                "auth_time",
                "name",
                "preferred_username",
                "email",
            ],
            "scopes_supported": SCOPE.split() + ["offline_access", "roles"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self._key.public_key(), as_dict=True
        )
        return {"keys": [{"kid": self.kid, "alg": "RS256", "use": "sig", **jwk}]}

    # -- tokens
    def _tokens(self, base: str, session_id: str, session: _Session) -> dict[str, Any]:
        now = int(self.clock())
        issuer = f"{base}{REALM_PATH}"
        subject = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"benpipe-emulator-user:{session.username}")
        )
        access_jti, refresh_jti = str(uuid.uuid4()), str(uuid.uuid4())
        access_exp = now + int(self.access_lifetime_s)
        access = jwt.encode(
            {
                "exp": access_exp,
                "iat": now,
                "jti": access_jti,
                "iss": issuer,
                "aud": AUDIENCE,
                "sub": subject,
                "typ": "Bearer",
                "azp": session.client_id,
                "sid": session_id,
                "session_state": session_id,
                "scope": SCOPE,
                "email_verified": True,
                "preferred_username": session.username,
                "email": f"{session.username}@example.org",
            },
            self._key,
            algorithm="RS256",
            headers={"kid": self.kid, "typ": "JWT"},
        )
        refresh = jwt.encode(
            {
                "exp": now + int(self.refresh_lifetime_s),
                "iat": now,
                "jti": refresh_jti,
                "iss": issuer,
                "aud": issuer,
                "sub": subject,
                "typ": "Refresh",
                "azp": session.client_id,
                "sid": session_id,
                "scope": SCOPE,
            },
            self._refresh_secret,
            algorithm="HS512",
            headers={"typ": "JWT"},
        )
        session.refresh_jti = refresh_jti
        self._active_access[access_jti] = access_exp
        self.issued_tokens += [access, refresh]
        return {
            "access_token": access,
            "expires_in": int(self.access_lifetime_s),
            "refresh_expires_in": int(self.refresh_lifetime_s),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": session_id,
            "scope": SCOPE,
        }

    def token(
        self, form: Mapping[str, str], *, base: str, basic_client: str | None = None
    ) -> GrantAnswer:
        """Answer one POST to the token endpoint (``form`` already decoded)."""
        grant = form.get("grant_type") or ""
        kind = grant if grant in ("password", "refresh_token") else "other"
        client = basic_client if basic_client is not None else form.get("client_id", "")
        if client not in self.clients:
            return _error(401, "invalid_client", _INVALID_CLIENT, kind)
        if not grant:
            return _error(
                400, "invalid_request", "Missing form parameter: grant_type", kind
            )
        if grant == "password":
            return self._password_grant(form, base, client)
        if grant == "refresh_token":
            return self._refresh_grant(form, base, client)
        return _error(400, "unsupported_grant_type", "Unsupported grant_type", kind)

    def _password_grant(
        self, form: Mapping[str, str], base: str, client: str
    ) -> GrantAnswer:
        username, password = form.get("username"), form.get("password")
        if not username:
            return _error(
                401, "invalid_request", "Missing parameter: username", "password"
            )
        if password is None or self.users.get(username) != password:
            return _error(
                401, "invalid_grant", "Invalid user credentials", "password", username
            )
        session_id = str(uuid.uuid4())
        session = _Session(username, client, "")
        self._sessions[session_id] = session
        return GrantAnswer(
            200, self._tokens(base, session_id, session), "password", username
        )

    def _refresh_grant(
        self, form: Mapping[str, str], base: str, client: str
    ) -> GrantAnswer:
        raw = form.get("refresh_token")
        if not raw:
            return _error(
                400,
                "invalid_request",
                "Missing parameter: refresh_token",
                "refresh_token",
            )
        try:
            claims = jwt.decode(
                raw,
                self._refresh_secret,
                algorithms=["HS512"],
                options={"verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            return _error(400, "invalid_grant", "Token is not active", "refresh_token")
        except jwt.InvalidTokenError:
            return _error(
                400, "invalid_grant", "Invalid refresh token", "refresh_token"
            )
        if claims.get("typ") != "Refresh":
            return _error(
                400, "invalid_grant", "Invalid refresh token", "refresh_token"
            )
        if claims.get("azp") != client:
            return _error(
                400,
                "invalid_grant",
                "Invalid refresh token. Token client and authorized client don't match",
                "refresh_token",
            )
        session_id = str(claims.get("sid"))
        session = self._sessions.get(session_id)
        if session is None:
            return _error(400, "invalid_grant", "Session not active", "refresh_token")
        if claims.get("jti") != session.refresh_jti:
            return _error(
                400,
                "invalid_grant",
                "Maximum allowed refresh token reuse exceeded",
                "refresh_token",
                session.username,
            )
        return GrantAnswer(
            200,
            self._tokens(base, session_id, session),
            "refresh_token",
            session.username,
        )

    def verify_access(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired, not revoked access token, else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return None
        if (
            claims.get("typ") != "Bearer"
            or claims.get("jti") not in self._active_access
        ):
            return None
        return claims

    def expire_access_tokens(self) -> None:
        """Revoke every access token handed out so far (refresh tokens stay valid)."""
        self._active_access.clear()
