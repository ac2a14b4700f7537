"""`rain info`'s table: long task-type lists wrap under their column, within the width."""

from __future__ import annotations

from rain.cli.info import format_table

TYPES = ["buildin/concat", "buildin/export", "buildin/make_directory", "buildin/open", "buildin/open_dir",
         "buildin/run", "buildin/sleep", "buildin/slice_directory", "hash/sha256", "py/call"]


def governor(gid: str) -> dict:
    return {"governor_id": gid, "resources": {"cpus": 4}, "free_cpus": 3, "tasks": [[1, 2]], "objects": [],
            "task_types": TYPES}


def test_task_types_wrap_under_their_column():
    lines = format_table({"governors": [governor("10.0.0.1:4000"), governor("10.0.0.2:4000")]}, width=90).splitlines()
    assert all(len(line) <= 90 for line in lines)
    column = lines[0].index("TASK TYPES")
    assert lines[1].startswith("10.0.0.1:4000") and lines[1][column:].startswith("buildin/concat")
    second = next(i for i, line in enumerate(lines) if line.startswith("10.0.0.2:4000"))
    continuation = lines[2:second]
    assert continuation and all(line[:column].isspace() for line in continuation)
    listed = " ".join(line[column:] for line in lines[1:second]).split(", ")
    assert listed == TYPES  # nothing lost or split inside a name


def test_narrow_terminal_puts_task_types_on_their_own_lines():
    lines = format_table({"governors": [governor("10.0.0.1:4000")]}, width=50).splitlines()
    assert lines[:3] == ["GOVERNOR       CPUS  FREE  TASKS  OBJECTS", "    TASK TYPES",
                         "10.0.0.1:4000  4     3     1      0"]
    assert len(lines) > 4 and all(line.startswith("    ") and len(line) <= 50 for line in lines[3:])
    assert " ".join(lines[3:]).split() == " ".join(TYPES).replace(" ", ", ").replace(",,", ",").split()


def test_no_governors():
    assert format_table({"governors": []}, width=80).endswith("(no governors connected)")
