"""The emulator's fault injection spec: grammar, parser and help text."""

from __future__ import annotations

from dataclasses import dataclass, field

from benpipe.errors import ConfigError

FAULT_HELP = """\
Fault spec: comma-separated tokens, applied deterministically.
Download requests (GET of a product or file $value on the serving endpoint)
are numbered 1, 2, 3... globally; HEAD requests and redirect hops are not.

  429@N            answer request N with 429 and Retry-After (see retry-after)
  500@N 502@N 503@N 504@N   answer request N with that status
  cut@N            send half of the body of request N, then close the socket
  expire-token@N   expire every access token before request N (-> 401)
  bad-md5:NAME[*K] flip one byte in the first K full servings of product NAME
                   (default K=1; NAME with or without .SAFE): the served bytes
                   then match neither the catalogue MD5 nor its BLAKE3, so
                   verification fails whichever algorithm the client uses
  bad-checksum:NAME[*K]  the same as bad-md5:NAME[*K]
  offline:NAME     NAME is Online=false in the catalogue; download answers 422
  slow:MS          sleep MS milliseconds per 64 KiB sent (all downloads)
  concurrent:N     at most N downloads of one user at a time, as CDSE's quota
                   (4 for general users): one more answers 429
  redirect         /odata/v1/Products(ID)/$value answers 301 to
                   /zipper/odata/v1/... on the other loopback alias
                   (127.0.0.1 <-> localhost), like CDSE's catalogue -> zipper
                   hop (on the CDSE host names that hop is always made)
  retry-after:S    Retry-After seconds sent with 429 (default 1)

Example: 429@2,503@3,cut@4,expire-token@1,bad-md5:S2A_MSIL1C_...,redirect
"""

_STATUS_FAULTS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class FaultSpec:
    """Parsed fault injection spec (see :data:`FAULT_HELP`)."""

    status_at: dict[int, int] = field(default_factory=dict)
    cut_at: frozenset[int] = frozenset()
    expire_token_at: frozenset[int] = frozenset()
    bad_md5: dict[str, int] = field(default_factory=dict)
    offline: frozenset[str] = frozenset()
    slow_ms: int = 0
    max_concurrent: int = 0  # 0: no limit
    redirect: bool = False
    retry_after_s: int = 1


@dataclass
class _Builder:
    status_at: dict[int, int] = field(default_factory=dict)
    cut_at: set[int] = field(default_factory=set)
    expire_token_at: set[int] = field(default_factory=set)
    bad_md5: dict[str, int] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    slow_ms: int = 0
    max_concurrent: int = 0
    redirect: bool = False
    retry_after_s: int = 1

    def numbered(self, kind: str, n: int) -> None:
        if n < 1:
            raise ValueError("request numbers start at 1")
        if kind == "cut":
            self.cut_at.add(n)
        elif kind == "expire-token":
            self.expire_token_at.add(n)
        elif kind.isdigit() and int(kind) in _STATUS_FAULTS:
            self.status_at[n] = int(kind)
        else:
            raise ValueError(f"unknown fault {kind!r}")

    def named(self, token: str) -> None:
        key, _, value = token.partition(":")
        if key in ("bad-md5", "bad-checksum") and value:
            name, _, count = value.partition("*")
            self.bad_md5[name.removesuffix(".SAFE")] = int(count) if count else 1
        elif key == "offline" and value:
            self.offline.add(value.removesuffix(".SAFE"))
        elif key == "slow":
            self.slow_ms = int(value)
        elif key == "concurrent":
            if int(value) < 1:
                raise ValueError("the limit must be at least 1")
            self.max_concurrent = int(value)
        elif key == "retry-after":
            self.retry_after_s = int(value)
        elif token == "redirect":
            self.redirect = True
        else:
            raise ValueError("unknown token")

    def freeze(self) -> FaultSpec:
        return FaultSpec(
            status_at=dict(self.status_at),
            cut_at=frozenset(self.cut_at),
            expire_token_at=frozenset(self.expire_token_at),
            bad_md5=dict(self.bad_md5),
            offline=frozenset(self.offline),
            slow_ms=self.slow_ms,
            max_concurrent=self.max_concurrent,
            redirect=self.redirect,
            retry_after_s=self.retry_after_s,
        )


def parse_faults(text: str | None) -> FaultSpec:
    """Parse a fault spec string; raise :class:`ConfigError` naming a bad token."""
    spec = _Builder()
    for raw in (text or "").split(","):
        token = raw.strip()
        if not token:
            continue
        try:
            if "@" in token:
                kind, number = token.split("@", 1)
                spec.numbered(kind, int(number))
            else:
                spec.named(token)
        except ValueError as exc:
            raise ConfigError(
                f"fault spec token {token!r} is invalid ({exc}); see "
                "`benpipe cdse-emulator --help` for the grammar"
            ) from exc
    return spec.freeze()
