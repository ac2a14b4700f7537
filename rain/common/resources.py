"""What a task may ask for: the one rule for a CPU count, used by the client, the server's
submit validation and the plugin API alike."""

from __future__ import annotations

from typing import Any


def is_cpu_count(value: Any) -> bool:
    """A non-negative int (a bool is not a count, though Python says it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_cpus(value: Any, what: str = "cpus", error: type[Exception] = ValueError) -> int:
    """`value` if it is a CPU count; else raises `error` naming `what` and the value."""
    if not is_cpu_count(value):
        raise error(f"{what} must be a non-negative int, got {value!r}")
    return int(value)


def check_retries(value: Any, error: type[Exception] = ValueError) -> int:
    """`value` if it is a number of retries (a non-negative int); else raises `error`."""
    if type(value) is not int or value < 0:
        raise error(f"retries must be a non-negative int, got {value!r}")
    return value
