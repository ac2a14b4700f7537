"""Submit validation on wire rows: every refusal names its cause and nothing is applied."""

from __future__ import annotations

import pytest

from rain.common.rows import SubmittedObject, TaskRow
from rain.core.server.server import RequestError, Server
from rain.core.server.submit import SubmitError, check_submit


class Sink:
    def send(self, msg):
        pass


def task(tid, inputs=(), outputs=(), task_type="buildin/concat", cpus=1, name=None):
    flat = []
    for oid in inputs:
        flat += (oid, None)
    return list(TaskRow(tid, task_type, None, flat, list(outputs), cpus, name, None))


def const(oid, keep=False):
    return list(SubmittedObject(oid, "c", None, "blob", None, keep, b"x", None))


def out(oid, keep=False):
    return list(SubmittedObject(oid, "0", None, "blob", None, keep, None, None))


@pytest.fixture
def server_session():
    server = Server()
    client = Sink()
    sid = server.new_session(client, "s")
    return server, server.session(client, sid)


@pytest.mark.parametrize("tasks,objects,match", [
    ([task(3, [1], [2]), task(4, [2], [5])], [const(1), out(2), out(2)], "duplicate object id"),
    ([task(3, [1], [2]), task(3, [1], [4])], [const(1), out(2), out(4)], "duplicate task id"),
    ([task(3, [9], [2])], [out(2)], r"unknown input id ID\(1, 9\)"),
    ([task(3, [4], [2]), task(5, [2], [4])], [out(2), out(4)], "cycle"),
    ([task(3, [2], [4]), task(5, [6], [2]), task(7, [4], [6])], [out(2), out(4), out(6)], "cycle"),
    ([task(3, [], [2], cpus=True)], [out(2)], "invalid resources"),
    ([[3, "buildin/concat", None, [True, None], [2], 1, None, None]], [out(2)], "unknown input id"),
    ([[3, "buildin/concat", None, [1], [2], 1, None, None]], [const(1), out(2)], "malformed inputs"),
    ([[3, "buildin/concat", None, [], ["2"], 1, None, None]], [out(2)], "malformed outputs"),
    ([[3, "buildin/concat", None, [], [2], 1, 5, None]], [out(2)], "malformed name"),
    ([], [[1, "c", None, "blob", None, 1, b"", None]], "malformed object record"),
    ([task(3, [], [2]), task(4, [], [2])], [out(2)], "output of two tasks"),
    ([task(3, [], [1])], [const(1)], "is a constant"),
    ([], [out(7)], "neither data nor a producing task"),
    ([task(3, [], [2], cpus=-1)], [out(2)], "invalid resources"),
    ([task(3, [], [2], task_type="")], [out(2)], "invalid task type"),
    ([[1, 2]], [], "malformed task record"),
    ([], [[1, "c", "no-such-type", "blob", None, False, b"", None]], "unknown content type"),
    ([], [[1, "c", None, "tree", None, False, b"", None]], "invalid data type"),
])
def test_refused_submits(server_session, tasks, objects, match):
    _server, session = server_session
    with pytest.raises(SubmitError, match=match):
        check_submit(session, tasks, objects, None, None)


def test_unknown_type_and_oversized_task(server_session):
    _server, session = server_session
    with pytest.raises(SubmitError, match="no governor offers task type 'x/y'"):
        check_submit(session, [task(3, [], [2], task_type="x/y")], [out(2)], {"buildin/concat"}, 4)
    with pytest.raises(SubmitError, match="requests 8 cpus but the largest governor has 4"):
        check_submit(session, [task(3, [], [2], cpus=8, name="big")], [out(2)], {"buildin/concat"}, 4)


def test_refused_submit_applies_nothing_and_unkept_inputs_are_refused(server_session):
    server, session = server_session
    server.submit(session, [task(3, [1], [2])], [const(1), out(2, keep=True)])
    assert set(session.tasks) == {3} and set(session.objects) == {1, 2}
    with pytest.raises(RequestError, match="was not kept"):
        server.submit(session, [task(5, [2], [6]), task(7, [1], [8])], [out(6), out(8)])
    assert set(session.tasks) == {3} and set(session.objects) == {1, 2}
    server.submit(session, [task(5, [2], [6])], [out(6)])  # the kept one is fine
    assert set(session.tasks) == {3, 5}


def dir_const(oid, keep=False):
    return [oid, "tree", None, "dir", None, keep, b"", None]


def test_declared_inputs_are_checked_naming_task_and_input(server_session):
    _server, session = server_session
    kinds = {"hash/sha256": ["blob"], "buildin/concat": ["*blob"]}
    offered = {"hash/sha256", "buildin/concat"}
    with pytest.raises(SubmitError, match=r"task 'digest' ID\(1, 3\): input 0 \('tree'\) is a dir, "
                                          r"but task type 'hash/sha256' takes a blob there"):
        check_submit(session, [labeled_task(3, [(1, "tree")], [2], "hash/sha256", "digest")],
                     [dir_const(1), out(2)], offered, 4, kinds)
    with pytest.raises(SubmitError, match=r"task ID\(1, 3\): task type 'hash/sha256' takes exactly 1 input"):
        check_submit(session, [task(3, [1, 4], [2], task_type="hash/sha256")],
                     [const(1), const(4), out(2)], offered, 4, kinds)
    check_submit(session, [task(3, [1, 4], [2])], [const(1), const(4), out(2)], offered, 4, kinds)
    check_submit(session, [task(3, [1], [2], task_type="hash/sha256")], [dir_const(1), out(2)], offered, 4, {})


def test_declared_inputs_see_objects_of_earlier_submits(server_session):
    server, session = server_session
    server.input_kinds["buildin/concat"] = ["*blob"]
    server.submit(session, [], [dir_const(1, keep=True)])
    with pytest.raises(RequestError, match=r"submit refused: task ID\(1, 3\): input 0 \('tree'\) is a dir"):
        server.submit(session, [task(3, [1], [2])], [out(2)])


def labeled_task(tid, inputs, outputs, task_type, name):
    flat = [x for pair in inputs for x in pair]
    return [tid, task_type, None, flat, list(outputs), 1, name, None]


def test_valid_rows_of_every_shape_pass(server_session):
    """Rows beyond the common shape (checked in detail) and a graph whose tasks consume outputs
    of tasks with larger ids (checked for cycles in full) are accepted."""
    _server, session = server_session
    tasks = [[3, "buildin/concat", {"a": 1}, [2, "x"], [4], {"cpus": 2, "retries": 1}, "n", {"u": 1}],
             task(5, [], [2])]
    objects = [[2, "l", "json", "blob", {"k": 1}, True, None, 10], out(4)]
    check_submit(session, tasks, objects, {"buildin/concat"}, 2)
