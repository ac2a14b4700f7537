"""Access files: where the cluster key (and the TLS pin) lives, so nobody has to type it.

`rain server` writes one at its first start, named by its port, in a per-user directory
(`~/.rain/access-PORT.json`, directory mode 0700, file mode 0600); later starts reuse the key.
Governors and clients find it by the same rule: an explicit path (`--access-file`,
`Client(..., access_file=)`), else `RAIN_ACCESS_FILE`, else the default path for the server's
port. So on one machine, or on a cluster whose home directory is shared, `Client("localhost",
7210)` finds the key of the same user's server with no extra argument.

The file is JSON: `{"version": 1, "key": HEX, "tls": null | {"fingerprint": "sha256:HEX",
"cert_file": PATH, "key_file": PATH}}`. A file readable by other users is refused, as ssh
refuses such keys.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import attrs

from rain.core.protocol.auth import KEY_SIZE, Credentials, new_key
from rain.core.protocol.tls import fingerprint_of_file, generate_self_signed, server_context

ENV_VAR = "RAIN_ACCESS_FILE"
FORMAT_VERSION = 1


class AccessError(Exception):
    """The access file is missing, unreadable, malformed or too open; the message says which."""


@attrs.frozen
class TlsFiles:
    cert_file: str
    key_file: str
    fingerprint: str


@attrs.frozen
class AccessFile:
    path: str
    key: bytes = attrs.field(repr=False)
    tls: TlsFiles | None = None

    def client_credentials(self) -> Credentials:
        """For sides that only dial (clients): the key and the pin."""
        return Credentials(self.key, self.tls.fingerprint if self.tls else None, None, f"key from {self.path}")

    def credentials(self) -> Credentials:
        """For sides that also accept connections (server, governors): with the TLS identity."""
        ssl_context = None
        if self.tls is not None:
            try:
                ssl_context = server_context(self.tls.cert_file, self.tls.key_file)
            except (OSError, ValueError) as exc:
                raise AccessError(f"cannot load the TLS certificate {self.tls.cert_file} and key "
                                  f"{self.tls.key_file} named in {self.path}: {exc}") from None
        return attrs.evolve(self.client_credentials(), server_ssl=ssl_context)


def rain_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".rain")


def default_path(port: int) -> str:
    return os.path.join(rain_dir(), f"access-{port}.json")


def resolve_path(explicit: str | os.PathLike[str] | None, port: int) -> tuple[str, bool]:
    """(path, chosen): the explicit path, else RAIN_ACCESS_FILE, else the default for `port`;
    `chosen` is False for the default, which may legitimately be absent (an insecure server)."""
    if explicit:
        return os.path.abspath(os.fspath(explicit)), True
    if os.environ.get(ENV_VAR):
        return os.path.abspath(os.environ[ENV_VAR]), True
    return default_path(port), False


def load(path: str) -> AccessFile:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise AccessError(f"access file {path} does not exist (start the server first, or pass the "
                          f"server's access file)") from None
    except OSError as exc:
        raise AccessError(f"cannot read access file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd) as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & 0o077:
            raise AccessError(f"access file {path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); "
                              f"run: chmod 600 {path}")
        try:
            data = json.load(f)
        except (ValueError, OSError) as exc:
            raise AccessError(f"access file {path} is not valid JSON: {exc}") from None
    return _parse(path, data)


def _parse(path: str, data: Any) -> AccessFile:
    try:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported version {data.get('version')!r}")
        key = bytes.fromhex(data["key"])
        if len(key) != KEY_SIZE:
            raise ValueError(f"the key must be {KEY_SIZE} bytes")
        tls = data.get("tls")
        files = TlsFiles(str(tls["cert_file"]), str(tls["key_file"]), str(tls["fingerprint"])) if tls else None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AccessError(f"access file {path} is malformed: {exc}") from None
    return AccessFile(path, key, files)


def _dump(access: AccessFile) -> str:
    tls = attrs.asdict(access.tls) if access.tls else None
    return json.dumps({"version": FORMAT_VERSION, "key": access.key.hex(), "tls": tls}, indent=2) + "\n"


def _write(access: AccessFile) -> None:
    """Atomically, with the file created 0600 in a directory made 0700."""
    directory = os.path.dirname(access.path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{access.path}.tmp{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_dump(access))
    os.replace(tmp, access.path)


def _pair_paths(path: str) -> tuple[str, str]:
    stem = path[: -len(".json")] if path.endswith(".json") else path
    return f"{stem}.crt", f"{stem}.key"


def prepare_server_access(path: str, *, tls: bool = False, cert_file: str | None = None,
                          key_file: str | None = None, fresh_key: bool = False) -> AccessFile:
    """The server's access file, created at the first start and reused after.

    With `tls` and no certificate files, a self-signed pair is generated next to the access
    file (and reused while it is there); given files are recorded by their absolute paths.
    The `tls` entry always matches this start, so clients never try TLS on a plain server."""
    existing = None
    if os.path.exists(path) and not fresh_key:
        existing = load(path)
    key = existing.key if existing else new_key()
    files = None
    if cert_file or key_file:
        if not (cert_file and key_file):
            raise AccessError("--tls-cert and --tls-key go together")
        cert_file, key_file = os.path.abspath(cert_file), os.path.abspath(key_file)
        try:
            files = TlsFiles(cert_file, key_file, fingerprint_of_file(cert_file))
        except (OSError, ValueError) as exc:
            raise AccessError(f"cannot read the TLS certificate {cert_file}: {exc}") from None
    elif tls:
        files = _generated_pair(path, existing)
    access = AccessFile(path, key, files)
    if access != existing:
        try:
            _write(access)
        except OSError as exc:
            raise AccessError(f"cannot write access file {path}: {exc.strerror or exc}") from None
    return access


def _generated_pair(path: str, existing: AccessFile | None) -> TlsFiles:
    cert_file, key_file = _pair_paths(path)
    if existing and existing.tls and existing.tls.cert_file == cert_file and os.path.exists(key_file):
        try:
            if fingerprint_of_file(cert_file) == existing.tls.fingerprint:
                return existing.tls
        except (OSError, ValueError):
            pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    return TlsFiles(cert_file, key_file, generate_self_signed(cert_file, key_file))


def find_credentials(explicit: str | os.PathLike[str] | bool | None, port: int) -> Credentials:
    """The credentials a client uses for the server on `port`.

    `explicit` False means no key at all (only an `--insecure` server accepts that). A missing
    default file is not an error here: the server may be insecure, and if it is not, the
    handshake fails with a message that says where the key was looked for."""
    if explicit is False:
        return Credentials(origin="no key: access_file=False")
    path, chosen = resolve_path(explicit if isinstance(explicit, str | os.PathLike) else None, port)
    if not chosen and not os.path.exists(path):
        return Credentials(origin=f"no access file at {path}; pass the server's access file with "
                                  f"access_file=... or {ENV_VAR}")
    return load(path).client_credentials()
