"""HOST:PORT parsing shared by the CLI, the client and the wire."""

from __future__ import annotations

import pytest

from rain.common.addresses import AddressError, join_address, parse_port, split_address


@pytest.mark.parametrize("text,expected", [
    ("localhost:7210", ("localhost", 7210)),
    ("10.0.0.1:0", ("10.0.0.1", 0)),
    ("[::1]:7210", ("::1", 7210)),
    ("[fe80::1%eth0]:80", ("fe80::1%eth0", 80)),
    (":7210", ("", 7210)),
    (" host:1 ", ("host", 1)),
])
def test_split_host_and_port(text, expected):
    assert split_address(text) == expected
    assert split_address(text, default_port=9) == expected


@pytest.mark.parametrize("text,expected", [
    ("localhost", ("localhost", 9)),
    ("[::1]", ("::1", 9)),
    ("::1", ("::1", 9)),  # several colons and no brackets: an IPv6 host alone
    ("2001:db8::2", ("2001:db8::2", 9)),
])
def test_missing_port_takes_the_default(text, expected):
    assert split_address(text, default_port=9) == expected


@pytest.mark.parametrize("text", ["localhost", "[::1]", "::1"])
def test_missing_port_without_a_default_is_an_error(text):
    with pytest.raises(AddressError, match="no port"):
        split_address(text)


@pytest.mark.parametrize("text,match", [
    ("host:", "invalid port ''"),
    ("host:http", "invalid port 'http'"),
    ("host:-1", "invalid port '-1'"),
    ("host:65536", "invalid port 65536"),
    ("host:٣", "invalid port"),  # a digit, but not an ASCII one
    ("[::1]:x", "invalid port 'x'"),
    ("[::1", "expected \\[IPV6\\]:PORT"),
    ("[::1]80", "expected \\[IPV6\\]:PORT"),
])
def test_bad_ports_and_brackets_are_named(text, match):
    with pytest.raises(AddressError, match=match):
        split_address(text, default_port=9)


def test_port_range():
    assert parse_port("0") == 0 and parse_port("65535") == 65535
    with pytest.raises(AddressError):
        parse_port("")


@pytest.mark.parametrize("host,port", [("localhost", 1), ("::1", 7210), ("10.1.2.3", 0), ("", 5)])
def test_join_reads_back(host, port):
    assert split_address(join_address(host, port)) == (host, port)
