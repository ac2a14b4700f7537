"""Rain 0.4 programs run unchanged: the client behaviours of the original docs, on real processes.

Each test names the behaviour it covers (see docs/compatibility.md for what deliberately differs).
"""

from __future__ import annotations

import json
import os
import pickle
import urllib.request

import pytest

from rain.client import (
    DataObject,
    Input,
    InputDir,
    Output,
    OutputDir,
    Program,
    Task,
    TaskException,
    blob,
    directory,
    pickled,
    remote,
    tasks,
)
from rain.common import DataType
from tests.cluster import wait_until
from tests.files import tree_contents


def test_program_input_labels_as_strings(client):
    """1: `stdin="input"` and string `input_paths` declare inputs bound by keyword."""
    md5sum = Program("md5sum", stdin="input", stdout="output")
    count = Program(["wc", "-c", "data.txt"], input_paths=["data.txt"], stdout=True)
    with client.new_session() as s:
        data = blob(b"Hello world")
        t = md5sum(input=data)
        c = count(**{"data.txt": data})
        t.output.keep()
        c.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"3e25960a79dbc69b674cd4ec67a72c62  -\n"
        assert c.output.fetch().get_bytes() == b"11 data.txt\n"
    assert md5sum.input_labels == ["input"] and md5sum.output_labels == ["output"]


def test_program_call_refines_outputs_and_unlabelled_items(client):
    """2: a keyword naming an output merges with its spec; unlabelled items are argN."""
    dump = Program(["python3", "-c", "import pickle, sys; sys.stdout.buffer.write(pickle.dumps([1, 2]))"],
                   stdout="output")
    cat = Program(["cat", Input(), Input()], stdout=True)
    cp = Program(["cp", Input("src"), Output()])
    assert cat.input_labels == ["arg1", "arg2"] and cp.output_labels == ["arg2"]
    with client.new_session() as s:
        loaded = dump(output=Output(content_type="pickle"))
        joined = cat(arg1=blob(b"a"), arg2=blob(b"b"))
        copied = cp(src=blob(b"c"), arg2=Output(content_type="text"))
        for t in (loaded, joined, copied):
            t.keep_outputs()
        s.submit()
        assert loaded.output.fetch().load() == [1, 2]
        assert joined.output.fetch().get_bytes() == b"ab"
        assert copied.outputs["arg2"].fetch().get_str() == "c"


def test_directory_inputs_are_real_directories(client, tmp_path):
    """3: find and tar see a dir input whole; file inputs are regular files; both read-only."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B" * 300_000)  # stored as a file, not in memory
    script = ("find d f | sort; test -L d || echo d-is-dir; test -L f || echo f-is-file; "
              "tar -cf - -C d . | tar -tf - | sort; "
              "(echo x >> d/a.txt) 2>/dev/null || echo a-read-only; "
              "(echo x >> f) 2>/dev/null || echo f-read-only; "
              "touch d/new && rm d/sub/b.txt && echo own-directories")
    with client.new_session() as s:
        d = directory(str(src))
        f = blob(b"F" * 300_000)
        d.keep()
        t = tasks.Execute(["sh", "-c", script], input_paths=[InputDir("d", dataobj=d), Input("f", dataobj=f)],
                          stdout=True)
        t.keep_outputs()
        s.submit()
        lines = t.output.fetch().get_str().split("\n")
        assert lines[:4] == ["d", "d/a.txt", "d/sub", "d/sub/b.txt"]
        assert "f" in lines and "d-is-dir" in lines and "f-is-file" in lines
        assert {"./a.txt", "./sub/", "./sub/b.txt"} <= set(lines)
        assert {"a-read-only", "f-read-only", "own-directories"} <= set(lines)
        d.fetch().write(str(tmp_path / "back"))
    assert tree_contents(tmp_path / "back") == tree_contents(src)  # the stored object is unchanged


@remote(outputs=["a", "b", Output("c", encode="json"), "d"])
def four(ctx):
    return b"A", "B", {"c": 3}, [4]


def test_remote_call_merges_outputs(client):
    """4: None keeps, a string relabels, an Output overrides; encode in declarations; output=."""
    @remote()
    def value(ctx) -> Output(encode="pickle"):
        return {"x": 1}

    @remote(outputs=Output("r", content_type="text"))
    def one(ctx):
        return "one"

    with client.new_session() as s:
        t = four(outputs=[None, None, Output(content_type="pickle", encode="pickle"),
                          Output("foo", encode="pickle")])
        v = value()
        o = one(output="renamed", session=s)
        for task in (t, v, o):
            task.keep_outputs()
        s.submit()
        assert t.outputs.labels == ["a", "b", "c", "foo"]
        assert [x.fetch().get_bytes() for x in t.outputs[:2]] == [b"A", b"B"]
        assert t.outputs["c"].fetch().load() == {"c": 3}
        assert t.outputs["c"].fetch().content_type == "pickle"
        assert t.outputs["foo"].fetch().load() == [4]
        assert v.output.fetch().load() == {"x": 1}
        assert o.outputs.labels == ["renamed"] and o.output.fetch().get_str() == "one"
        assert o.output.content_type == "text"


def test_context_debug_staging_and_pickled(client):
    """5 and 6: ctx.debug with str.format; staged files leave the working directory."""
    @remote(outputs=["file", OutputDir("dir"), "obj", "listing"])
    def stage(ctx):
        ctx.debug("a = {}, b = {b}", 1, b=2)
        ctx.debug("percent %s", "kept")
        os.mkdir("sub")
        with open("sub/f.txt", "w") as f:
            f.write("F")
        os.mkdir("tree")
        with open("tree/t.txt", "w") as f:
            f.write("T")
        os.chdir("sub")
        staged = ctx.stage_file("f.txt", content_type="text")  # relative to the current directory
        os.chdir("..")
        tree = ctx.stage_directory("tree")
        try:
            ctx.stage_file(os.path.abspath("x"))
        except Exception as exc:
            ctx.debug("refused: {}", exc)
        return staged, tree, ctx.pickled([1, 2], content_type="pickle"), " ".join(sorted(os.listdir(".")))

    with client.new_session() as s:
        t = stage()
        t.keep_outputs()
        s.submit()
        out = t.outputs
        assert out["file"].fetch().get_str() == "F"
        assert out["listing"].fetch().get_str() == "sub"  # staged data is no longer listed
        assert out["obj"].fetch().get_bytes() == pickle.dumps([1, 2])
        out["dir"].update()
        assert out["dir"].content_type == "dir"
        t.update()
        debug = t.info.debug.split("\n")
        assert debug[:2] == ["a = 1, b = 2", "percent kept"]
        assert "must be relative" in debug[2]


def test_sleep_keeps_data_type_and_content_type(client, tmp_path):
    """10: Sleep passes a directory through as a directory, with the input's content type."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("X")
    with client.new_session() as s:
        slept_dir = tasks.Sleep(directory(str(tmp_path / "d")), 0.01)
        slept_json = tasks.Sleep(blob(b"[1]", content_type="json"), 0.01)
        slept_dir.keep_outputs()
        slept_json.keep_outputs()
        s.submit()
        assert slept_dir.output.data_type == DataType.DIRECTORY
        slept_dir.output.fetch().write(str(tmp_path / "back"))
        assert (tmp_path / "back" / "x").read_text() == "X"
        assert slept_json.output.fetch().load() == [1]
        assert slept_json.output.content_type == "json"


def test_direct_tasks_float_size_hint_and_write_over(client, tmp_path):
    """11, 12, 13: direct Task forms, float size hints end to end, write() overwriting."""
    with client.new_session() as s:
        produced = DataObject("made")
        joined = Task([("first", blob(b"1")), blob(b"2")], [produced], task_type="buildin/concat")
        sized = tasks.Concat([produced], name="sized")
        hinted = Task([produced], [Output("h", size_hint=0.1)], task_type="buildin/concat")
        two = tasks.Execute(["sh", "-c", "echo a > x; echo b > y"], output_paths=["x", "y"])
        tasks.Store(blob(b"stored"), str(tmp_path / "stored"))  # a task with no outputs
        for t in (sized, hinted, two):
            t.keep_outputs()
        s.submit()
        assert joined.inputs.labels == ["first", None] and joined.output is produced
        assert sized.output.fetch().get_bytes() == b"12"
        assert hinted.output.fetch().get_bytes() == b"12"
        client.update([hinted, hinted.output])  # 18: Client.update
        assert hinted.state.value == "finished" and hinted.output.info.size == 2
        target = tmp_path / "out"
        target.write_bytes(b"old content, longer")
        hinted.output.fetch().write(str(target))
        assert target.read_bytes() == b"12"
        assert [o.fetch().get_bytes() for o in two.outputs] == [b"a\n", b"b\n"]
        s.wait_all()
        assert (tmp_path / "stored").read_bytes() == b"stored"


def test_constant_reused_in_a_later_submit(client):
    """14: a blob from an earlier submit feeds a later one though it was not kept."""
    with client.new_session() as s:
        data = blob(b"constant")
        first = tasks.Concat([data, blob(b"!")])
        first.keep_outputs()
        s.submit()
        assert first.output.fetch().get_bytes() == b"constant!"
        second = tasks.Concat([blob(b"again "), data])
        second.keep_outputs()
        s.submit()
        assert second.output.fetch().get_bytes() == b"again constant"


def test_server_info_tracks_tasks_and_objects(make_cluster):
    """15: get_server_info lists the running tasks and held objects per governor, kept current."""
    cluster = make_cluster([1], env={"RAIN_DELETE_LIST_TIMEOUT": "0"})
    client = cluster.client()

    def governor() -> dict:
        return client.get_server_info()["governors"][0]

    with client.new_session() as s:
        slow = tasks.Sleep(blob(b"x"), 1.0)
        slow.keep_outputs()
        s.submit()
        wait_until(lambda: governor()["tasks"] == [slow.id], what="the sleep to run")
        slow.wait()
        wait_until(lambda: governor()["tasks"] == [], what="the finished task to leave the list")
        kept = tasks.Concat([blob(b"k"), blob(b"v")])
        kept.keep_outputs()
        s.submit()
        kept.wait()
        assert sorted(governor()["objects"]) == [slow.output.id, kept.output.id]
        kept.output.unkeep()
        wait_until(lambda: governor()["objects"] == [slow.output.id], what="the unkept object to be deleted")
    wait_until(lambda: governor()["objects"] == [], what="the closed session's objects to go")


def test_event_log_session_events(cluster):
    """16: SessionNew and SessionClosed carry the session id; POST /events filters by type."""
    client = cluster.client()
    with client.new_session("first") as s:
        first = s.session_id
    second = client.new_session("second")
    second.close()

    def events(kind: str) -> list[dict]:
        query = json.dumps({"event_types": [{"value": kind, "mode": "="}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{cluster.http_port}/events", data=query,
                                         headers={"Authorization": f"Bearer {cluster.http_token()}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return [e["event"] for e in json.loads(reply.read())]

    assert [(e["type"], e["session"]) for e in events("SessionNew")] == [
        ("SessionNew", first), ("SessionNew", second.session_id)]
    assert [e["session"] for e in events("SessionClosed")] == [first, second.session_id]


def test_content_types_over_the_wire(client):
    """17: protobuf types and dir are accepted; arrow and pickle values round-trip."""
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"x": [1, 2], "y": ["a", "b"]})

    @remote(auto_load=True, outputs=[Output("t", encode="arrow"), Output("l", encode="arrow")])
    def arrow_echo(ctx, t, values):
        return t, values

    with client.new_session() as s:
        proto = tasks.Concat([blob(b"\x08\x01", content_type="protobuf/example.Msg")])
        t = arrow_echo(blob(table, encode="arrow"), blob([1, 2, 3], encode="arrow"))
        p = pickled({"a": 1})
        for task in (proto, t):
            task.keep_outputs()
        p.keep()
        s.submit()
        assert t.outputs["t"].fetch().load().equals(table)
        assert t.outputs["l"].fetch().load() == [1, 2, 3]
        assert p.fetch().get_bytes() == pickle.dumps({"a": 1})
        assert proto.output.fetch().get_bytes() == b"\x08\x01"


def _evil_tar() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def test_unsafe_directories_are_refused_on_governors(client, tmp_path):
    """19 (security): a crafted archive fails its task; so does a task making a dir with a fifo."""
    with client.new_session() as s:
        evil = DataObject("evil", data_type="dir")
        evil._data = _evil_tar()  # what a modified client could send instead of directory()
        tasks.SliceDirectory(evil, "x", name="slicer")
        s.submit()
        with pytest.raises(TaskException, match=r"slicer.*unsafe member '\.\./escaped'"):
            s.wait_all()
    with client.new_session() as s:
        tasks.Execute("mkdir out && mkfifo out/pipe", shell=True, output_paths=[OutputDir("out")], name="fifo")
        s.submit()
        with pytest.raises(TaskException, match=r"fifo.*holds a fifo 'pipe'"):
            s.wait_all()
    assert not (tmp_path.parent / "escaped").exists()
