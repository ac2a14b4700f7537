"""Former home of `Input`/`Output`; they live in `rain.client.input` and `rain.client.output`."""

from rain.client.input import Input, InputBase, InputDir
from rain.client.output import Output, OutputBase, OutputDir

__all__ = ["Input", "InputBase", "InputDir", "Output", "OutputBase", "OutputDir"]
