"""Brings up a local Rain (server + one governor) and runs a small workflow end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from rain.client import Client, blob, remote, tasks


@remote()
def shout(ctx, text):
    ctx.debug("shouting %d bytes", len(text.get_bytes()))
    return text.get_str().upper()


def start_local_rain(tmp: str) -> subprocess.Popen[bytes]:
    ready = os.path.join(tmp, "ready")
    output = open(os.path.join(tmp, "rain-start.log"), "wb")  # noqa: SIM115 (kept open for the child)
    process = subprocess.Popen(
        [sys.executable, "-m", "rain", "start", "--simple", "--listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--ready-file", ready, "--logdir", os.path.join(tmp, "logs"),
         "--access-file", os.path.join(tmp, "access.json")],
        stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
    )
    output.close()  # the child has its own copy
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if process.poll() is not None or time.monotonic() > deadline:
            with open(output.name) as log:
                print(log.read(), file=sys.stderr)
            raise SystemExit("rain start did not come up (its log is above)")
        time.sleep(0.05)
    with open(ready) as f:
        info = json.load(f)
    print(f"local Rain is up: server on port {info['port']}, governor {info['governors'][0]}, "
          f"monitoring on port {info['http_port']}")
    return process


def workflow(port: int, access_file: str) -> None:
    """Concat tasks join words, an external program sorts them, a Python task shouts.
    (`rain start` without --access-file keeps the key where `Client("localhost", port)` finds it.)"""
    with Client("127.0.0.1", port, access_file=access_file) as client, client.new_session("demo") as session:
        words = [blob(f"{w}\n") for w in ["rain", "graph", "task", "hello", "from", "a"]]
        pairs = [tasks.Concat(words[i : i + 2]) for i in range(0, len(words), 2)]
        joined = tasks.Concat(pairs, name="join")
        sorted_words = tasks.Execute(["sort", joined], stdout=True, name="sort")
        loud = shout(sorted_words, name="shout")
        loud.output.keep()
        session.submit()
        print("result:", " ".join(loud.output.fetch().get_str().split()))
        session.update([joined, sorted_words, loud])
        for t in (joined, sorted_words, loud):
            print(f"  {t.name:5} ran on governor {t.info.governor} in {t.info.duration * 1000:.1f} ms")
        print("debug of shout:", loud.info.debug)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rain-demo-") as tmp:
        process = start_local_rain(tmp)
        try:
            with open(os.path.join(tmp, "ready")) as f:
                info = json.load(f)
            workflow(info["port"], info["access_file"])
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


if __name__ == "__main__":
    main()
