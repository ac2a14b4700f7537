"""The dashboard token: from the URL once, then a cookie; or a Bearer header; constant-time."""

from __future__ import annotations

from rain.core.protocol.auth import new_key
from rain.core.server.http_auth import COOKIE_NAME, HttpAuth, http_token

KEY = new_key()
AUTH = HttpAuth.for_key(KEY)
TOKEN = http_token(KEY)


def test_token_is_derived_from_the_key_but_is_not_the_key():
    assert http_token(KEY) == TOKEN and len(TOKEN) == 64
    assert KEY.hex() != TOKEN
    assert http_token(new_key()) != TOKEN


def test_token_in_the_url_sets_a_strict_http_only_cookie():
    decision = AUTH.check({"token": TOKEN}, [])
    assert decision.allowed
    [(name, value)] = decision.headers
    assert name == "Set-Cookie"
    assert value == f"{COOKIE_NAME}={TOKEN}; Path=/; HttpOnly; SameSite=Strict"
    assert "Secure" in HttpAuth.for_key(KEY, secure_cookie=True).check({"token": TOKEN}, []).headers[0][1]


def test_cookie_or_bearer_header_is_enough():
    assert AUTH.check({}, [("Cookie", f"other=1; {COOKIE_NAME}={TOKEN}")]).allowed
    assert AUTH.check({}, [("authorization", f"Bearer {TOKEN}")]).allowed
    assert AUTH.check({}, [("Authorization", f"bearer  {TOKEN} ")]).allowed


def test_missing_or_wrong_token_is_refused():
    assert not AUTH.check({}, []).allowed
    assert "open the dashboard URL" in AUTH.check({}, []).reason
    wrong = AUTH.check({"token": "0" * 64}, [("Cookie", f"{COOKIE_NAME}={TOKEN}")])
    assert not wrong.allowed and wrong.reason == "authentication failed: wrong token in the URL"
    assert not AUTH.check({}, [("Cookie", f"{COOKIE_NAME}={TOKEN[:-1]}")]).allowed
    assert not AUTH.check({}, [("Authorization", f"Basic {TOKEN}")]).allowed
    assert not AUTH.check({}, [("Cookie", f"x{COOKIE_NAME}={TOKEN}")]).allowed
    assert not AUTH.check({"token": "\udcff"}, []).allowed  # undecodable input does not raise


def test_insecure_server_lets_everyone_in():
    assert HttpAuth.for_key(None).check({}, []).allowed
