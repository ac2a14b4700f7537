"""Builds a governor's plugin manager and collects its task types, refusing clashes.

Order: built-in plugins, then entry points of the group "rain.plugins" (sorted by name), then
modules given with `--plugin` and the config file. Entry points are loaded here rather than with
pluggy's `load_setuptools_entrypoints`, so an import failure names the plugin. Every error is a
`PluginError` with a one-line message; the governor prints it and exits.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

import pluggy

from rain.plugins import hookspecs
from rain.plugins.api import TaskType

BUILTIN_PLUGINS = ("rain.plugins.builtin", "rain.plugins.python")
ENTRY_POINT_GROUP = "rain.plugins"

# An extra plugin: a module name, or (module name, where it was named) for error messages.
ExtraModule = str | tuple[str, str]


class PluginError(Exception):
    """A plugin cannot be loaded or conflicts with another one; the governor does not start."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load(what: str, origin: str, load: Callable[[], object]) -> ModuleType:
    try:
        module = load()
    except Exception as exc:
        raise PluginError(f"cannot import plugin {what!r} ({origin}): {_one_line(exc)}") from exc
    if not isinstance(module, ModuleType):
        raise PluginError(f"plugin {what!r} ({origin}) is {module!r}, not a module")
    return module


def _register(pm: pluggy.PluginManager, module: ModuleType, origin: str) -> None:
    """Registers under the module's name; a module already registered (e.g. an entry point also
    given with --plugin) is skipped."""
    if pm.is_registered(module) or pm.get_plugin(module.__name__) is not None:
        return
    try:
        pm.register(module, name=module.__name__)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid plugin {module.__name__!r} ({origin}): {_one_line(exc)}") from exc
    if not pm.get_hookcallers(module):
        pm.unregister(module)
        raise PluginError(f"plugin {module.__name__!r} ({origin}) implements no Rain hook "
                          "(is its rain_task_types decorated with @rain.plugins.hookimpl?)")


def _split(extra: ExtraModule) -> tuple[str, str]:
    return (extra, "--plugin") if isinstance(extra, str) else extra


def build_plugin_manager(extra_modules: Sequence[ExtraModule] = (), *,
                         entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager: built-ins, entry points (unless `entry_points=False`), `extra_modules`."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        _register(pm, _load(name, "built-in", functools.partial(importlib.import_module, name)), "built-in")
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            origin = f"entry point {ep.name!r}" + (f" of {ep.dist.name}" if ep.dist is not None else "")
            _register(pm, _load(ep.value, origin, ep.load), origin)
    for extra in extra_modules:
        name, origin = _split(extra)
        _register(pm, _load(name, origin, functools.partial(importlib.import_module, name)), origin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid plugin {_plugin_name(pm, exc.plugin)!r}: {_one_line(exc)}") from exc
    return pm


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or str(getattr(plugin, "__name__", repr(plugin)))


def _provided(impl: pluggy.HookImpl) -> Iterable[object]:
    try:
        provided: Any = impl.function()
        if provided is None:
            return ()
        if isinstance(provided, TaskType):
            raise TypeError("rain_task_types must return a list of TaskTypes, not a single one")
        return list(provided)
    except Exception as exc:
        raise PluginError(f"plugin {impl.plugin_name!r} failed to list its task types: {_one_line(exc)}") from exc


def collect_task_types(pm: pluggy.PluginManager) -> dict[str, TaskType]:
    """task_type string -> TaskType; calls each hook implementation itself to know its plugin."""
    found: dict[str, TaskType] = {}
    owner: dict[str, str] = {}
    for impl in pm.hook.rain_task_types.get_hookimpls():
        for item in _provided(impl):
            if not isinstance(item, TaskType):
                raise PluginError(f"plugin {impl.plugin_name!r} returned {item!r}, which is not a TaskType")
            if item.task_type in found:
                first = owner[item.task_type]
                both = (f"twice by {first!r}" if first == impl.plugin_name
                        else f"by both {first!r} and {impl.plugin_name!r}")
                raise PluginError(f"task type {item.task_type!r} is provided {both}")
            found[item.task_type] = item
            owner[item.task_type] = impl.plugin_name
    return found


def load_task_types(extra_modules: Sequence[ExtraModule] = (), *, entry_points: bool = True) -> dict[str, TaskType]:
    """`collect_task_types(build_plugin_manager(...))`: what a governor offers."""
    return collect_task_types(build_plugin_manager(extra_modules, entry_points=entry_points))
