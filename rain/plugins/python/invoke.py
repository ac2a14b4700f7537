"""Running one call inside an executor: inputs -> arguments -> function -> outputs.

The task config written by the client (`rain.client.remote`) is::

    {"args": {param: pickled bytes} | None,   # None: a CBOR map in the input labelled "args"
     "inputs": {param: [load, content_type]},  # per-parameter input handling
     "encode": [encoding or None, ...]}        # per output

Everything that is the user's fault becomes `CallError` (a message, no traceback); an
exception raised by the function becomes an error with its traceback.
"""

from __future__ import annotations

import inspect
import os
import pickle
import traceback
from collections.abc import Mapping
from typing import Any

import cbor2

from rain.common.attributes import ObjectInfo, ObjectSpec
from rain.common.content_types import is_subtype
from rain.common.data_instance import DataInstance
from rain.common.errors import RainException
from rain.common.labeled_list import LabeledList
from rain.plugins.python.context import Context
from rain.plugins.python.messages import INLINE_RESULT_LIMIT, ExecutorCall, bytes_record
from rain.plugins.python.pickling import loads_with_inputs, may_refer_to_inputs


class CallError(Exception):
    """An expected failure of a call (bad return value, wrong content type...)."""


def make_inputs(items: list[Any]) -> list[DataInstance | None]:
    result: list[DataInstance | None] = []
    for item in items:
        if item is None:
            result.append(None)
            continue
        spec = ObjectSpec.from_wire(item["spec"]) if item.get("spec") else None
        result.append(DataInstance(item["data_type"], data=item.get("data"), path=item.get("path"),
                                   spec=spec, info=ObjectInfo.from_wire(item.get("info"))))
    return result


def _resolver(inputs: list[DataInstance | None], param: str, load: bool, content_type: str | None) -> Any:
    def resolve(index: int) -> Any:
        instance = inputs[index]
        if instance is None:
            raise CallError(f"argument {param!r} refers to input {index}, which is not a data object")
        if content_type is not None:
            actual = instance.content_type
            if actual is None:
                instance.info.content_type = content_type
            elif not is_subtype(actual, content_type):
                raise CallError(f"input {index} of argument {param!r} has content type {actual!r}, "
                                f"expected {content_type!r}")
        if load:
            try:
                return instance.load()
            except RainException as exc:
                raise CallError(f"cannot load input {index} of argument {param!r}: {exc}") from None
        return instance
    return resolve


def build_arguments(ctx: Context, config: dict[str, Any], inputs: list[DataInstance | None],
                    signature: inspect.Signature, leading: tuple[str, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of the call. `leading` (see `leading_positional`)
    lets the common call, its arguments all given by position, skip `inspect.BoundArguments`."""
    pickled = config.get("args")
    if pickled is None:
        labels = [i.label for i in ctx.spec.inputs]
        holder = inputs[labels.index("args")]
        assert holder is not None
        pickled = cbor2.loads(holder.get_bytes())
    settings = config.get("inputs") or {}
    arguments = {}
    for name, data in pickled.items():
        if not may_refer_to_inputs(data):
            arguments[name] = pickle.loads(data)
            continue
        load, content_type = settings.get(name, (False, None))
        arguments[name] = loads_with_inputs(data, _resolver(inputs, name, load, content_type))
    names = tuple(arguments)
    if names == leading[:len(names)]:
        return tuple(arguments.values()), {}
    bound = inspect.BoundArguments(signature, arguments)
    return bound.args, bound.kwargs


def call_signature(fn: Any) -> inspect.Signature:
    """The signature without the leading context parameter."""
    sig = inspect.signature(fn)
    return sig.replace(parameters=list(sig.parameters.values())[1:])


def leading_positional(signature: inspect.Signature) -> tuple[str, ...]:
    """The names of the parameters before any `*args`, keyword-only or `**kwargs` one: arguments
    given for a prefix of them, in order, are exactly the call's positional arguments."""
    names = []
    for name, param in signature.parameters.items():
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break
        names.append(name)
    return tuple(names)


def run_function(ctx: Context, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(ctx, *args, **kwargs)
    except BaseException as exc:  # SystemExit too: a task must not end its executor
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        text = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()
        raise CallError(f"{type(exc).__name__}: {exc}\n{text}") from None


# --- outputs ---------------------------------------------------------------------------------

def _describe_outputs(labels: list[str]) -> str:
    return ", ".join(repr(label) for label in labels)


def split_result(result: Any, labels: list[str], encodes: list[str | None]) -> list[Any]:
    """The function's return value as one value per output, or CallError saying what was expected."""
    n = len(labels)
    if isinstance(result, Mapping) and not isinstance(result, LabeledList) and (n != 1 or encodes[0] is None):
        unknown = [k for k in result if k not in labels]
        if unknown:
            raise CallError(f"the function returned unknown output label(s) {_describe_outputs(unknown)}; "
                            f"outputs are {_describe_outputs(labels)}")
        missing = [label for label in labels if label not in result]
        if missing:
            raise CallError(f"the function returned no value for output(s) {_describe_outputs(missing)}")
        return [result[label] for label in labels]
    if n == 0:
        if result is None or (isinstance(result, (tuple, list)) and not result):
            return []
        raise CallError(f"the function returned a {type(result).__name__}, expected None (the task has no outputs)")
    if n == 1:
        if isinstance(result, (tuple, list, LabeledList)) and len(result) == 1 and encodes[0] is None:
            return [result[0]]
        return [result]
    if not isinstance(result, (tuple, list, LabeledList)):
        raise CallError(f"the function returned a {type(result).__name__}, expected a tuple, list or dict "
                        f"of {n} values for outputs {_describe_outputs(labels)}")
    if len(result) != n:
        raise CallError(f"the function returned {len(result)} values, expected {n} "
                        f"for outputs {_describe_outputs(labels)}")
    return list(result)


def to_instance(ctx: Context, value: Any, label: str, content_type: str | None, data_type: str,
                encode: str | None) -> DataInstance:
    if isinstance(value, DataInstance):
        return value
    try:
        if encode is not None:
            return ctx.blob(value, encode=encode)
        if data_type == "blob" and isinstance(value, (bytes, bytearray, memoryview)):
            return ctx.blob(value)
        if data_type == "blob" and isinstance(value, str):
            text_type = content_type if content_type and content_type.startswith("text") else "text"
            return ctx.blob(value, content_type=text_type)
    except RainException as exc:
        raise CallError(f"output {label!r}: {exc}") from None
    expected = ("bytes, str or a DataInstance (or declare Output(encode=...) or auto_encode)"
                if data_type == "blob" else "a DataInstance (e.g. ctx.stage_directory(path))")
    raise CallError(f"output {label!r}: the function returned a {type(value).__name__}, expected {expected}")


def output_record(ctx: Context, instance: DataInstance, inputs: list[DataInstance | None]) -> dict[str, Any]:
    record: dict[str, Any] = {"content_type": instance.info.content_type or instance.content_type,
                              "user": dict(instance.info.user), "data_type": instance.data_type.value}
    for i, inp in enumerate(inputs):
        if inp is instance:
            record["input"] = i
            record["content_type"] = instance.info.content_type
            return record
    if instance.path is not None:
        record["path"] = os.path.abspath(instance.path)
    elif len(instance.data or b"") > INLINE_RESULT_LIMIT:
        path = ctx.stage_path()
        with open(path, "wb") as f:
            f.write(instance.data or b"")
        record["path"] = path
    else:
        record["data"] = instance.data or b""
    return record


def _inline_bytes(value: Any, data_type: str, encode: str | None) -> bool:
    """Whether `value` is plain bytes for a blob output, sent back as its record as it is."""
    return type(value) is bytes and encode is None and data_type == "blob" and len(value) <= INLINE_RESULT_LIMIT


def collect_outputs(ctx: Context, result: Any, call: ExecutorCall, inputs: list[DataInstance | None],
                    config: dict[str, Any]) -> list[dict[str, Any]]:
    encodes = config.get("encode")
    if len(call.outputs) == 1 and _inline_bytes(result, call.outputs[0][2], encodes[0] if encodes else None):
        return [bytes_record(result)]  # the common case: one blob output, plain bytes returned
    labels = [o[0] for o in call.outputs]
    encodes = list(encodes or [None] * len(labels))
    values = split_result(result, labels, encodes)
    records = []
    outputs = zip(values, call.outputs, encodes, strict=False)
    for value, (label, content_type, data_type), encode in outputs:
        if _inline_bytes(value, data_type, encode):
            records.append(bytes_record(value))  # the common case, without a DataInstance in between
            continue
        instance = to_instance(ctx, value, label, content_type, data_type, encode)
        if instance.data_type.value != data_type:
            raise CallError(f"output {label!r} must be a {data_type}, the function returned a "
                            f"{instance.data_type.value}")
        records.append(output_record(ctx, instance, inputs))
    return records
