"""The Rain client API: build task graphs, submit them, wait and fetch results."""

from rain.client import tasks
from rain.client.client import Client
from rain.client.data import DataObject, blob, directory, pickled
from rain.client.input_output import Input, InputBase, InputDir, Output, OutputBase, OutputDir
from rain.client.plugin_tasks import PluginTask
from rain.client.remote import Remote, remote
from rain.client.program import Program
from rain.client.session import Session
from rain.client.task import Task
from rain.common.errors import RainException, RainWarning, SessionException, TaskException

__all__ = [
    "Client", "Session", "DataObject", "Task", "blob", "pickled", "directory", "tasks",
    "Program", "Input", "InputBase", "InputDir", "Output", "OutputBase", "OutputDir", "remote", "Remote",
    "PluginTask", "RainException", "TaskException", "SessionException", "RainWarning",
]
