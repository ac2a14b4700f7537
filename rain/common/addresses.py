"""`HOST:PORT` addresses, parsed and written in one place.

An IPv6 host is written in brackets (`[::1]:7210`); unbracketed, a string with several colons
is taken as an IPv6 host without a port. Every caller turns `AddressError` into its own kind
of error (a one-line CLI error, a `RainException` in the client).
"""

from __future__ import annotations


class AddressError(ValueError):
    """A malformed address or port; the message names it."""


def parse_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise AddressError(f"invalid port {text!r}")
    port = int(text)
    if port > 65535:
        raise AddressError(f"invalid port {port} (expected 0-65535)")
    return port


def split_address(address: str, default_port: int | None = None) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT` -> (host, port); the host may be empty (`:PORT`).

    With `default_port`, an address without a port (`HOST`, `[IPV6]` or a bare IPv6 address)
    gets it; without, a missing port is an error."""
    text = address.strip()
    port_text: str | None
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise AddressError(f"invalid address {address!r} (expected [IPV6]:PORT)")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a host name, or an IPv6 address without brackets
        host, port_text = text, None
    if port_text is not None:
        return host, parse_port(port_text)
    if default_port is None:
        raise AddressError(f"invalid address {address!r}: no port (expected HOST:PORT)")
    return host, default_port


def join_address(host: str, port: int) -> str:
    """The `HOST:PORT` form `split_address` reads back (brackets around an IPv6 host)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
