"""Many tasks reading one dir input at once on one governor: none sees its files change."""

from __future__ import annotations

import pytest

from rain.client import InputDir, blob, directory, tasks
from tests.files import tree_contents

FILES = 300
READERS = 12
ROUNDS = 3
# tar fails ("file changed as we read it", exit 1) when a file's ctime moves while it reads it
TAR = "tar -cf - -C d . > out.tar && wc -c < out.tar"


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    for i in range(FILES):
        sub = root / f"d{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}").write_bytes(b"%d\n" % i * (i % 7 + 1))
    return root


@pytest.mark.timeout(180)
def test_concurrent_tar_readers_of_one_dir_all_succeed(make_cluster, tmp_path, src):
    client = make_cluster([8]).client()
    with client.new_session() as s:
        data = directory(str(src))
        data.keep()
        s.submit()
        s.wait_all()
        for round_ in range(ROUNDS):
            readers = [tasks.Execute(["sh", "-c", TAR], input_paths=[InputDir("d", dataobj=data)], stdout=True)
                       for _ in range(READERS)]
            # a new object built from the same files while they are read (links what nobody holds)
            built = tasks.MakeDirectory([("", data), ("extra", blob(b"E"))])
            for task in [*readers, built]:
                task.keep_outputs()
            s.submit()
            sizes = {int(task.output.fetch().get_str()) for task in readers}
            assert len(sizes) == 1 and sizes.pop() > FILES * 512, round_
            built.output.fetch().write(str(tmp_path / f"built{round_}"))
            made = tree_contents(tmp_path / f"built{round_}")
            assert made.pop("extra") == b"E"
            assert made == tree_contents(src)
            for task in [*readers, built]:
                task.output.unkeep()
