"""The protocol's private modules: their examples run, and the lower ones never import the
upper ones (settings → values → tables → reader; only the facade reaches back, lazily)."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import dnoutcomes

SRC = Path(dnoutcomes.__file__).parent

#: Each module and the protocol modules it may import at all (top level or in a function).
ALLOWED: dict[str, set[str]] = {
    "_protocol_specs": set(),
    "_protocol_values": set(),
    "_protocol_measures": {"_protocol_specs", "_protocol_values"},
    "_protocol_routine": {"_protocol_specs", "_protocol_values"},
    "_protocol_casemix": {"_protocol_specs", "_protocol_values"},
}


def _protocol_imports(name: str) -> set[str]:
    tree = ast.parse((SRC / f"{name}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            last = node.module.rsplit(".", 1)[-1]
            if node.module.startswith("dnoutcomes.") and "protocol" in last:
                found.add(last)
    return found


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_lower_modules_import_only_lower_ones(name: str) -> None:
    assert _protocol_imports(name) <= ALLOWED[name]


def test_values_examples_run() -> None:
    module = importlib.import_module("dnoutcomes._protocol_values")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
