"""Rows, queries and refusals that the service layer (or an entry point) reads are types of the
domain: adapters import them, never the reverse. The service layer may call an adapter (a
repository, a client) but never takes a data type, an exception or a type alias from one: an
adapter that defines what the layer above reads is a layer upside down (import-linter works on
modules, not names, so this is checked here)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from types import ModuleType
from typing import Literal

import pytest

from lockstep_shared.db import DriverChange, DriverQuery

SERVICES = ("orchestrator", "device_gateway", "release_watcher", "installer_agent")


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    return [importlib.import_module(f"{package}.{info.name}")
            for info in pkgutil.iter_modules(root.__path__)]


def _taken_from_adapters(module: ModuleType, service: str) -> list[tuple[str, object]]:
    """Every ``name`` the module takes from an adapter: ``from <svc>.adapters.x import name``
    and ``x.name`` on an adapter module it imported."""
    tree = ast.parse(open(module.__file__ or "", encoding="utf-8").read())
    prefix = f"{service}.adapters"
    taken: list[tuple[str, object]] = []
    adapter_modules: dict[str, ModuleType] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
            source = importlib.import_module(node.module or "")
            for alias in node.names:
                found = getattr(source, alias.name)
                if isinstance(found, ModuleType):
                    adapter_modules[alias.asname or alias.name] = found
                else:
                    taken.append((f"{node.module}.{alias.name}", found))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in adapter_modules):
            found = getattr(adapter_modules[node.value.id], node.attr)
            taken.append((f"{adapter_modules[node.value.id].__name__}.{node.attr}", found))
    return taken


def _is_data(thing: object) -> bool:
    if isinstance(thing, DriverChange | DriverQuery):
        return False  # a prepared statement of the adapter, run by the unit of work: behaviour
    if isinstance(thing, type) and thing.__name__ == "Repositories":
        return False  # the bundle of repositories handlers are given: adapters, not rows
    if isinstance(thing, type):
        return dataclasses.is_dataclass(thing) or issubclass(thing, BaseException)
    return not inspect.isroutine(thing)  # a type alias, a constant


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_layer_takes_no_row_refusal_or_alias_from_an_adapter(service: str) -> None:
    wrong = [
        (module.__name__, name)
        for layer in ("service_layer", "entrypoints")
        for module in _modules(f"{service}.{layer}")
        for name, thing in _taken_from_adapters(module, service)
        if _is_data(thing) and (not isinstance(thing, type)
                                or thing.__module__.startswith(f"{service}.adapters"))
    ]
    assert not wrong, f"move these types into {service}.domain: {wrong}"


def test_the_check_sees_a_row_defined_in_an_adapter() -> None:
    """The rule above can fail: a dataclass whose module is an adapter's is reported."""

    @dataclasses.dataclass
    class Row:
        serial: str

    Row.__module__ = "orchestrator.adapters.devices_repository"
    assert _is_data(Row) and _is_data(KeyError) and _is_data(Literal["all"])
    assert not _is_data(ast.parse)
