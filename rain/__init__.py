"""Rain: a distributed task-graph framework (server, governors, Python client)."""

__version__ = "0.1.0"
