"""Token checks: per-source webhook tokens and API tokens with a read or a write role.

Tokens are compared in constant time (``hmac.compare_digest`` against every configured
token, no early exit) and never logged. A group with no token configured is open; the
CLI refuses to listen beyond loopback in that case unless told ``--insecure``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from pydantic import SecretStr

from aggregator.config.service import AuthSettings
from aggregator.errors import AuthError
from aggregator.model import Source

SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    "x-pagerduty-signature", "x-auth-token",
})


class Role(enum.StrEnum):
    READ = "read"
    WRITE = "write"


def _matches(candidate: str, tokens: Sequence[bytes]) -> bool:
    given = candidate.encode()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _basic_password(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, _, password = decoded.partition(":")
    return password or None


def _encode(tokens: Sequence[SecretStr]) -> tuple[bytes, ...]:
    return tuple(token.get_secret_value().encode() for token in tokens)


@dataclass(frozen=True)
class Authenticator:
    webhook: dict[Source, tuple[bytes, ...]]
    read: tuple[bytes, ...]
    write: tuple[bytes, ...]

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> Authenticator:
        return cls(
            webhook={source: _encode(auth.tokens_for(source)) for source in Source},
            read=_encode(auth.api_read_tokens),
            write=_encode(auth.api_write_tokens),
        )

    def check_webhook(self, source: Source, request: web.Request) -> None:
        """Alertmanager: ``Authorization: Bearer``. Azure (no custom headers possible):
        ``?token=`` or basic auth in the URL (the password is the token); Bearer also works."""
        tokens = self.webhook[source]
        if not tokens:
            return
        candidates = [_bearer(request)]
        if source is Source.AZURE_MONITOR:
            candidates += [request.query.get("token"), _basic_password(request)]
        given = [c for c in candidates if c]
        if not given:
            hint = ("Authorization: Bearer <token>" if source is Source.ALERTMANAGER
                    else "?token=<token> or https://user:<token>@host/... in the webhook URL")
            raise AuthError(f"missing webhook token; send it as {hint}")
        if not any(_matches(candidate, tokens) for candidate in given):
            raise AuthError("webhook token not accepted")

    def check_api(self, request: web.Request, role: Role) -> None:
        if not self.read and not self.write:
            return
        given = _bearer(request)
        if given is None:
            raise AuthError("missing API token; send Authorization: Bearer <token>")
        if _matches(given, self.write):
            return
        if _matches(given, self.read):
            if role is Role.READ:
                return
            raise AuthError("this token can only read; a write token is needed", status=403)
        raise AuthError("API token not accepted")


def redacted_headers(request: web.Request) -> dict[str, str]:
    """Request headers safe to store: secrets replaced, names lower-cased."""
    return {
        name.lower(): "[redacted]" if name.lower() in SECRET_HEADERS else value
        for name, value in request.headers.items()
    }


def redacted_url(request: web.BaseRequest) -> str:
    query = {k: ("[redacted]" if k.lower() in ("token", "code", "key") else v)
             for k, v in request.query.items()}
    return str(request.rel_url.with_query(query)) if query else request.path
