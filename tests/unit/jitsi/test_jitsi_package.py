"""The package's promises: a pure library with an explicit public API, and safe room names."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import integrations.jitsi as jitsi
from integrations.jitsi import ROOM_NAME_PATTERN, is_valid_room_name, new_room_name

PACKAGE_DIR = Path(jitsi.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_library_imports_nothing_of_the_service(module: str) -> None:
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text("utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = {"orchestrator", "workers", "calendars", "aiohttp", "sqlalchemy", "celery"}
    assert not {name.split(".")[0] for name in imported} & forbidden


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_its_public_names(module: str) -> None:
    loaded = importlib.import_module(f"integrations.jitsi.{module}")
    assert loaded.__doc__
    for name in loaded.__all__:
        assert hasattr(loaded, name), f"{module}.__all__ names missing {name}"
        # The package re-exports the whole public API.
        assert name in jitsi.__all__, f"integrations.jitsi does not re-export {module}.{name}"
        assert getattr(jitsi, name) is getattr(loaded, name)


def test_package_all_is_exact() -> None:
    exported = {
        name for module in MODULES for name in importlib.import_module(f"integrations.jitsi.{module}").__all__
    }
    assert set(jitsi.__all__) == exported
    assert len(jitsi.__all__) == len(set(jitsi.__all__))


def test_new_room_names_are_valid_and_unguessable() -> None:
    names = {new_room_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert is_valid_room_name(name)
        assert name.startswith("rs-")
        assert len(name) == len("rs-") + 32


@pytest.mark.parametrize("name", ["rs-abc\n", "RS-ABC", "rs_abc", "", "a" * 101, "rs abc", "*"])
def test_invalid_room_names(name: str) -> None:
    assert not is_valid_room_name(name)


@pytest.mark.parametrize("prefix", ["rs\n", "RS", "r s", ""])
def test_room_name_prefix_is_checked(prefix: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"must match {ROOM_NAME_PATTERN.pattern}")):
        new_room_name(prefix)
