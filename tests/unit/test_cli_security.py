"""Parsing of the security and limit options."""

from __future__ import annotations

import argparse

import pytest

from rain.cli.common import UserError
from rain.cli.security import endpoint_limits, is_loopback, parse_size


@pytest.mark.parametrize("text,size", [("65536", 65536), ("64K", 65536), ("512M", 512 << 20), ("1G", 1 << 30),
                                       ("2MiB", 2 << 20), ("3kb", 3072)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "-1", "0", "1T", "12.5M"])
def test_bad_sizes(text):
    with pytest.raises(UserError, match="invalid size"):
        parse_size(text)


def args(*max_frame: str, timeout: float = 10, handshakes: int = 64) -> argparse.Namespace:
    return argparse.Namespace(max_frame=list(max_frame), handshake_timeout=timeout, max_handshakes=handshakes)


def test_frame_limits_per_role():
    limits = endpoint_limits(args("client=1M"), ("client", "governor"), {"governor": 5})
    assert limits.frame_size("client") == 1 << 20 and limits.frame_size("governor") == 5
    with pytest.raises(UserError, match="ROLE one of client, governor"):
        endpoint_limits(args("executor=1M"), ("client", "governor"))
    with pytest.raises(UserError, match="handshake-timeout"):
        endpoint_limits(args(timeout=0), ("client",))
    with pytest.raises(UserError, match="max-handshakes"):
        endpoint_limits(args(handshakes=0), ("client",))


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
