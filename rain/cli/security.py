"""Command-line options for keys, TLS and connection limits, shared by the subcommands."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket

from rain.cli.common import UserError
from rain.core.access import AccessError, AccessFile, load, prepare_server_access, resolve_path
from rain.core.protocol.auth import Credentials
from rain.core.protocol.stream import HANDSHAKE_TIMEOUT, MAX_PENDING_HANDSHAKES, EndpointLimits
from rain.core.server.http_auth import http_token

logger = logging.getLogger("rain.security")
SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def add_access_options(p: argparse.ArgumentParser, insecure: bool = True) -> None:
    p.add_argument("--access-file", metavar="FILE",
                   help="the cluster's access file (default: $RAIN_ACCESS_FILE, else ~/.rain/access-PORT.json)")
    if insecure:
        p.add_argument("--insecure", action="store_true",
                       help="no authentication and no encryption: only for trusted single-user setups")


def add_tls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls", action="store_true",
                   help="encrypt every connection (a self-signed certificate is generated unless given)")
    p.add_argument("--tls-cert", metavar="FILE", help="certificate (PEM) for --tls")
    p.add_argument("--tls-key", metavar="FILE", help="private key (PEM) of --tls-cert")


def add_limit_options(p: argparse.ArgumentParser, roles: str) -> None:
    p.add_argument("--max-frame", action="append", default=[], metavar="ROLE=SIZE",
                   help=f"largest frame accepted from peers of ROLE ({roles}); SIZE like 64M")
    p.add_argument("--handshake-timeout", type=float, default=HANDSHAKE_TIMEOUT, metavar="SECONDS",
                   help=f"close connections not authenticated in time (default {HANDSHAKE_TIMEOUT:g})")
    p.add_argument("--max-handshakes", type=int, default=MAX_PENDING_HANDSHAKES, metavar="N",
                   help=f"refuse connections while N others are in their handshake (default {MAX_PENDING_HANDSHAKES})")


def parse_size(text: str) -> int:
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    number, suffix = (value[:-1], value[-1]) if value and value[-1] in SIZE_SUFFIXES else (value, "")
    try:
        size = int(number) * SIZE_SUFFIXES[suffix]
    except ValueError:
        raise UserError(f"invalid size {text!r} (examples: 65536, 64K, 512M, 1G)") from None
    if size <= 0:
        raise UserError(f"invalid size {text!r}: must be positive")
    return size


def endpoint_limits(args: argparse.Namespace, roles: tuple[str, ...],
                    defaults: dict[str, int] | None = None) -> EndpointLimits:
    sizes = dict(defaults or {})
    for item in args.max_frame:
        role, sep, size = item.partition("=")
        if not sep or role not in roles:
            raise UserError(f"invalid --max-frame {item!r}: expected ROLE=SIZE with ROLE one of {', '.join(roles)}")
        sizes[role] = parse_size(size)
    if args.handshake_timeout <= 0:
        raise UserError(f"invalid --handshake-timeout {args.handshake_timeout}")
    if args.max_handshakes < 1:
        raise UserError(f"invalid --max-handshakes {args.max_handshakes}")
    return EndpointLimits(sizes, args.handshake_timeout, args.max_handshakes)


def is_loopback(host: str) -> bool:
    if host in WILDCARD_HOSTS:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_access(args: argparse.Namespace, host: str, port: int) -> AccessFile | None:
    """The server's access file (created or reused), or None with --insecure (warned about)."""
    if args.insecure:
        if args.tls or args.tls_cert or args.tls_key:
            raise UserError("--tls needs authentication: drop --insecure")
        where = "this machine" if is_loopback(host) else "the network"
        logger.warning("--insecure: authentication is OFF; anyone on %s who can reach port %d can run programs "
                       "as this user and read all data", where, port)
        return None
    path, _chosen = resolve_path(args.access_file, port)
    try:
        return prepare_server_access(path, tls=args.tls, cert_file=args.tls_cert, key_file=args.tls_key,
                                     fresh_key=getattr(args, "new_key", False))
    except AccessError as exc:
        raise UserError(str(exc)) from None


def dialing_credentials(args: argparse.Namespace, server_port: int, listening: bool) -> Credentials:
    """For a governor (`listening`: it serves a data port too) or a tool that dials the server."""
    if getattr(args, "insecure", False):
        return Credentials(origin="--insecure")
    path, _chosen = resolve_path(args.access_file, server_port)
    try:
        access = load(path)
        return access.credentials() if listening else access.client_credentials()
    except AccessError as exc:
        hint = " (use --insecure only for a server started with --insecure)" if listening else ""
        raise UserError(f"{exc}{hint}") from None


def dashboard_url(access: AccessFile | None, http_host: str, http_port: int) -> str:
    scheme = "https" if access is not None and access.tls is not None else "http"
    host = http_host if http_host not in WILDCARD_HOSTS else socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    token = f"/?token={http_token(access.key)}" if access is not None else "/"
    return f"{scheme}://{host}:{http_port}{token}"
