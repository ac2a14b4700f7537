"""Every message that crosses a Rain connection, one attrs class per kind.

Fields hold plain CBOR-able values (ints, strings, bytes, lists, maps): nested records such as
task specs travel in their `to_wire` form and are rebuilt by the receiving handler, which knows
what it needs. Subclasses register themselves by `kind`, so the codec has one table to consult.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast, dataclass_transform

import attrs

PROTOCOL_VERSION = 2  # 2: hello carries a nonce, then `authenticate` both ways
ROLES = ("client", "governor", "governor-data", "executor", "server")

MESSAGE_TYPES: dict[str, type[Message]] = {}


class Message:
    kind: ClassVar[str]
    fields: ClassVar[frozenset[str]]
    field_types: ClassVar[dict[str, tuple[type, ...]]]  # checked by the codec; fields typed Any are absent

    @classmethod
    def __attrs_init_subclass__(cls) -> None:
        if cls.kind in MESSAGE_TYPES:
            raise TypeError(f"duplicate message kind {cls.kind!r}")
        cls.fields = frozenset(f.name for f in attrs.fields(cast(Any, cls)))  # an attrs class by now
        hints = typing.get_type_hints(cls)
        cls.field_types = {name: kinds for name in cls.fields if (kinds := wire_types(hints[name])) is not None}
        MESSAGE_TYPES[cls.kind] = cls

    def to_wire(self) -> dict[str, Any]:
        body = {name: getattr(self, name) for name in self.fields}
        body["type"] = self.kind
        return body


M = TypeVar("M", bound=Message)


def wire_types(hint: Any) -> tuple[type, ...] | None:
    """The Python types a field's decoded CBOR value may have (None: anything). Checking them
    at decode time turns a peer's wrong types into a ProtocolError instead of a TypeError deep
    in a handler; nested values are checked by the handlers that read them."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        parts = [wire_types(arg) for arg in typing.get_args(hint)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)  # type: ignore[union-attr]
    if origin is not None:
        hint = origin  # list[Any] -> list
    if hint is float:
        return (int, float)
    return (hint,) if isinstance(hint, type) else None


@dataclass_transform(field_specifiers=(attrs.field, attrs.Factory))
def message(kind: str) -> Callable[[type[M]], type[M]]:
    """Class decorator: an attrs message class registered under `kind`.

    `dataclass_transform` tells type checkers that the class gets an attrs `__init__`, as
    attrs' own decorators do."""

    def wrap(cls: type[M]) -> type[M]:
        cls.kind = kind
        return attrs.define(cls)

    return wrap


# --- handshake -------------------------------------------------------------------------------


@message("hello")
class Hello(Message):
    """The first frame each way. `nonce` is the side's challenge; None when it has no key."""

    version: int
    role: str
    nonce: bytes | None = None


@message("authenticate")
class Authenticate(Message):
    """Proof of the cluster key: an HMAC over both nonces (rain.core.protocol.auth)."""

    proof: bytes


class ErrorCategory(str, enum.Enum):
    """Which exception the client raises for an `Error`; the wire carries the value."""

    RAIN = "rain"  # RainException: a bad request
    TASK = "task"  # TaskException: a task of the session failed
    SESSION = "session"  # SessionException: the session is closed or unknown


@message("error")
class Error(Message):
    """A refused request (request_id set) or a refused connection (request_id None).

    `category` is an `ErrorCategory` value.
    """

    request_id: int | None
    message: str
    category: str = ErrorCategory.RAIN.value
    task_id: Any = None


# --- client -> server ------------------------------------------------------------------------


@message("new_session")
class NewSession(Message):
    """`keep_alive`: the session outlives its client's connection (see `AttachSession`)."""

    request_id: int
    name: str
    keep_alive: bool = False


@message("attach_session")
class AttachSession(Message):
    """Use a keep-alive session from another connection; answered with its name, its objects
    as [id, label, data_type, content_type, keep, state] rows and its highest node id."""

    request_id: int
    session_id: int
    describe: bool = True  # False: a reconnecting client only takes the session back


@message("close_session")
class CloseSession(Message):
    request_id: int
    session_id: int


@message("submit")
class Submit(Message):
    """One whole submit: task rows and object rows + [keep, data, size_hint] (rain.common.attributes)."""

    request_id: int
    session_id: int
    tasks: list[Any]
    objects: list[Any]


@message("wait")
class Wait(Message):
    """Answered once every listed task/object is finished (ids empty = the whole session)."""

    request_id: int
    session_id: int
    ids: list[Any]
    all: bool = False
    progress: bool = False  # push `Progress` for this request while it waits


@message("update")
class Update(Message):
    request_id: int
    session_id: int
    ids: list[Any]


@message("fetch")
class Fetch(Message):
    request_id: int
    session_id: int
    id: Any


@message("unkeep")
class Unkeep(Message):
    request_id: int
    session_id: int
    ids: list[Any]


@message("get_server_info")
class GetServerInfo(Message):
    request_id: int


# --- server -> client ------------------------------------------------------------------------


@message("ok")
class Ok(Message):
    request_id: int
    value: Any = None


@message("updated")
class Updated(Message):
    """States and infos: items are [id, state, info] for tasks and objects alike."""

    request_id: int
    tasks: list[Any]
    objects: list[Any]


@message("progress")
class Progress(Message):
    """Pushed while a `Wait(progress=True)` is pending: of `total` awaited tasks or objects,
    `finished` are done and `failed` have failed."""

    request_id: int
    finished: int
    failed: int
    total: int


@message("fetch_ready")
class FetchReady(Message):
    """The object is finished: its data is inline, or at the governor's data address."""

    request_id: int
    info: Any
    data_type: str
    data: bytes | None
    address: str | None


# --- governor <-> server ---------------------------------------------------------------------


@message("register_governor")
class RegisterGovernor(Message):
    """`input_kinds`: the inputs each task type accepts, for those that declare them
    (`rain.plugins.TaskType.inputs`); the server checks submits against them."""

    cpus: int
    data_address: str
    task_types: list[str]
    input_kinds: dict[str, list[str]] = attrs.Factory(dict)
    # Registering again after a lost connection: the server incarnation it was registered at,
    # its stored objects [session, id, info] and its tasks still running or not yet reported
    # [session, id]. A server of another incarnation answers `Registered` with settings
    # {"reset": true} and closes the connection: the governor drops everything and registers anew.
    incarnation: str | None = None
    objects: list[Any] = attrs.field(factory=list)
    tasks: list[Any] = attrs.field(factory=list)


@message("registered")
class Registered(Message):
    governor_id: str
    settings: dict[str, Any]


@message("assign_tasks")
class AssignTasks(Message):
    """Items: [session_id, task row, inputs, output object rows]; each input is the id of an
    object the governor holds, or [object row, info, peer data address or None, inline data or
    None] (rows: rain.common.attributes)."""

    tasks: list[Any]


@message("delete_objects")
class DeleteObjects(Message):
    ids: list[Any]


@message("drop_session")
class DropSession(Message):
    """Cancel every task of the session and delete all its objects."""

    session_id: int


@message("peer_lost")
class PeerLost(Message):
    """The governor with this data address was lost: stop fetching from it (the tasks whose
    fetch is cut off fail with `input_unavailable`, and the server runs them again)."""

    data_address: str


@message("governor_dropped")
class GovernorDropped(Message):
    """The server declared this governor lost (it missed its heartbeats): it drops every task
    and object it has and registers again as a new governor."""

    reason: str


@message("tasks_updated")
class TasksUpdated(Message):
    """A batch of results: finished items [session_id, task_id, info, [[object_id, info], ...]],
    failed items [session_id, task_id, info]."""

    finished: list[Any]
    failed: list[Any]


@message("governor_stats")
class GovernorStats(Message):
    """A governor's periodic sample for monitoring. CPU and memory are of its node (None where
    the system does not tell); objects and bytes are those of its store."""

    cpu_percent: float | None
    memory_used: int | None
    memory_total: int | None
    objects: int
    stored_bytes: int
    received_bytes: int


# --- data connections (governor-data role) ---------------------------------------------------


@message("fetch_object")
class FetchObject(Message):
    id: Any


@message("object_header")
class ObjectHeader(Message):
    """Precedes the chunks of an object; `size` = total bytes that will follow."""

    data_type: str
    size: int
    info: Any


@message("raw_object")
class RawObject(Message):
    """Like `ObjectHeader`, but the `size` bytes follow unframed, straight on the connection.

    A governor answers so for an object stored as a file when the connection is plain TCP: the
    file goes out with `sendfile` (no copy through the governor), and the receiver reads it into
    a preallocated buffer. Over TLS the object comes as `DataChunk`s after an `ObjectHeader`."""

    data_type: str
    size: int
    info: Any


@message("data_chunk")
class DataChunk(Message):
    data: bytes
