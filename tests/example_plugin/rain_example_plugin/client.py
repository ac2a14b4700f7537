"""The client side of the example plugin: what users of the plugin import.

>>> from rain_example_plugin.client import Sha256
>>> digest = Sha256(blob(b"abc")).output
"""

from __future__ import annotations

from typing import Any, ClassVar

from rain.client import OutputDir
from rain.client.plugin_tasks import PluginTask


class Sha256(PluginTask):
    """Hex SHA-256 digest of one blob."""

    TASK_TYPE = "hash/sha256"

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__([data], **kwargs)


class WordCount(PluginTask):
    """JSON {word: count} of a text blob."""

    TASK_TYPE = "example/word-count"

    def __init__(self, text: Any, **kwargs: Any) -> None:
        super().__init__([text], **kwargs)


class SplitLines(PluginTask):
    """A directory with one file per line of a text blob."""

    TASK_TYPE = "example/split-lines"
    OUTPUTS: ClassVar[list[OutputDir]] = [OutputDir("lines")]

    def __init__(self, text: Any, **kwargs: Any) -> None:
        super().__init__([text], **kwargs)


class Fail(PluginTask):
    """Always fails with `message`."""

    TASK_TYPE = "example/fail"

    def __init__(self, message: str, *, inputs: Any = (), **kwargs: Any) -> None:
        super().__init__(inputs, config=message, **kwargs)


class Wait(PluginTask):
    """Outputs b"done" after `seconds`."""

    TASK_TYPE = "example/wait"

    def __init__(self, seconds: float, *, inputs: Any = (), **kwargs: Any) -> None:
        super().__init__(inputs, config=float(seconds), **kwargs)


class SleepProcess(PluginTask):
    """Outputs the stdout of a child process that sleeps `seconds`."""

    TASK_TYPE = "example/sleep-process"

    def __init__(self, seconds: float, *, pid_file: str | None = None, inputs: Any = (), **kwargs: Any) -> None:
        super().__init__(inputs, config={"seconds": float(seconds), "pid_file": pid_file}, **kwargs)
