"""Keep-alive sessions outlive their client; other processes attach to them by id."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from rain.client import blob, tasks
from rain.common.errors import RainException, SessionException
from tests.integration.test_info_sessions import rain_info


def run_script(cluster, code: str) -> str:
    """Runs `code` in a fresh Python process with `client` connected to the cluster."""
    prelude = (f"from rain.client import Client, blob, tasks\n"
               f"client = Client('127.0.0.1', {cluster.port}, access_file={cluster.access_file!r})\n")
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_script_submits_and_exits_another_attaches_and_fetches(cluster):
    out = run_script(cluster, """
        session = client.new_session("campaign", keep_alive=True)
        with session.bind_only():
            a = tasks.Concat([blob(b"hello "), blob(b"world")])
            a.output.keep()
            b = tasks.Execute("sleep 0.3; echo done", shell=True, stdout="result")
            b.output.keep()
            session.submit()
        print(session.session_id, a.output.id.id)
    """)
    session_id, concat_id = map(int, out.split())
    client = cluster.client()
    session = client.attach_session(session_id)
    assert session.name == "campaign"
    session.wait_all()
    assert session.get_object(concat_id).fetch().get_bytes() == b"hello world"
    result = session.get_object("result")
    assert result.fetch().get_bytes() == b"done\n"
    assert "campaign" in rain_info(cluster) and "keep-alive" in rain_info(cluster)
    with pytest.raises(RainException, match="labelled 'nothing'"):
        session.get_object("nothing")
    with session.bind_only():  # the attached session takes new work, its ids after the old ones
        more = tasks.Concat([result, blob(b"!")])
        more.output.keep()
        session.submit()
    assert more.output.fetch().get_bytes() == b"done\n!"
    session.close()
    other = cluster.client()
    with pytest.raises(SessionException, match=f"session {session_id} is closed or unknown"):
        other.attach_session(session_id)


def test_info_shows_a_detached_session(cluster):
    out = run_script(cluster, """
        session = client.new_session("left behind", keep_alive=True)
        print(session.session_id)
    """)
    session_id = int(out)
    lines = [line for line in rain_info(cluster).splitlines() if line.startswith(f"{session_id} ")]
    assert lines and "idle, keep-alive, detached" in lines[0]
    cluster.client().attach_session(session_id).close()
    assert not any(line.startswith(f"{session_id} ") for line in rain_info(cluster).splitlines())


def test_a_plain_session_closes_with_its_client_and_cannot_be_attached(cluster):
    out = run_script(cluster, """
        session = client.new_session("plain")
        print(session.session_id)
    """)
    with pytest.raises(SessionException, match="closed or unknown"):
        cluster.client().attach_session(int(out))
    client = cluster.client()
    plain = client.new_session("mine")
    with pytest.raises(SessionException, match="was not created with keep_alive=True"):
        cluster.client().attach_session(plain.session_id)
    with pytest.raises(RainException, match="keep_alive must be True or False"):
        client.new_session("x", keep_alive="yes")  # type: ignore[arg-type]
