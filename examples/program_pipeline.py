"""A pipeline of external programs, written as in the Rain 0.4 user guide.

    python examples/program_pipeline.py [HOST:PORT]     # default localhost:7210 (rain start --simple)

`Program` objects are reusable: `stdin="input"` declares an input that each call binds by
keyword, `stdout="output"` names the captured output.
"""

from __future__ import annotations

import hashlib
import sys

from rain.client import Client, Input, Output, Program, blob

# Programs are defined once, outside any session, and called like functions.
md5sum = Program("md5sum", stdin="input", stdout="output")
sort = Program("sort", stdin="input", stdout="output")
uniq_count = Program(["uniq", "-c"], stdin="input", stdout="output")
cat = Program(("cat", Input("input1"), Input("input2")), stdout="output")
word_per_line = Program(["tr", "-s", " ", "\\n"], stdin="input", stdout=Output("output", content_type="text"))

TEXT1 = "the quick brown fox jumps over the lazy dog\n"
TEXT2 = "the dog sleeps and the fox runs\n"


def main(address: str) -> None:
    client = Client(address)
    with client.new_session("program pipeline") as session:
        both = cat(input1=blob(TEXT1), input2=blob(TEXT2))
        words = word_per_line(input=both)
        counted = uniq_count(input=sort(input=words))
        digest = md5sum(input=both)
        counted.output.keep()
        digest.output.keep()
        session.submit()
        counts = {word: int(n) for n, word in (line.split() for line in counted.output.fetch().get_str().splitlines())}
        md5 = digest.output.fetch().get_str().split()[0]
    print("word counts:", counts)
    print("md5 of both texts:", md5)
    assert counts["the"] == 4 and counts["fox"] == 2 and counts["runs"] == 1
    assert md5 == hashlib.md5((TEXT1 + TEXT2).encode()).hexdigest()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "localhost:7210")
