"""Brings up a local Rain (server + one governor) and runs a small workflow end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from rain.client import Client, blob, tasks


def start_local_rain(tmp: str) -> subprocess.Popen[bytes]:
    ready = os.path.join(tmp, "ready")
    process = subprocess.Popen(
        [sys.executable, "-m", "rain", "start", "--simple", "--listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--ready-file", ready, "--logdir", os.path.join(tmp, "logs")],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("rain start did not come up; see the log above")
        time.sleep(0.05)
    return process


def workflow(port: int) -> None:
    with Client("127.0.0.1", port) as client, client.new_session("demo") as session:
        words = [blob(f"{w} ") for w in "Hello from a Rain task graph".split()]
        pairs = [tasks.Concat(words[i : i + 2]) for i in range(0, len(words), 2)]
        slow = tasks.Sleep(tasks.Concat(pairs), 0.2, name="pause")
        slow.output.keep()
        session.submit()
        print("result:", slow.output.fetch().get_str().strip())
        slow.update()
        print(f"ran on governor {slow.info.governor} in {slow.info.duration:.3f} s")
        print("governors:", [g["governor_id"] for g in client.get_server_info()["governors"]])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rain-demo-") as tmp:
        process = start_local_rain(tmp)
        try:
            with open(os.path.join(tmp, "ready")) as f:
                workflow(json.load(f)["port"])
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


if __name__ == "__main__":
    main()
