"""Directory objects processed by ordinary tools, as in the Rain 0.4 user guide.

    python examples/directories.py [HOST:PORT]     # default localhost:7210 (rain start --simple)

A directory from the client's disk becomes a data object; `find` and `tar` see it in the
task's working directory as a real directory (read-only, its files unchanged while a task
reads them, so tar's checks pass). Tasks build new directories (`MakeDirectory`, an
`OutputDir` written by a program) and cut them (`SliceDirectory`).
"""

from __future__ import annotations

import os
import sys
import tarfile
import tempfile

from rain.client import Client, InputDir, OutputDir, Program, blob, directory, tasks

listing = Program(["find", InputDir("data"), "-type", "f"], stdout="output")
# tar checks that no file changes while it reads: the read-only view guarantees it, even while
# the other tasks reading `data` start and end
archive = Program(["tar", "-cf", "out.tar", "-C", InputDir("data"), "."], output_paths=["out.tar"])
unpack = Program("mkdir unpacked && tar -xf in.tar -C unpacked", shell=True, input_paths=["in.tar"],
                 output_paths=[OutputDir("unpacked")])


def make_source(root: str) -> None:
    os.makedirs(os.path.join(root, "docs", "guide"))
    for name, text in [("README", "read me\n"), ("docs/index.txt", "index\n"), ("docs/guide/intro.txt", "intro\n")]:
        with open(os.path.join(root, name), "w") as f:
            f.write(text)


def main(address: str) -> None:
    client = Client(address)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "source")
        make_source(source)
        with client.new_session("directories") as session:
            data = directory(source)
            files = listing(data=data)
            tarred = archive(data=data)
            merged = tasks.MakeDirectory([("", data), ("extra/notes.txt", blob("notes\n"))])
            round_trip = unpack(**{"in.tar": tarred.output})
            guide = tasks.SliceDirectory(round_trip, "docs/guide/")
            for task in (files, tarred, merged, guide):
                task.keep_outputs()
            session.submit()
            found = sorted(files.output.fetch().get_str().split())
            tar_path = os.path.join(tmp, "data.tar")
            tarred.output.fetch().write(tar_path)
            merged.output.fetch().write(os.path.join(tmp, "merged"))
            guide.output.fetch().write(os.path.join(tmp, "guide"))
        with tarfile.open(tar_path) as tf:
            members = sorted(m.name for m in tf.getmembers() if m.isfile())
        print("find saw:", found)
        print("tar holds:", members)
        assert found == ["data/README", "data/docs/guide/intro.txt", "data/docs/index.txt"]
        assert members == ["./README", "./docs/guide/intro.txt", "./docs/index.txt"]
        assert sorted(os.listdir(os.path.join(tmp, "merged"))) == ["README", "docs", "extra"]
        with open(os.path.join(tmp, "guide", "intro.txt")) as f:
            assert f.read() == "intro\n"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "localhost:7210")
