"""Execute / Program argument handling on the client: what ends up in the task's config."""

from __future__ import annotations

import pytest

from rain.client import Input, InputDir, Output, OutputDir, Program, RainException, Session, blob, directory, tasks
from rain.client.program import ExecutePlan


@pytest.fixture
def session():
    s = Session(None, 1)
    with s.bind_only():
        yield s


def test_string_args_are_split(session):
    t = tasks.Execute("grep -c 'a b' file", output_paths=["file"])
    assert t.spec.config["args"] == ["grep", "-c", "a b", "file"]
    assert t.spec.config["shell"] is False
    assert t.task_type == "buildin/run"


def test_shell_string_is_kept_whole(session):
    t = tasks.Execute("echo 'a  b' | wc -c", shell=True, stdout=True)
    assert t.spec.config["args"] == ["echo 'a  b' | wc -c"]
    assert t.spec.config["shell"] is True


def test_data_objects_are_labelled_by_position(session):
    a, b = blob(b"a"), blob(b"b")
    t = tasks.Execute(["cat", a, b, Input("in0", dataobj=a), Input(dataobj=b)], stdout=True)
    cfg = t.spec.config
    # unlabelled items are "argN" by their position, as in Rain 0.4
    assert cfg["args"] == ["cat", "arg1", "arg2", "in0", "arg4"]
    assert [i["path"] for i in cfg["inputs"]] == ["arg1", "arg2", "in0", "arg4"]
    assert [o.id for o in t.inputs] == [a.id, b.id, a.id, b.id]
    assert t.inputs.labels == ["arg1", "arg2", "in0", "arg4"]
    assert cfg["stdout"] == 0 and cfg["outputs"] == [{"path": None}]
    assert t.outputs[0].label == "stdout"


def test_outputs_in_args_and_paths(session):
    t = tasks.Execute(["split", "-n", "2", Input("x", dataobj=blob(b"abcd")), "p"],
                      output_paths=["paa", Output("second", path="pab", content_type="text")],
                      stdout=Output("log"))
    cfg = t.spec.config
    assert cfg["args"] == ["split", "-n", "2", "x", "p"]
    assert [o.label for o in t.outputs] == ["log", "paa", "second"]
    assert cfg["outputs"] == [{"path": None}, {"path": "paa"}, {"path": "pab"}]
    assert cfg["stdout"] == 0
    assert t.outputs["second"].spec.content_type == "text"


def test_output_and_dir_placeholders(session):
    d = directory(__file__.rsplit("/", 1)[0])
    t = tasks.Execute(["cp", "-r", d, OutputDir("copy")])
    cfg = t.spec.config
    assert cfg["args"] == ["cp", "-r", "arg2", "copy"]
    assert t.outputs["copy"].data_type.value == "dir"
    assert cfg["inputs"][0] == {"path": "arg2", "write": False, "content_type": None}


def test_stdin_and_write(session):
    data = blob(b"x")
    t = tasks.Execute("wc -c", stdin=data, stdout=True,
                      input_paths=[Input("w", path="sub/w.txt", dataobj=data, write=True)])
    cfg = t.spec.config
    assert cfg["stdin"] == 0
    assert cfg["inputs"] == [{"path": None, "write": False, "content_type": None},
                             {"path": "sub/w.txt", "write": True, "content_type": None}]
    assert [label for label, _ in t.inputs.items()] == ["stdin", "w"]


def test_shell_quotes_paths(session):
    t = tasks.Execute(["cat", Input("a", path="my file", dataobj=blob(b"x")), "|", "wc"], shell=True, stdout=True)
    assert t.spec.config["args"] == ["cat", "'my file'", "|", "wc"]


@pytest.mark.parametrize("kwargs, match", [
    ({"args": ["cat", object()]}, "invalid item in args"),
    ({"args": 42}, "args must be"),
    ({"args": []}, "name a program"),
    ({"args": "cat 'unclosed"}, "cannot split"),
    ({"args": "cat", "output_paths": ["../escape"]}, "relative path"),
    ({"args": "cat", "output_paths": ["/abs"]}, "relative path"),
    ({"args": "cat", "output_paths": ["a", "a"]}, "used twice"),
    ({"args": "cat", "input_paths": ["name"]}, "input 'name' has no data object"),
    ({"args": "cat", "input_paths": [3]}, "must be str, Input or InputDir"),
    ({"args": "cat", "stdin": "data"}, "input 'data' has no data object"),
    ({"args": "cat", "input_paths": [Input()]}, "needs a path or a label"),
    ({"args": "cat", "stdout": OutputDir("d")}, "stdout must be a blob"),
    ({"args": "cat", "stdout": 3}, "invalid stdout"),
    ({"args": ["cat", Input("x")]}, "has no data object"),
])
def test_bad_arguments_raise_at_the_call(session, kwargs, match):
    with pytest.raises(RainException, match=match):
        tasks.Execute(**kwargs)
    assert session.task_count == 0


def test_stdin_dir_is_refused(session):
    with pytest.raises(RainException, match="stdin must be a blob"):
        tasks.Execute("cat", stdin=directory(__file__.rsplit("/", 1)[0]))


def test_program_binds_by_label(session):
    prog = Program(["cat", Input("a"), Input("b")], stdout=Output(content_type="text"), name="cat2", cpus=2)
    assert prog.input_labels == ["a", "b"] and prog.output_labels == ["stdout"]
    x, y = blob(b"1"), blob(b"2")
    t1 = prog(a=x, b=y)
    t2 = prog(a=y, b=x, name="other", cpus=1)
    assert isinstance(t1, tasks.Execute)
    assert t1.name == "cat2" and t2.name == "other"
    assert t1.spec.resources == {"cpus": 2} and t2.spec.resources == {"cpus": 1}
    assert [o.id for o in t1.inputs] == [x.id, y.id]
    assert [o.id for o in t2.inputs] == [y.id, x.id]
    assert t1.spec.config["args"] == t2.spec.config["args"] == ["cat", "a", "b"]
    assert t1.outputs[0].spec.content_type == "text"
    assert t1.outputs[0].id != t2.outputs[0].id


def test_program_call_overrides_outputs_and_inputs(session):
    prog = Program("sort", stdin=Input("data"), stdout=True)
    t = prog(data=Input(dataobj=blob(b"b\na\n"), content_type="text"), stdout="json")
    assert t.outputs["stdout"].spec.content_type == "json"
    assert t.spec.config["inputs"][0]["content_type"] == "text"
    t2 = prog(data=blob(b"x"), stdout=Output(content_type="text-latin2"))
    assert t2.outputs[0].spec.content_type == "text-latin2"


@pytest.mark.parametrize("call, match", [
    (lambda p, o: p(), "missing input 'a'"),
    (lambda p, o: p(a=o, zzz=o), "unknown input or output 'zzz'"),
    (lambda p, o: p(a="text"), "input 'a'"),
    (lambda p, o: p(a=o, out=OutputDir()), "output 'out' is a blob"),
    (lambda p, o: p(a=o, out="nonsense/type"), "output 'out'"),
])
def test_program_bad_calls(session, call, match):
    prog = Program(["cat", Input("a"), Output("out")])
    with pytest.raises(RainException, match=match):
        call(prog, blob(b"x"))
    assert session.task_count == 0


def test_program_checks_at_creation():
    with pytest.raises(RainException, match="clashes"):
        Program(["cat", Input("name")])
    with pytest.raises(RainException, match="used twice"):
        Program(["cat", Input("a"), Input("a", path="b")])
    with pytest.raises(RainException, match="relative path"):
        Program(["cat", Input("a", path="../a")])


def test_input_dir_placeholder_needs_dir(session):
    prog = Program(["ls", InputDir("d")])
    with pytest.raises(RainException, match="input 'd'"):
        prog(d=blob(b"not a dir"))


def test_plan_parse_is_pure():
    plan = ExecutePlan.parse(["tee", Input("a"), Output("copy")], stdout=True)
    assert plan.unbound == ["a"]
    assert [s.label for s in plan.outputs] == ["copy", "stdout"]


def test_simple_builtins_config(session):
    d = directory(__file__.rsplit("/", 1)[0])
    assert tasks.Load("/x").spec.config == {"path": "/x"}
    assert tasks.LoadDir("/x").outputs[0].data_type.value == "dir"
    assert tasks.Store(blob(b"x"), "/y").outputs == []
    md = tasks.MakeDirectory([("a/b", blob(b"x")), (".", d)])
    assert md.spec.config == ["a/b", ""]
    assert tasks.SliceDirectory(d, "sub/").outputs[0].data_type.value == "dir"
    assert tasks.SliceDirectory(d, "f.txt", Output(content_type="text")).outputs[0].spec.content_type == "text"
    with pytest.raises(RainException, match="Load output"):
        tasks.Load("/x", OutputDir())
    with pytest.raises(RainException, match="needs a dir object"):
        tasks.SliceDirectory(blob(b"x"), "a")
    with pytest.raises(RainException, match="relative path"):
        tasks.MakeDirectory({"/abs": blob(b"x")})
    with pytest.raises(RainException, match="MakeDirectory path"):
        tasks.MakeDirectory({"": blob(b"x")})
    with pytest.raises(RainException, match="relative path"):
        tasks.MakeDirectory({".": blob(b"x")})
    with pytest.raises(RainException, match="pairs"):
        tasks.MakeDirectory([blob(b"x")])
    with pytest.raises(RainException, match="Store path"):
        tasks.Store(blob(b"x"), None)
