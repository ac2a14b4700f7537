"""A governor link groups consecutive commands of one kind into one message, keeping their order."""

from __future__ import annotations

import socket

import cbor2
import trio
import trio.testing

from rain.common.ids import ID
from rain.common.rows import AssignedTask, ObjectRow
from rain.core.protocol import messages as m
from rain.core.protocol.stream import MessageStream
from rain.core.server.links import DELETE_DELAY, ClientLink, GovernorLink, handling


def assigned(task_id: int) -> AssignedTask:
    row = [task_id, "t/x", None, [], [task_id + 1], 1, None, None]
    return AssignedTask(1, row, [], [ObjectRow(task_id + 1, None, None, "blob", None)])


async def test_consecutive_commands_of_one_kind_share_a_message(nursery):
    ours, theirs = trio.testing.memory_stream_pair()
    link = GovernorLink(MessageStream(ours, "governor"))
    link.assign(assigned(1))
    link.assign(assigned(2))
    link.delete(ID(1, 1))
    link.drop_session(3)
    link.drop_session(4)
    link.assign(assigned(5))
    link.delete(ID(1, 2))
    link.close()
    await link.serve_writer()
    await ours.aclose()
    received = [msg async for msg in MessageStream(theirs, "server")]
    as_lists = [cbor2.loads(cbor2.dumps(assigned(i))) for i in (1, 2, 5)]  # as the governor decodes them
    assert received == [
        m.AssignTasks(as_lists[:2]), m.DeleteObjects([[1, 1]]), m.DropSession(3), m.DropSession(4),
        m.AssignTasks(as_lists[2:]), m.DeleteObjects([[1, 2]]),
    ]


async def test_deletes_go_with_the_next_command_or_after_a_short_delay(nursery, autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    link = GovernorLink(MessageStream(ours, "governor"))
    nursery.start_soon(link.serve_writer)
    received = MessageStream(theirs, "server")
    link.delete(ID(1, 1))
    link.delete(ID(1, 2))
    link.assign(assigned(5))
    start = trio.current_time()
    assert await received.receive() == m.DeleteObjects([[1, 1], [1, 2]])
    assert await received.receive() == m.AssignTasks([cbor2.loads(cbor2.dumps(assigned(5)))])
    assert trio.current_time() == start  # no wait: the assign took the deletes along
    link.delete(ID(1, 3))
    link.delete(ID(1, 4))
    assert await received.receive() == m.DeleteObjects([[1, 3], [1, 4]])
    assert trio.current_time() - start == DELETE_DELAY  # alone, they wait only for this delay
    link.delete(ID(1, 5))
    assert await received.receive() == m.DeleteObjects([[1, 5]])
    link.close()


def socket_streams() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


async def test_what_a_handler_queues_is_written_when_it_ends_without_the_writer_task():
    ours, theirs = socket_streams()
    link = ClientLink(MessageStream(ours, "client"))
    with handling():
        link.send_later(m.Ok(1))
        link.send(m.Ok(2))
        link.send(m.Error(3, "no"))
    received = MessageStream(theirs, "server")  # no serve_writer runs: the handler's end wrote them
    assert [await received.receive() for _ in range(3)] == [m.Ok(1), m.Ok(2), m.Error(3, "no")]


async def test_a_handler_s_messages_go_after_those_the_writer_task_has_not_sent(nursery):
    ours, theirs = socket_streams()
    link = ClientLink(MessageStream(ours, "client"))
    link.send(m.Ok(1))  # outside a handler: for the writer task, which has not run yet
    with handling():
        link.send(m.Ok(2))
    nursery.start_soon(link.serve_writer)
    received = MessageStream(theirs, "server")
    assert [await received.receive() for _ in range(2)] == [m.Ok(1), m.Ok(2)]
    with handling():  # the writer is done: straight to the socket again
        link.send(m.Ok(3))
    assert await received.receive() == m.Ok(3)


async def test_a_write_the_socket_takes_only_in_part_is_finished_by_the_writer_in_order(nursery):
    ours, theirs = socket_streams()
    ours.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    link = ClientLink(MessageStream(ours, "client"))
    nursery.start_soon(link.serve_writer)
    big = [m.Ok(i, "x" * 100_000) for i in range(3)]
    with handling():
        for msg in big[:2]:
            link.send(msg)
    with handling():
        link.send(big[2])  # queued behind the unsent end of the first write
    received = MessageStream(theirs, "server")
    assert [await received.receive() for _ in range(3)] == big
