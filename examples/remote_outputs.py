"""Python functions as tasks with detailed output specifications, as in the Rain 0.4 user guide.

    python examples/remote_outputs.py [HOST:PORT]     # default localhost:7210 (rain start --simple)

Outputs are declared on the decorator (labels, content types, `encode=` for Python values) and
may be refined per call: None keeps a declared output, a string relabels it, an `Output`
overrides the fields it gives.
"""

from __future__ import annotations

import json
import sys

from rain.client import Client, Input, Output, blob, pickled, remote


@remote(outputs=("text", Output("stats", encode="json"), Output("words", encode="pickle")))
def analyze(ctx, data: Input(content_type="text")):
    text = data.get_str()
    words = text.split()
    ctx.debug("analyzed {} words", len(words))
    return text.upper(), {"words": len(words), "chars": len(text)}, sorted(set(words))


@remote(auto_load=True)
def report(ctx, stats, words, limit) -> Output(content_type="text"):
    shown = ", ".join(words[:limit])
    return f"{stats['words']} words ({stats['chars']} chars); first distinct words: {shown}"


@remote(outputs=2)
def split_halves(ctx, data):
    raw = data.get_bytes()
    return raw[: len(raw) // 2], raw[len(raw) // 2 :]


def main(address: str) -> None:
    client = Client(address)
    with client.new_session("remote outputs") as session:
        text = blob("rain runs tasks and rain moves data between governors")
        result = analyze(text)
        summary = report(result.outputs["stats"], result.outputs["words"], pickled(3))
        # per call: keep "text", relabel "stats", ask for "words" as cloudpickle
        again = analyze(text, outputs=[None, "numbers", Output(content_type="cloudpickle")])
        halves = split_halves(text)
        for task in (result, summary, again, halves):
            task.keep_outputs()
        session.submit()
        upper = result.outputs["text"].fetch().get_str()
        stats = json.loads(result.outputs["stats"].fetch().get_bytes())
        line = summary.output.fetch().get_str()
        numbers = again.outputs["numbers"].fetch().load()
        first, second = (o.fetch().get_bytes() for o in halves.outputs)
        result.update()
        debug = result.info.debug
    print(upper)
    print(line)
    print("labels of the refined call:", list(again.outputs.labels), "debug:", debug)
    assert upper.startswith("RAIN RUNS") and stats == {"words": 9, "chars": 53}
    assert line == "9 words (53 chars); first distinct words: and, between, data"
    assert again.outputs.labels == ["text", "numbers", "words"] and numbers == stats
    assert again.outputs["words"].content_type == "cloudpickle"
    assert halves.outputs.labels == ["out0", "out1"] and first + second == text_bytes()
    assert debug == "analyzed 9 words"


def text_bytes() -> bytes:
    return b"rain runs tasks and rain moves data between governors"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "localhost:7210")
