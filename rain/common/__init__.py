"""Pieces shared by client, server, governor and executors."""

from rain.common.data_instance import DataInstance
from rain.common.errors import RainException, RainWarning, SessionException, TaskException
from rain.common.ids import ID
from rain.common.labeled_list import LabeledList
from rain.common.states import DataObjectState, DataType, TaskState

__all__ = [
    "ID",
    "DataInstance",
    "DataObjectState",
    "DataType",
    "LabeledList",
    "RainException",
    "RainWarning",
    "SessionException",
    "TaskException",
    "TaskState",
]
