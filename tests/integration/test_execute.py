"""Execute and Program on real governors: pipelines, stdin/stdout, shell, links, failures."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from rain.client import Input, Output, OutputDir, Program, TaskException, blob, tasks
from tests.cluster import ran_one_at_a_time, spans, wait_until

BIG = 300_000  # above the store's in-memory limit, so the data is a read-only file on disk


@pytest.mark.parametrize("governors", [[1], [1, 1]])
def test_cat_stdout(make_cluster, governors):
    client = make_cluster(governors).client()
    with client.new_session() as s:
        t = tasks.Execute(["cat", blob(b"hello "), blob(os.urandom(BIG)), blob(b"world")], stdout=True)
        t.keep_outputs()
        s.submit()
        out = t.output.fetch().get_bytes()
        assert out[:6] == b"hello " and out[-5:] == b"world" and len(out) == BIG + 11
        assert t.outputs["stdout"] is t.output


@pytest.mark.parametrize("governors", [[1], [1, 1, 1, 1]])
def test_tee_split_grep_cat_pipeline(make_cluster, governors):
    client = make_cluster(governors).client()
    lines = [f"{'x' if i % 3 == 0 else 'y'} line {i}\n" for i in range(40)]
    text = "".join(lines).encode()
    with client.new_session() as s:
        data = blob(text)
        tee = tasks.Execute(["tee", Output("copy1"), Output("copy2", path="sub/copy2")], stdin=data,
                            stdout="passed")
        split = tasks.Execute(["split", "-l", "20", Input("whole", dataobj=tee.outputs["copy2"]), "part-"],
                              output_paths=["part-aa", Output("second", path="part-ab")])
        greps = [tasks.Execute(["grep", "x", part], stdout=True) for part in split.outputs]
        cat = tasks.Execute(["cat", *greps], stdout=Output("all", content_type="text"))
        for t in (tee, split, cat):
            t.keep_outputs()
        s.submit()
        assert [o.label for o in tee.outputs] == ["copy1", "copy2", "passed"]
        assert [o.fetch().get_bytes() for o in tee.outputs] == [text] * 3
        assert split.outputs["part-aa"].fetch().get_bytes() == "".join(lines[:20]).encode()
        assert split.outputs["second"].fetch().get_bytes() == "".join(lines[20:]).encode()
        result = cat.output.fetch()
        assert result.get_str() == "".join(line for line in lines if line.startswith("x"))
        assert result.content_type == "text"


def test_stdin_from_input_and_object(client):
    with client.new_session() as s:
        a = tasks.Execute("wc -l", stdin=Input("lines", dataobj=blob(b"1\n2\n3\n")), stdout=True)
        b = tasks.Execute(["tr", "a-z", "A-Z"], stdin=blob(b"abc" * BIG), stdout=True)
        a.keep_outputs()
        b.keep_outputs()
        s.submit()
        assert a.output.fetch().get_bytes().strip() == b"3"
        assert [label for label, _ in a.inputs.items()] == ["lines"]
        assert b.output.fetch().get_bytes() == b"ABC" * BIG


def test_shell_vs_no_shell(client):
    with client.new_session() as s:
        plain = tasks.Execute("echo $HOME", stdout=True)
        shell = tasks.Execute("echo $HOME", stdout=True, shell=True)
        pipe = tasks.Execute(["cat", blob(b"a\nb\nc\n"), "|", "wc", "-l"], stdout=True, shell=True)
        for t in (plain, shell, pipe):
            t.keep_outputs()
        s.submit()
        assert plain.output.fetch().get_bytes() == b"$HOME\n"
        assert shell.output.fetch().get_bytes() == (os.environ["HOME"] + "\n").encode()
        assert pipe.output.fetch().get_bytes().strip() == b"3"


@pytest.mark.parametrize("size", [10, BIG])
def test_linked_input_is_read_only(client, size):
    data = os.urandom(size)
    script = "if [ -w in ]; then echo writable; else echo read-only; fi; echo junk >> in; cat in"
    with client.new_session() as s:
        obj = blob(data)
        obj.keep()
        t = tasks.Execute(["sh", "-c", script], input_paths=[Input("in", dataobj=obj)], stdout=True)
        t.keep_outputs()
        s.submit()
        assert t.output.fetch().get_bytes() == b"read-only\n" + data
        assert obj.fetch().get_bytes() == data


def test_write_to_linked_input_fails_the_task(client):
    with client.new_session() as s:
        tasks.Execute(["sh", "-c", "echo junk >> in"], input_paths=[Input("in", dataobj=blob(b"x" * BIG))],
                      name="writer")
        s.submit()
        with pytest.raises(TaskException, match=r"writer.*exit code \d+: .*Permission denied"):
            s.wait_all()


def test_write_input_is_private(client):
    data = os.urandom(BIG)
    with client.new_session() as s:
        obj = blob(data)
        obj.keep()
        changed = tasks.Execute(["sh", "-c", "echo more >> in; cat in"],
                                input_paths=[Input("in", dataobj=obj, write=True)], stdout=True)
        # runs after `changed` (it needs its output) and still sees the original data
        after = tasks.Execute(["cat", obj, changed], stdout=True)
        after.keep_outputs()
        s.submit()
        assert after.output.fetch().get_bytes() == data + data + b"more\n"
        assert obj.fetch().get_bytes() == data


def test_output_in_place_of_write_input(client):
    """An output may be the (modified) private copy of an input."""
    with client.new_session() as s:
        t = tasks.Execute(["sed", "-i", "s/a/b/", Input("f", dataobj=blob(b"aaa\n"), write=True)],
                          output_paths=["f"])
        t.keep_outputs()
        s.submit()
        assert t.output.fetch().get_bytes() == b"baa\n"


@pytest.mark.parametrize("make, match", [
    (lambda: tasks.Execute("nope-no-such-program x"), "program 'nope-no-such-program' not found"),
    (lambda: tasks.Execute(["/bin/nope"]), "program '/bin/nope' not found"),
    (lambda: tasks.Execute(["sh", "-c", "echo first >&2; echo oops >&2; exit 2"]), "exit code 2: first\noops"),
    (lambda: tasks.Execute(["sh", "-c", "exit 5"]), r"exit code 5 \(no stderr output\)"),
    (lambda: tasks.Execute(["sh", "-c", "kill -9 $$"]), "killed by signal SIGKILL"),
    (lambda: tasks.Execute("true", output_paths=["never"]), "output 'never': the program did not create 'never'"),
    (lambda: tasks.Execute("mkdir d", output_paths=[Output("d")]), "'d' is not a file"),
    (lambda: tasks.Execute("touch f", output_paths=[OutputDir("f")]), "'f' is not a directory"),
    (lambda: tasks.Execute("cat", stdin=Input(dataobj=blob(b"x"), content_type="json")),
     "input 'stdin' has content type None, expected 'json'"),
    (lambda: tasks.Execute(["sh", "-c", "echo ok; exit 1"], stdout=True, shell=True), "exit code 1"),
])
def test_execute_failures(client, make, match):
    with client.new_session() as s:
        t = make()
        s.submit()
        with pytest.raises(TaskException, match=match) as info:
            t.wait()
        assert "test_execute.py" in str(info.value)  # names where the task was created


def test_stderr_tail_is_bounded(client):
    with client.new_session() as s:
        t = tasks.Execute(["sh", "-c", "seq 1 20000 >&2; exit 3"])
        s.submit()
        with pytest.raises(TaskException) as info:
            t.wait()
    message = str(info.value)
    assert "exit code 3: " in message and "19999\n20000" in message
    assert "\n100\n" not in message


def test_content_types_and_load(client):
    with client.new_session() as s:
        js = tasks.Execute(["echo", '{"a": [1, 2]}'], stdout=Output(content_type="json"))
        prog = Program(["cp", Input("src"), Output("dst", content_type="text")], name="copy")
        copied = prog(src=blob("žluťoučký"))
        overridden = prog(src=js, dst=Output(content_type="json"))
        for t in (js, copied, overridden):
            t.keep_outputs()
        s.submit()
        assert js.output.fetch().load() == {"a": [1, 2]}
        assert copied.output.fetch().get_str() == "žluťoučký"
        assert copied.output.fetch().content_type == "text"
        assert copied.name == "copy"
        assert overridden.output.fetch().load() == {"a": [1, 2]}
        js.output.update()
        assert js.output.content_type == "json"
        assert js.output.info.content_type == "json"


def test_program_reuse(make_cluster):
    client = make_cluster([1, 1]).client()
    sort = Program(["sort", Input("data")], stdout=True, name="sorter")
    upper = Program("tr a-z A-Z", stdin=Input("text"), stdout=True)
    with client.new_session() as s:
        ts = [upper(text=sort(data=blob(f"c{i}\nb\na{i}\n"))) for i in range(5)]
        for t in ts:
            t.keep_outputs()
        s.submit()
        assert [t.output.fetch().get_str() for t in ts] == [f"A{i}\nB\nC{i}\n" for i in range(5)]
        assert ts[0].inputs[0].label == "stdout"


def test_cpus_are_held(make_cluster, tmp_path):
    """A 2-CPU program on a 2-CPU governor runs alone; the next one waits for it."""
    client = make_cluster([2]).client()
    lock = tmp_path / "lock"  # taken by one program at a time, or mkdir fails the second
    with client.new_session() as s:
        ts = [tasks.Execute(["sh", "-c", f"mkdir {lock} && sleep 0.3 && rmdir {lock}"], cpus=2) for _ in range(2)]
        s.submit()
        s.wait(ts)
        assert ran_one_at_a_time(ts)


def _grid_expected(rows: list[bytes], steps: int) -> list[bytes]:
    n = len(rows)
    for step in range(steps):
        if step % 2 == 0:
            rows = [rows[i] + rows[(i + 1) % n] for i in range(n)]
        else:
            rows = [f"{hashlib.md5(r).hexdigest()}  -\n".encode() for r in rows]
    return rows


def test_grid_cat_md5sum_four_governors(make_cluster):
    cluster = make_cluster([1, 1, 1, 1])
    client = cluster.client()
    n = 20
    start_rows = [f"cell {i}\n".encode() * (i + 1) for i in range(n)]
    with client.new_session() as s:
        row = [blob(r) for r in start_rows]
        for step in range(n):
            if step % 2 == 0:
                row = [tasks.Execute(["cat", row[i], row[(i + 1) % n]], stdout=True) for i in range(n)]
            else:
                row = [tasks.Execute("md5sum", stdin=row[i], stdout=True) for i in range(n)]
        for t in row:
            t.keep_outputs()
        s.submit()
        results = [t.output.fetch().get_bytes() for t in row]
        for t in row:
            t.update()
        used = {t.info.governor for t in row}
    assert results == _grid_expected(start_rows, n)
    assert len(used) > 1  # the grid really was spread over governors


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:  # gone between the two looks
        return False


def test_closed_session_kills_program_group(make_cluster, tmp_path):
    client = make_cluster([1]).client()
    pids = tmp_path / "pids"
    s1 = client.new_session()
    with s1.bind_only():
        # the shell and a grandchild in its process group
        tasks.Execute(f"sleep 30 & echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait", shell=True)
        submitted = time.time()
        s1.submit()
    wait_until(pids.exists, what="the program to start")
    shell_pid, child_pid = map(int, pids.read_text().split())
    assert _alive(shell_pid) and _alive(child_pid)
    s1.close()
    with client.new_session() as s2:
        t = tasks.Execute(["echo", "next"], stdout=True)  # needs the only CPU, which the program held
        t.keep_outputs()
        s2.submit()
        assert t.output.fetch().get_bytes() == b"next\n"
        [(started, _end)] = spans([t])
    assert started < submitted + 30  # long before the program would have ended
    wait_until(lambda: not _alive(shell_pid) and not _alive(child_pid), what="the whole group to be killed")


def test_background_job_output_stays_out_of_later_tasks(make_cluster, tmp_path):
    """A program's stderr file is reused by later programs only once nothing can write to it:
    here a background job of the first program writes to it while the second one runs."""
    client = make_cluster([1]).client()
    asked, written = tmp_path / "asked", tmp_path / "written"
    wait_for = "i=0; while [ ! -e {0} ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done"
    with client.new_session() as s:
        first = tasks.Execute(f"({wait_for.format(asked)}; echo LATE >&2; touch {written}) & echo started",
                              shell=True, stdout=True)
        second = tasks.Execute(f"touch {asked}; {wait_for.format(written)}; echo mine >&2; exit 3",
                               shell=True, input_paths=[Input("x", dataobj=first)])
        s.submit()
        with pytest.raises(TaskException, match="exit code 3") as info:
            second.wait()
    assert written.exists()  # the late write happened while the second program ran
    assert "mine" in str(info.value) and "LATE" not in str(info.value)
    with client.new_session() as s:  # and it stays out of the programs after
        t = tasks.Execute(["sh", "-c", "echo alone >&2; exit 4"])
        s.submit()
        with pytest.raises(TaskException, match="exit code 4: alone") as info:
            t.wait()
    assert "LATE" not in str(info.value)


def test_program_starts_clean(client):
    """Programs start like those of a shell: default SIGPIPE (Python ignores it), glibc's own
    signals (32, 33) not ignored, no descriptor of the governor's beyond stdin/out/err, stdin
    empty, and their own session."""
    with client.new_session() as s:
        t = tasks.Execute(["sh", "-c", "grep SigIgn /proc/self/status; ls /proc/$$/fd; cat; "
                           "cut -d' ' -f6 /proc/$$/stat; echo $$"], stdout=True)
        t.keep_outputs()
        s.submit()
        lines = t.output.fetch().get_bytes().decode().split()
    ignored = int(lines[1], 16)
    for sig in (13, 25, 32, 33):
        assert not ignored & (1 << (sig - 1)), sig
    assert lines[2:-2] == ["0", "1", "2"]
    assert lines[-2] == lines[-1]  # the shell leads its own session


def test_large_stdout_survives_later_programs(make_cluster):
    """A stdout too large to keep in memory becomes the stored object's file; the programs
    after it (which reuse capture files) must not touch it."""
    client = make_cluster([1]).client()
    expected = "".join(f"{i}\n" for i in range(1, 60001)).encode()  # above the in-memory limit
    with client.new_session() as s:
        big = tasks.Execute(["seq", "1", "60000"], stdout=True)
        big.keep_outputs()
        later = [tasks.Execute(["sh", "-c", f"echo {i}; echo e{i} >&2"], stdout=True,
                               input_paths=[Input("x", dataobj=big)]) for i in range(4)]
        for t in later:
            t.keep_outputs()
        s.submit()
        assert [t.output.fetch().get_bytes() for t in later] == [b"%d\n" % i for i in range(4)]
        assert big.output.fetch().get_bytes() == expected
