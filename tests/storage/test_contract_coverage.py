"""Every method of every repository interface is under contract: a method added to storage/base.py
that no tests/storage/test_*.py module calls on its repository (`db.cases.list_cases(...)`) turns
this red, so the second backend is written against tests, not against the SQLite code."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import get_type_hints

import pytest

from storage import base

HERE = Path(__file__).resolve().parent


def repositories() -> dict[str, type]:
    """The repository interfaces by the attribute `Storage` holds each in (`dossiers`, `cases`, ...)."""
    return {
        attribute: kind for attribute, kind in get_type_hints(base.Storage).items() if inspect.isclass(kind)
    }


def repository_calls(source: str) -> set[tuple[str, str]]:
    """(repository attribute, method) of every call such as `db.dossiers.add_dossier(...)`."""
    return {
        (node.func.value.attr, node.func.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
    }


def contract_calls() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for module in sorted(HERE.glob("test_*.py")):
        if module != Path(__file__).resolve():
            found |= repository_calls(module.read_text(encoding="utf-8"))
    return found


def test_storage_holds_every_repository_interface_of_base():
    declared = {
        kind
        for _, kind in inspect.getmembers(base, inspect.isclass)
        if kind.__module__ == base.__name__ and inspect.isabstract(kind) and kind is not base.Storage
    }
    assert declared == set(repositories().values())


def test_the_check_sees_calls_on_a_repository_only():
    source = "async def t(db):\n    await db.cases.get_case(1)\n    get_case(2)\n    db.close()\n"
    assert repository_calls(source) == {("cases", "get_case")}


@pytest.mark.parametrize("attribute", sorted(repositories()))
def test_every_method_of_the_repository_has_a_contract_test(attribute: str):
    interface = repositories()[attribute]
    methods = sorted(interface.__abstractmethods__)
    assert methods, f"{interface.__name__} declares no method"
    called = {method for held_by, method in contract_calls() if held_by == attribute}
    missing = [m for m in methods if m not in called]
    assert not missing, (
        f"{interface.__name__} methods without a contract test in tests/storage/test_*.py: {missing}"
    )
