"""The Rain client API: build task graphs, submit them, wait and fetch results."""

from rain.client import tasks
from rain.client.client import Client
from rain.client.data import DataObject, blob, directory, pickled
from rain.client.input import Input, InputBase, InputDir
from rain.client.output import Output, OutputBase, OutputDir
from rain.client.plugin_tasks import PluginTask
from rain.client.program import Program
from rain.client.remote import Remote, remote
from rain.client.session import Session
from rain.client.task import Task
from rain.common.errors import RainException, RainWarning, SessionException, TaskException

__all__ = [
    "Client",
    "DataObject",
    "Input",
    "InputBase",
    "InputDir",
    "Output",
    "OutputBase",
    "OutputDir",
    "PluginTask",
    "Program",
    "RainException",
    "RainWarning",
    "Remote",
    "Session",
    "SessionException",
    "Task",
    "TaskException",
    "blob",
    "directory",
    "pickled",
    "remote",
    "tasks",
]
