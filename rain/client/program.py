"""How `Execute` arguments become a `buildin/run` task, and `Program`, the reusable form.

`ExecutePlan.parse` turns the user's arguments (a command string or a list of strings, data
objects, `Input`s and `Output`s, plus `stdin`, `stdout`, `input_paths`, `output_paths`) into
input and output slots with a label and a file name each. The plan is checked once, when it is
made, so a bad argument raises `RainException` at the user's call, not later on a governor.
`Program` keeps a plan whose inputs may still be placeholders; calling it binds them by label
and creates an `Execute` task.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from rain.client.data import DataObject, to_dataobj
from rain.client.input import Input, InputBase, InputDir
from rain.client.output import Output, OutputBase
from rain.common.content_types import check_content_type
from rain.common.errors import RainException
from rain.common.labeled_list import LabeledList
from rain.common.resources import check_cpus, check_retries
from rain.common.states import DataType

if TYPE_CHECKING:
    from rain.client.session import Session
    from rain.client.tasks import Execute

_CALL_KEYWORDS = frozenset({"name", "session", "cpus", "retries"})


@attrs.define
class InSlot:
    input: InputBase
    label: str | None = None
    path: str | None = None
    stdin: bool = False


@attrs.define
class OutSlot:
    output: OutputBase
    label: str | None = None
    path: str | None = None
    stdout: bool = False


def check_path(path: Any, what: str) -> str:
    """A relative path that stays inside the working directory, normalized."""
    if not isinstance(path, str) or not path:
        raise RainException(f"{what} must be a non-empty string, got {path!r}")
    norm = posixpath.normpath(path)
    if posixpath.isabs(path) or norm in (".", "..") or norm.startswith("../"):
        raise RainException(f"{what} {path!r} must be a relative path inside the working directory")
    return norm


def _is_task(value: Any) -> bool:
    from rain.client.task import Task

    return isinstance(value, Task)


def _input_for(value: Any, what: str) -> InputBase:
    """An `Input`/`InputDir` for a data object or task (the class follows the data type)."""
    try:
        obj = to_dataobj(value)
    except RainException as exc:
        raise RainException(f"invalid {what}: {exc}") from None
    return (InputDir if obj.data_type == DataType.DIRECTORY else Input)(dataobj=obj)


@attrs.define
class ExecutePlan:
    """Slots and command-line template of one program run (see the module docstring)."""

    template: list[str | InSlot | OutSlot]
    inputs: list[InSlot]
    outputs: list[OutSlot]
    shell: bool

    @classmethod
    def parse(cls, args: Any, stdout: Any = None, stdin: Any = None, input_paths: Iterable[Any] = (),
              output_paths: Iterable[Any] = (), shell: bool = False) -> ExecutePlan:
        """Unlabelled items of `args` get the label "argN" (N = their position), as in Rain 0.4;
        a string `stdin` or string items of `input_paths` declare inputs bound later by label."""
        plan = cls([], [], [], bool(shell))
        for i, item in enumerate(_split_args(args, shell)):
            if isinstance(item, str):
                plan.template.append(item)
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                plan.template.append(str(item))
            elif isinstance(item, InputBase):
                plan.template.append(plan._add_input(InSlot(item, item.label or f"arg{i}", item.path)))
            elif isinstance(item, OutputBase):
                plan.template.append(plan._add_output(OutSlot(item, item.label or f"arg{i}", item.path)))
            elif isinstance(item, DataObject) or _is_task(item):
                plan.template.append(plan._add_input(InSlot(_input_for(item, "item in args"), f"arg{i}")))
            else:
                raise RainException(f"invalid item in args: {item!r} (expected a str, a data object, "
                                    "a task, an Input or an Output)")
        plan._add_stdin(stdin)
        plan._add_stdout(stdout)
        if isinstance(input_paths, (str, InputBase)) or isinstance(output_paths, (str, OutputBase)):
            raise RainException("input_paths and output_paths must be sequences")
        for item in input_paths:
            if isinstance(item, str):
                item = Input(item)
            if not isinstance(item, InputBase):
                raise RainException(f"input_paths items must be str, Input or InputDir, got {item!r}")
            if item.path is None and item.label is None:
                raise RainException(f"{item!r} in input_paths needs a path or a label")
            plan._add_input(InSlot(item, item.label or item.path, item.path or item.label))
        for item in output_paths:
            if isinstance(item, str):
                item = Output(path=item)
            if not isinstance(item, OutputBase):
                raise RainException(f"output_paths items must be str, Output or OutputDir, got {item!r}")
            if item.path is None and item.label is None:
                raise RainException(f"{item!r} in output_paths needs a path or a label")
            plan._add_output(OutSlot(item, item.label, item.path or item.label))
        plan._resolve()
        return plan

    # --- building ---------------------------------------------------------------------------

    def _add_input(self, slot: InSlot) -> InSlot:
        self.inputs.append(slot)
        return slot

    def _add_output(self, slot: OutSlot) -> OutSlot:
        self.outputs.append(slot)
        return slot

    def _add_stdin(self, stdin: Any) -> None:
        if stdin is None:
            return
        if isinstance(stdin, str):  # a label: the input is bound when a Program is called
            inp: InputBase = Input(stdin)
        else:
            inp = stdin if isinstance(stdin, InputBase) else _input_for(stdin, "stdin")
        if inp.data_type != DataType.BLOB:
            raise RainException(f"stdin must be a blob, got {stdin!r}")
        self._add_input(InSlot(inp, inp.label or "stdin", None, stdin=True))

    def _add_stdout(self, stdout: Any) -> None:
        if stdout is None or stdout is False:
            return
        if stdout is True:
            out: OutputBase = Output("stdout")
        elif isinstance(stdout, str):
            out = Output(stdout)
        elif isinstance(stdout, OutputBase):
            out = stdout
        else:
            raise RainException(f"invalid stdout {stdout!r} (expected True, a label or an Output)")
        if out.data_type != DataType.BLOB or out.path is not None:
            raise RainException(f"stdout must be a blob Output without a path, got {stdout!r}")
        self._add_output(OutSlot(out, out.label or "stdout", None, stdout=True))

    def _resolve(self) -> None:
        """Checks paths, gives unnamed slots fresh file names and every slot a unique label."""
        slots: list[InSlot | OutSlot] = [*self.inputs, *self.outputs]
        for slot in slots:
            if slot.path is None and slot.label is not None and not _is_std(slot):
                slot.path = slot.label
            if slot.path is not None:
                kind = "input" if isinstance(slot, InSlot) else "output"
                slot.path = check_path(slot.path, f"{kind} path")
        used = {s.path for s in slots if s.path is not None}
        counter = 0
        for slot in slots:
            if slot.path is None and not _is_std(slot):
                prefix = "in" if isinstance(slot, InSlot) else "out"
                while f"{prefix}{counter}" in used:
                    counter += 1
                slot.path = f"{prefix}{counter}"
                used.add(slot.path)
            if slot.label is None:
                slot.label = slot.path
        for kind, group in (("input", self.inputs), ("output", self.outputs)):
            _unique([s.label for s in group], f"{kind} label")
            _unique([s.path for s in group if s.path is not None], f"{kind} path")

    # --- binding (Program) ------------------------------------------------------------------

    @property
    def unbound(self) -> list[str]:
        return [s.label for s in self.inputs if s.input.dataobj is None]  # type: ignore[misc]

    def bind(self, bindings: Mapping[str, Any]) -> ExecutePlan:
        """A copy with inputs bound (data objects or `Input`s) and outputs overridden (an
        `Output` or a content type string), both by label."""
        known = {s.label for s in self.inputs} | {s.label for s in self.outputs}
        unknown = sorted(set(bindings) - known)
        if unknown:
            raise RainException(f"unknown input or output {unknown[0]!r} (inputs: "
                                f"{[s.label for s in self.inputs]}, outputs: {[s.label for s in self.outputs]})")
        inputs = [self._bind_input(s, bindings[s.label]) if s.label is not None and s.label in bindings
                  else attrs.evolve(s) for s in self.inputs]
        missing = [s.label for s in inputs if s.input.dataobj is None]
        if missing:
            raise RainException(f"missing input {missing[0]!r}")
        outputs = [self._bind_output(s, bindings[s.label]) if s.label is not None and s.label in bindings
                   else attrs.evolve(s)
                   for s in self.outputs]
        mapping: dict[int, InSlot | OutSlot] = {id(a): b for a, b in zip(self.inputs, inputs, strict=True)}
        mapping.update({id(a): b for a, b in zip(self.outputs, outputs, strict=True)})
        template = [item if isinstance(item, str) else mapping[id(item)] for item in self.template]
        return ExecutePlan(template, inputs, outputs, self.shell)

    @staticmethod
    def _bind_input(slot: InSlot, value: Any) -> InSlot:
        old = slot.input
        try:
            if isinstance(value, InputBase):
                if value.dataobj is None:
                    raise RainException("the Input has no data object")
                new = type(old)(slot.label, old.path, value.dataobj,
                                value.load if value.load is not None else old.load,
                                value.content_type or old.content_type, value.write or old.write)
            else:
                new = old.bind(value)
        except RainException as exc:
            raise RainException(f"input {slot.label!r}: {exc}") from None
        return attrs.evolve(slot, input=new)

    @staticmethod
    def _bind_output(slot: OutSlot, value: Any) -> OutSlot:
        old = slot.output
        if isinstance(value, str):
            try:
                ct = check_content_type(value)
            except ValueError as exc:
                raise RainException(f"output {slot.label!r}: {exc}") from None
            new = type(old)(slot.label, size_hint=old.size_hint, content_type=ct, mode=old.mode, path=old.path)
        elif isinstance(value, OutputBase):
            if value.data_type != old.data_type:
                raise RainException(f"output {slot.label!r} is a {old.data_type.value}, got {value!r}")
            if value.path is not None and value.path != slot.path:
                raise RainException(f"output {slot.label!r}: a call cannot change the file path "
                                    f"({value.path!r}); it is part of the command line")
            merged = value.merge_with_prototype(old)
            new = type(old)(slot.label, size_hint=merged.size_hint, content_type=merged.content_type,
                            encode=merged.encode, mode=merged.mode, path=old.path)
        else:
            raise RainException(f"output {slot.label!r} takes an Output or a content type, got {value!r}")
        return attrs.evolve(slot, output=new)

    # --- task arguments ---------------------------------------------------------------------

    def task_inputs(self) -> LabeledList[Any]:
        return LabeledList(pairs=[(s.label, s.input.dataobj) for s in self.inputs])

    def task_outputs(self) -> list[OutputBase]:
        return [s.output.with_defaults(s.label) for s in self.outputs]

    def config(self) -> dict[str, Any]:
        def render(item: str | InSlot | OutSlot) -> str:
            if isinstance(item, str):
                return item
            assert item.path is not None
            return shlex.quote(item.path) if self.shell else item.path

        stdin = [i for i, s in enumerate(self.inputs) if s.stdin]
        stdout = [i for i, s in enumerate(self.outputs) if s.stdout]
        return {
            "args": [render(item) for item in self.template],
            "shell": self.shell,
            "inputs": [{"path": s.path, "write": bool(s.input.write), "content_type": s.input.content_type}
                       for s in self.inputs],
            "outputs": [{"path": s.path} for s in self.outputs],
            "stdin": stdin[0] if stdin else None,
            "stdout": stdout[0] if stdout else None,
        }


def _is_std(slot: InSlot | OutSlot) -> bool:
    return slot.stdin if isinstance(slot, InSlot) else slot.stdout


def _unique(values: list[Any], what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise RainException(f"{what} {v!r} is used twice")
        seen.add(v)


def _split_args(args: Any, shell: bool) -> list[Any]:
    if isinstance(args, str):
        if shell:
            return [args]  # the shell parses it, quotes and all
        try:
            items: list[Any] = shlex.split(args)
        except ValueError as exc:
            raise RainException(f"cannot split args {args!r}: {exc}") from None
    elif isinstance(args, (list, tuple)):
        items = list(args)
    else:
        raise RainException(f"args must be a string or a list, got {args!r}")
    if not items:
        raise RainException("args must name a program")
    return items


class Program:
    """A reusable external program: `Execute` arguments with `Input` placeholders.

    >>> cat = Program(["cat", Input("a"), Input("b")], stdout=True, name="cat")
    >>> t = cat(a=obj1, b=obj2)        # an Execute task in the active session

    >>> md5sum = Program("md5sum", stdin="input", stdout="output")
    >>> md5sum(input=obj).output

    Calling it binds each placeholder by label (a data object, a task or an `Input`), may
    refine an output by label (an `Output`, merged with the declared one, or a content type
    string) and accepts `name=`, `session=`, `cpus=` and `retries=`. Missing or unknown labels raise
    `RainException`.
    """

    def __init__(self, args: Any, stdout: Any = None, stdin: Any = None, input_paths: Iterable[Any] = (),
                 output_paths: Iterable[Any] = (), shell: bool = False, *, name: str | None = None,
                 cpus: int = 1, retries: int = 0) -> None:
        self._plan = ExecutePlan.parse(args, stdout, stdin, input_paths, output_paths, shell)
        for label in [s.label for s in self._plan.inputs] + [s.label for s in self._plan.outputs]:
            if label in _CALL_KEYWORDS:
                raise RainException(f"label {label!r} clashes with a keyword of Program calls")
        _unique([s.label for s in self._plan.inputs] + [s.label for s in self._plan.outputs], "label")
        if name is not None and not isinstance(name, str):
            raise RainException(f"Program name must be a str, got {name!r}")
        check_cpus(cpus, error=RainException)
        check_retries(retries, error=RainException)
        self.name = name
        self.cpus = cpus
        self.retries = retries

    @property
    def input_labels(self) -> list[str]:
        """The labels of the program's inputs, the keywords of a call."""
        return [s.label for s in self._plan.inputs]  # type: ignore[misc]

    @property
    def output_labels(self) -> list[str]:
        """The labels of the program's outputs (a call may override them by label)."""
        return [s.label for s in self._plan.outputs]  # type: ignore[misc]

    def __call__(self, *, name: str | None = None, session: Session | None = None, cpus: int | None = None,
                 retries: int | None = None, **bindings: Any) -> Execute:
        """An `Execute` task with the inputs bound by label, in the active session."""
        from rain.client.tasks import Execute

        plan = self._plan.bind(bindings)
        return Execute._from_plan(plan, name=name if name is not None else self.name, session=session,
                                  cpus=self.cpus if cpus is None else cpus,
                                  retries=self.retries if retries is None else retries)

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Program{name} inputs={self.input_labels} outputs={self.output_labels}>"


__all__ = ["ExecutePlan", "Program"]
