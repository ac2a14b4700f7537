"""A governor link groups consecutive commands of one kind into one message, keeping their order."""

from __future__ import annotations

import cbor2
import trio
import trio.testing

from rain.common.ids import ID
from rain.common.rows import AssignedTask, ObjectRow
from rain.core.protocol import messages as m
from rain.core.protocol.stream import MessageStream
from rain.core.server.links import DELETE_DELAY, GovernorLink


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
