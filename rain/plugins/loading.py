"""Builds a governor's plugin manager and collects its task types, refusing clashes.

Order: built-in plugins, then entry points of the group "rain.plugins" (sorted by name), then
modules given with `--plugin` and the config file. Entry points are loaded here rather than with
pluggy's `load_setuptools_entrypoints`, so an import failure names the plugin.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Sequence
from types import ModuleType

import pluggy

from rain.plugins import hookspecs
from rain.plugins.api import TaskType

BUILTIN_PLUGINS = ("rain.plugins.builtin", "rain.plugins.python")
ENTRY_POINT_GROUP = "rain.plugins"


class PluginError(Exception):
    """A plugin cannot be loaded or conflicts with another one; the governor does not start."""


def _import(name: str, origin: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise PluginError(f"cannot import plugin {name!r} ({origin}): {type(exc).__name__}: {exc}") from exc


def _register(pm: pluggy.PluginManager, module: ModuleType) -> None:
    if pm.is_registered(module) or pm.get_plugin(module.__name__) is not None:
        return
    try:
        pm.register(module, name=module.__name__)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid plugin {module.__name__!r}: {exc}") from exc


def build_plugin_manager(extra_modules: Sequence[str] = (), *, entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        _register(pm, _import(name, "built-in"))
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"cannot import plugin {ep.value!r} (entry point {ep.name!r}): {type(exc).__name__}: {exc}"
                ) from exc
            _register(pm, module)
    for name in extra_modules:
        _register(pm, _import(name, "--plugin"))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid plugin {exc.plugin!r}: {exc}") from exc
    return pm


def collect_task_types(pm: pluggy.PluginManager) -> dict[str, TaskType]:
    """task_type string -> TaskType; calls each hook implementation itself to know its plugin."""
    found: dict[str, TaskType] = {}
    owner: dict[str, str] = {}
    for impl in pm.hook.rain_task_types.get_hookimpls():
        try:
            provided = list(impl.function() or ())
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed to list its task types: {exc}") from exc
        for item in provided:
            if not isinstance(item, TaskType):
                raise PluginError(f"plugin {impl.plugin_name!r} returned {item!r}, which is not a TaskType")
            if item.task_type in found:
                raise PluginError(
                    f"task type {item.task_type!r} is provided by both {owner[item.task_type]!r} "
                    f"and {impl.plugin_name!r}"
                )
            found[item.task_type] = item
            owner[item.task_type] = impl.plugin_name
    return found
