"""Plugin loading with fresh plugin managers and inline plugins (no governor, no processes)."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pluggy
import pytest

from rain.plugins import TaskContext, TaskType, hookimpl, loading, task_type
from rain.plugins.loading import BUILTIN_PLUGINS, PluginError, build_plugin_manager, collect_task_types


async def _run(ctx: TaskContext) -> None:
    return None


def _plugin(*names: str):  # type: ignore[no-untyped-def]
    class Plugin:
        @hookimpl
        def rain_task_types(self) -> list[TaskType]:
            return [TaskType(n, _run) for n in names]

    return Plugin()


def _module(monkeypatch, name: str, **attrs: object) -> types.ModuleType:  # type: ignore[no-untyped-def]
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """Built-ins only: no installed entry points, so tests do not depend on the environment."""
    return build_plugin_manager(entry_points=False)


def test_builtins_come_first(pm):
    names = [name for name, _ in pm.list_name_plugin()]
    assert names == list(BUILTIN_PLUGINS)
    found = collect_task_types(pm)
    assert {"buildin/concat", "buildin/sleep"} <= set(found)
    assert all(isinstance(t, TaskType) for t in found.values())


def test_inline_plugin_adds_task_types(pm):
    pm.register(_plugin("mine/a", "mine/b"), name="mine")
    found = collect_task_types(pm)
    assert {"mine/a", "mine/b"} <= set(found)
    assert found["mine/a"].run is _run


def test_clash_names_both_plugins(pm):
    pm.register(_plugin("shared/op"), name="first")
    pm.register(_plugin("shared/op"), name="second")
    with pytest.raises(PluginError, match=r"'shared/op' is provided by both 'first' and 'second'"):
        collect_task_types(pm)


def test_clash_with_a_builtin(pm):
    pm.register(_plugin("buildin/concat"), name="copycat")
    with pytest.raises(PluginError, match="'rain.plugins.builtin' and 'copycat'"):
        collect_task_types(pm)


def test_same_name_twice_in_one_plugin(pm):
    pm.register(_plugin("dup/x", "dup/x"), name="dup")
    with pytest.raises(PluginError, match="'dup/x' is provided twice by 'dup'"):
        collect_task_types(pm)


@pytest.mark.parametrize("result,message", [
    (["not a task type"], "returned 'not a task type', which is not a TaskType"),
    (TaskType("one/only", _run), "must return a list of TaskTypes"),
    (42, "failed to list its task types: TypeError"),
])
def test_bad_hook_results(pm, result, message):
    class Bad:
        @hookimpl
        def rain_task_types(self):  # type: ignore[no-untyped-def]
            return result

    pm.register(Bad(), name="bad")
    with pytest.raises(PluginError, match=message) as info:
        collect_task_types(pm)
    assert "'bad'" in str(info.value)


def test_hook_raising_names_plugin(pm):
    class Raising:
        @hookimpl
        def rain_task_types(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("no licence\nfor this host")

    pm.register(Raising(), name="raising")
    with pytest.raises(PluginError) as info:
        collect_task_types(pm)
    assert str(info.value) == "plugin 'raising' failed to list its task types: RuntimeError: no licence for this host"


def test_extra_modules_load_in_order_and_once(monkeypatch):
    a = _module(monkeypatch, "rain_test_plugin_a", rain_task_types=hookimpl(lambda: [TaskType("a/x", _run)]))
    b = _module(monkeypatch, "rain_test_plugin_b", rain_task_types=hookimpl(lambda: [TaskType("b/x", _run)]))
    pm = build_plugin_manager(["rain_test_plugin_b", ("rain_test_plugin_a", "config"), "rain_test_plugin_b"],
                              entry_points=False)
    names = [name for name, _ in pm.list_name_plugin()]
    assert names == [*BUILTIN_PLUGINS, "rain_test_plugin_b", "rain_test_plugin_a"]
    assert pm.get_plugin("rain_test_plugin_a") is a and pm.get_plugin("rain_test_plugin_b") is b
    assert {"a/x", "b/x"} <= set(collect_task_types(pm))


def test_import_failure_names_module_and_origin(monkeypatch):
    with pytest.raises(PluginError) as info:
        build_plugin_manager([("rain_no_such_plugin_module", "config file x.toml")], entry_points=False)
    assert str(info.value) == ("cannot import plugin 'rain_no_such_plugin_module' (config file x.toml): "
                               "ModuleNotFoundError: No module named 'rain_no_such_plugin_module'")


def test_module_raising_on_import(monkeypatch, tmp_path):
    (tmp_path / "rain_test_exploding.py").write_text("raise RuntimeError('missing GPU driver')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rain_test_exploding", raising=False)
    with pytest.raises(PluginError, match=r"'rain_test_exploding' \(--plugin\): RuntimeError: missing GPU driver"):
        build_plugin_manager(["rain_test_exploding"], entry_points=False)


def test_module_without_hooks_is_refused(monkeypatch):
    def rain_task_types() -> list[TaskType]:  # forgot @hookimpl
        return []

    _module(monkeypatch, "rain_test_forgot_marker", rain_task_types=rain_task_types)
    with pytest.raises(PluginError, match="'rain_test_forgot_marker' .*implements no Rain hook"):
        build_plugin_manager(["rain_test_forgot_marker"], entry_points=False)


def test_misspelled_hook_is_refused(monkeypatch):
    _module(monkeypatch, "rain_test_typo", rain_task_type=hookimpl(lambda: []))  # noqa: PIE807 (pluggy marks the function)
    with pytest.raises(PluginError, match="'rain_test_typo'.*rain_task_type"):
        build_plugin_manager(["rain_test_typo"], entry_points=False)


def test_wrong_hook_signature_is_refused(monkeypatch):
    _module(monkeypatch, "rain_test_signature", rain_task_types=hookimpl(lambda governor: []))
    with pytest.raises(PluginError, match="invalid plugin 'rain_test_signature'"):
        build_plugin_manager(["rain_test_signature"], entry_points=False)


def test_entry_points_are_loaded_sorted_and_named_on_failure(monkeypatch):
    _module(monkeypatch, "rain_test_ep_z", rain_task_types=hookimpl(lambda: [TaskType("z/x", _run)]))
    _module(monkeypatch, "rain_test_ep_a", rain_task_types=hookimpl(lambda: [TaskType("a/x", _run)]))
    eps = [importlib.metadata.EntryPoint("zz", "rain_test_ep_z", "rain.plugins"),
           importlib.metadata.EntryPoint("aa", "rain_test_ep_a", "rain.plugins")]
    monkeypatch.setattr(loading.importlib.metadata, "entry_points", lambda group: eps)
    pm = build_plugin_manager(["rain_test_ep_z"])
    assert [n for n, _ in pm.list_name_plugin()] == [*BUILTIN_PLUGINS, "rain_test_ep_a", "rain_test_ep_z"]

    eps.append(importlib.metadata.EntryPoint("broken", "rain_no_such_ep_module", "rain.plugins"))
    with pytest.raises(PluginError, match=r"'rain_no_such_ep_module' \(entry point 'broken'\): ModuleNotFoundError"):
        build_plugin_manager()


def test_installed_example_plugin_is_found():
    found = collect_task_types(build_plugin_manager())
    assert found["hash/sha256"].doc.startswith("Hex SHA-256")


@pytest.mark.parametrize("kwargs,error", [
    ({"task_type": "no-namespace", "run": _run}, "invalid task type name"),
    ({"task_type": "a/b", "run": "not callable"}, "must be an async function"),
    ({"task_type": "a/b", "run": _run, "cpus": -1}, "non-negative int"),
    ({"task_type": "a/b", "run": _run, "cpus": True}, "non-negative int"),
    ({"task_type": "a/b", "run": lambda ctx: None}, "must be an async function"),
    ({"task_type": "a/b", "run": _run, "inline": True}, "must be a plain \\(non-async\\) function"),
])
def test_task_type_validation(kwargs, error):
    with pytest.raises((ValueError, TypeError), match=error):
        TaskType(**kwargs)


def test_task_type_decorator():
    @task_type("deco/op", cpus=2)
    async def op(ctx: TaskContext) -> None:
        """Does the op.

        More text."""

    assert op.task_type == "deco/op" and op.cpus == 2 and op.doc.startswith("Does the op.")
    assert callable(op.run)
