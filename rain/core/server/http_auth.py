"""Who may use the monitoring HTTP port: the holder of the dashboard token.

Like Jupyter, `rain server` prints a URL with `?token=...`; the first request with the token
gets an HttpOnly, SameSite=Strict cookie, so the dashboard's own requests carry it without
putting it in scripts. Scripts may send `Authorization: Bearer TOKEN` instead. The token is
derived from the cluster key (an HMAC of a fixed label), so the key itself never travels over
HTTP and rotating the key rotates the token. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

import attrs

COOKIE_NAME = "rain_token"
TOKEN_LABEL = b"rain-http-token-1"


def http_token(key: bytes) -> str:
    return hmac.new(key, TOKEN_LABEL, hashlib.sha256).hexdigest()


@attrs.frozen
class HttpDecision:
    allowed: bool
    headers: tuple[tuple[str, str], ...] = ()  # to add to the response (the cookie)
    reason: str = ""


UNAUTHORIZED = ("authentication required: open the dashboard URL printed by `rain server` (it ends with "
                "?token=...), or send 'Authorization: Bearer TOKEN'")


@attrs.frozen
class HttpAuth:
    """`token` None: no authentication (a server started with --insecure)."""

    token: str | None = None
    secure_cookie: bool = False  # over HTTPS the cookie is marked Secure

    @classmethod
    def for_key(cls, key: bytes | None, secure_cookie: bool = False) -> HttpAuth:
        return cls(http_token(key) if key is not None else None, secure_cookie)

    def check(self, query: Mapping[str, str], headers: Iterable[tuple[str, str]]) -> HttpDecision:
        """`query`: the parsed query string; header names in any case."""
        if self.token is None:
            return HttpDecision(True)
        from_url = query.get("token")
        if from_url is not None:
            if self._matches(from_url):
                return HttpDecision(True, (("Set-Cookie", self._cookie()),))
            return HttpDecision(False, reason="authentication failed: wrong token in the URL")
        for name, value in headers:
            lowered = name.lower()
            if lowered == "authorization":
                scheme, _, credential = value.strip().partition(" ")
                if scheme.lower() == "bearer" and self._matches(credential.strip()):
                    return HttpDecision(True)
            elif lowered == "cookie":
                for part in value.split(";"):
                    cookie, _, cookie_value = part.strip().partition("=")
                    if cookie == COOKIE_NAME and self._matches(cookie_value):
                        return HttpDecision(True)
        return HttpDecision(False, reason=UNAUTHORIZED)

    def _matches(self, candidate: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), self.token.encode())

    def _cookie(self) -> str:
        secure = "; Secure" if self.secure_cookie else ""
        return f"{COOKIE_NAME}={self.token}; Path=/; HttpOnly; SameSite=Strict{secure}"
