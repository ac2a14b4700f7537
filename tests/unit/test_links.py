"""Grouping of governor commands into messages keeps their order."""

from rain.core.protocol import messages as m
from rain.core.server.links import _group


def test_consecutive_commands_of_one_kind_share_a_message():
    commands = [("assign", 1), ("assign", 2), ("delete", [1, 1]), ("drop_session", 3),
                ("drop_session", 4), ("assign", 5), ("delete", [1, 2])]
    assert _group(commands) == [
        m.AssignTasks([1, 2]), m.DeleteObjects([[1, 1]]), m.DropSession(3), m.DropSession(4),
        m.AssignTasks([5]), m.DeleteObjects([[1, 2]]),
    ]
