"""Remote Python tasks end to end: data in and out, arguments, content types, outputs."""

from __future__ import annotations

import os

import pytest

from rain.client import (
    Input,
    InputDir,
    Output,
    OutputDir,
    RainWarning,
    TaskException,
    blob,
    directory,
    pickled,
    remote,
    tasks,
)
from rain.common import DataInstance


@remote
def upper(ctx, data):
    return data.get_bytes().upper()


def run_one(client, build):
    """Submits the task `build()` makes and returns it with its outputs fetched."""
    with client.new_session() as s:
        t = build()
        t.keep_outputs()
        s.submit()
        return t, t.fetch_outputs()


def test_bytes_in_and_out(client):
    _, [out] = run_one(client, lambda: upper(blob(b"hello")))
    assert out.get_bytes() == b"HELLO"
    assert out.content_type is None


def test_strings_and_plain_arguments(client):
    @remote
    def greet(ctx, who, greeting="Hello", *, punct="!"):
        return f"{greeting}, {who.get_str()}{punct}"

    _t, [out] = run_one(client, lambda: greet(blob("world"), punct="?"))
    assert out.get_str() == "Hello, world?"
    assert out.content_type == "text"


def test_multiple_labelled_outputs_by_tuple_and_dict(client):
    @remote(outputs=["first", "second"])
    def two(ctx, as_dict):
        if as_dict:
            return {"second": b"2", "first": "1"}
        return b"1", "2"

    for as_dict, types in ((False, [None, "text"]), (True, ["text", None])):
        _t, outs = run_one(client, lambda as_dict=as_dict: two(as_dict))
        assert [o.get_bytes() for o in outs] == [b"1", b"2"]
        assert [o.content_type for o in outs] == types


def test_no_outputs(client):
    @remote(outputs=0)
    def nothing(ctx):
        ctx.info.user["ran"] = True

    with client.new_session() as s:
        t = nothing()
        s.submit()
        t.wait()
        t.update()
        assert t.info.user == {"ran": True}


def test_pass_through_keeps_user_info(client):
    @remote
    def mark(ctx, data):
        assert data.spec.user == {}
        data.info.user["seen"] = len(data.get_bytes())
        return data

    big = b"y" * 1_000_000  # stored as a file on the governor: passed through by link
    for payload in (b"small", big):
        with client.new_session() as s:
            t = mark(blob(payload))
            t.output.keep()
            s.submit()
            assert t.output.fetch().get_bytes() == payload
            t.output.update()
            assert t.output.info.user == {"seen": len(payload)}


def test_stage_file_and_directory(client):
    @remote(outputs=["file", OutputDir("dir")])
    def stage(ctx):
        assert os.listdir(".") == []  # a fresh empty working directory
        with open("result.txt", "w") as f:
            f.write("staged")
        os.makedirs("tree/sub")
        with open("tree/sub/x", "wb") as f:
            f.write(b"x" * 2_000_000)
        return ctx.stage_file("result.txt", content_type="text"), ctx.stage_directory("tree")

    _t, [f, d] = run_one(client, stage)
    assert f.get_str() == "staged" and f.content_type == "text"
    assert d.data_type.value == "dir"


def test_dirs_in_and_out_across_two_governors(make_cluster, tmp_path):
    cluster = make_cluster([1, 1])
    client = cluster.client()
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f.txt").write_text("content")

    @remote(outputs=OutputDir("out"))
    def rebuild(ctx, tree: InputDir(), n):
        tree.write("copy")
        with open("copy/a/f.txt") as f:
            text = f.read()
        os.makedirs(f"made/{n}")
        with open(f"made/{n}/f.txt", "w") as f:
            f.write(text.upper())
        ctx.debug("governor pid %s", os.getpid())
        return ctx.stage_directory("made")

    @remote
    def read_back(ctx, tree, n):
        tree.link("linked")
        with open(f"linked/{n}/f.txt") as f:
            return f.read()

    with client.new_session() as s:
        stage1 = [rebuild(directory(str(src)), i) for i in range(4)]
        stage2 = [read_back(t, i) for i, t in enumerate(stage1)]
        for t in stage2:
            t.output.keep()
        stage1[0].output.keep()
        s.submit()
        assert [t.output.fetch().get_str() for t in stage2] == ["CONTENT"] * 4
        fetched = stage1[0].output.fetch()
        fetched.write(str(tmp_path / "res"))
        assert (tmp_path / "res" / "0" / "f.txt").read_text() == "CONTENT"
        for t in stage1 + stage2:
            t.update()
        assert {t.info.governor for t in stage1 + stage2} == set(cluster.governor_ids)


class Pair:
    def __init__(self, left, right):
        self.left, self.right = left, right


def test_nested_arguments_with_data_objects(client):
    @remote
    def gather(ctx, items, mapping, pair, fn, count=3):
        parts = [i.get_bytes() for i in items]
        parts += [mapping[k].get_bytes() for k in sorted(mapping)]
        parts += [pair.left.get_bytes(), pair.right[0].get_bytes(), fn().get_bytes()]
        assert all(isinstance(p, bytes) for p in parts)
        return b"|".join(parts) + b"#%d" % count

    with client.new_session() as s:
        a, b = blob(b"a"), blob(b"b")
        c = tasks.Concat([a, b])
        t = gather([a, c], {"y": b, "x": a}, Pair(c, (b,)), lambda: c, count=4)
        assert len(t.inputs) == 4  # the function and a, ab, b: each object once
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_bytes() == b"a|ab|a|b|ab|b|ab#4"


def test_signature_errors_at_call_time(client):
    @remote
    def f(ctx, a, *, b):
        pass

    with client.new_session():
        with pytest.raises(TypeError, match="missing a required argument: 'a'"):
            f(b=1)
        with pytest.raises(TypeError, match="'b'"):
            f(1)


def test_big_argument_raises_and_a_smaller_one_travels(client):
    @remote
    def length(ctx, data):
        return str(len(data))

    with client.new_session() as s:
        with pytest.raises(RainWarning, match=r"Pickled object data length 3000\d\d > PICKLE_ARG_SIZE_LIMIT"):
            length(b"z" * 300_000)
        assert s.task_count == 0  # nothing half-made
        t = length(b"z" * 200_000)  # above the inline limit: travels as an input object
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_str() == "200000"


@pytest.mark.parametrize("content_type,value", [
    ("pickle", {"a": (1, 2)}), ("cloudpickle", {1, 2}), ("json", {"a": [1, 2]}), ("cbor", [1, b"x"]),
    ("text", "žluťoučký"), ("text-latin2", "žluť"),
])
def test_content_types_with_load(client, content_type, value):
    @remote(inputs={"data": Input(load=True, content_type=content_type)})
    def echo(ctx, data):
        return ctx.blob(data, encode=content_type)

    def annotated(ctx, data: Input(load=True, content_type=content_type)) -> Output(encode=content_type):
        return data

    for factory in (echo, remote(annotated)):
        with client.new_session() as s:
            t = factory(blob(value, encode=content_type))
            t.output.keep()
            s.submit()
            out = t.output.fetch()
            assert out.content_type == content_type
            assert out.load() == value


def test_content_type_is_taken_or_checked(client):
    @remote(inputs={"data": Input(load=True, content_type="json")})
    def load_json(ctx, data):
        return str(data["k"])

    with client.new_session() as s:  # no type on the object: the declared one is taken
        t = load_json(blob(b'{"k": 5}'))
        t.output.keep()
        s.submit()
        assert t.output.fetch().get_str() == "5"
    with client.new_session() as s:
        t = load_json(pickled({"k": 5}))
        s.submit()
        with pytest.raises(TaskException, match="content type 'pickle', expected 'json'"):
            s.wait_all()


def test_auto_load_and_auto_encode(client):
    @remote(auto_load=True, auto_encode="pickle", outputs=["sum", Output("raw")])
    def add(ctx, a, b, *more, raw: Input(load=False)):
        assert isinstance(raw, DataInstance)
        return a + b + sum(more), raw

    with client.new_session() as s:
        t = add(pickled(1), pickled(2), pickled(3), raw=blob(b"r"))
        t.keep_outputs()
        s.submit()
        total, raw = t.fetch_outputs()
        assert total.content_type == "pickle" and total.load() == 6
        assert raw.get_bytes() == b"r"


def test_wrong_return_fails_with_expectation(client):
    @remote(outputs=["a", "b"])
    def bad(ctx, kind):
        return {"count": [b"x"], "type": (b"x", 5), "label": {"a": b"", "c": b""}}[kind]

    for kind, message in [("count", "returned 1 values, expected 2"),
                          ("type", "output 'b'.*returned a int, expected bytes, str or a DataInstance"),
                          ("label", "unknown output label.*'c'")]:
        with client.new_session() as s:
            bad(kind)
            s.submit()
            with pytest.raises(TaskException, match=message):
                s.wait_all()


def test_blob_write_link_and_per_call_outputs(client):
    @remote
    def copy_both(ctx, small, big):
        small.write("small.bin")
        big.link("big.bin")
        with open("small.bin", "ab") as f:  # write() gives a private writable copy
            f.write(b"+")
        with open("small.bin", "rb") as f, open("big.bin", "rb") as g:
            return {"a": f.read(), "b": str(len(g.read()))}

    with client.new_session() as s:
        t = copy_both(blob(b"s"), blob(b"B" * 500_000), outputs=["a", "b"], name="copier")
        t.keep_outputs()
        s.submit()
        assert [o.get_bytes() for o in t.fetch_outputs()] == [b"s+", b"500000"]
        assert t.name == "copier"


@remote
def inc(ctx, i):
    return str(i + 1).encode()


@remote
def add(ctx, a, b):
    return str(int(a.get_bytes()) + int(b.get_bytes())).encode()


def test_a_large_graph_of_plain_calls_runs_in_full(client):
    """Enough tasks for the server to assign the first ones before it has built the rest, made
    by plain calls (positional values of plain types), with later tasks consuming their outputs."""
    with client.new_session() as s:
        firsts = [inc(i) for i in range(700)]
        sums = [add(firsts[i], firsts[-1 - i]) for i in range(0, 700, 50)]
        for t in (*sums, firsts[0], firsts[-1]):
            t.output.keep()
        s.submit()
        s.wait_all()
        assert firsts[0].output.fetch().get_bytes() == b"1"
        assert firsts[-1].output.fetch().get_bytes() == b"700"
        assert [int(t.output.fetch().get_bytes()) for t in sums] == [701] * len(sums)
        [info] = [i for i in client.get_server_info()["sessions"] if i["session_id"] == s.session_id]
        assert info["tasks"] == 714 and info["unfinished_tasks"] == 0
