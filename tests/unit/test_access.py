"""Access files: created once with private modes, reused, found by the same rule everywhere."""

from __future__ import annotations

import json
import os
import stat

import pytest

from rain.core.access import (
    AccessError,
    default_path,
    find_credentials,
    load,
    prepare_server_access,
    resolve_path,
)
from rain.core.protocol.tls import fingerprint_of_file


def mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_start_creates_a_private_key_file_and_later_starts_reuse_it():
    path = default_path(7210)
    assert path == os.path.join(os.environ["HOME"], ".rain", "access-7210.json")
    first = prepare_server_access(path)
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700
    assert len(first.key) == 32 and first.tls is None
    assert prepare_server_access(path).key == first.key
    assert load(path) == first
    assert prepare_server_access(path, fresh_key=True).key != first.key


def test_lookup_order_explicit_then_environment_then_default(tmp_path, monkeypatch):
    assert resolve_path(None, 7300) == (default_path(7300), False)
    monkeypatch.setenv("RAIN_ACCESS_FILE", str(tmp_path / "env.json"))
    assert resolve_path(None, 7300) == (str(tmp_path / "env.json"), True)
    assert resolve_path(str(tmp_path / "arg.json"), 7300) == (str(tmp_path / "arg.json"), True)


def test_client_without_any_file_gets_no_key_and_a_hint():
    credentials = find_credentials(None, 7400)
    assert credentials.key is None and default_path(7400) in credentials.origin
    with pytest.raises(AccessError, match="does not exist"):
        find_credentials("/nonexistent/access.json", 7400)
    assert find_credentials(False, 7400).key is None


def test_a_file_readable_by_others_is_refused(tmp_path):
    path = str(tmp_path / "a.json")
    prepare_server_access(path)
    os.chmod(path, 0o644)
    with pytest.raises(AccessError, match=r"accessible by other users \(mode 0644\); run: chmod 600"):
        load(path)


@pytest.mark.parametrize("content", ["not json", json.dumps({"version": 1, "key": "abcd"}),
                                     json.dumps({"version": 9, "key": "00" * 32}), json.dumps([1])])
def test_malformed_files_are_refused_clearly(tmp_path, content):
    path = tmp_path / "a.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(AccessError, match="access file .* is (malformed|not valid JSON)"):
        load(str(path))


def test_tls_pair_is_generated_next_to_the_file_and_reused(tmp_path):
    path = str(tmp_path / "cluster.json")
    access = prepare_server_access(path, tls=True)
    assert access.tls is not None
    assert access.tls.cert_file == str(tmp_path / "cluster.crt")
    assert mode(access.tls.key_file) == 0o600
    assert access.tls.fingerprint == fingerprint_of_file(access.tls.cert_file)
    assert prepare_server_access(path, tls=True).tls == access.tls
    assert find_credentials(path, 1).fingerprint == access.tls.fingerprint
    assert prepare_server_access(path).tls is None  # a plain start: clients must not try TLS
    assert load(path).tls is None


def test_given_certificate_files_are_recorded(tmp_path):
    generated = prepare_server_access(str(tmp_path / "g.json"), tls=True).tls
    assert generated is not None
    access = prepare_server_access(str(tmp_path / "a.json"), cert_file=generated.cert_file,
                                   key_file=generated.key_file)
    assert access.tls == generated
    with pytest.raises(AccessError, match="go together"):
        prepare_server_access(str(tmp_path / "b.json"), cert_file=generated.cert_file)
