"""The layers of ``ratings/``: the numerical core stays free of files, the CLI and prose.

Every module of the package is parsed with :mod:`ast`, so imports made inside functions
(the lazy ones) count too. The core (the fits, intervals, counts, graph, outcomes,
tables of numbers) imports only numpy, scipy, the standard library and other core
modules; the layer modules listed in ``LAYER`` read files, run the command line or write
prose, and may import the core and third-party readers. No module imports ``arena``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.test_code_shape import imports

PACKAGE = Path(__file__).resolve().parents[1] / "ratings"
#: Modules that read battle files, run the command line or write reports.
LAYER = frozenset(
    {
        "__main__",  # python -m ratings
        "battlefile",  # battle files: formats, records, layouts
        "battlerow",  # one row of a battle file, checked and normalised
        "cli",  # the command line
        "io",  # a battle file read into arrays for a fit
        "io_rows",  # a battle file's rows, by pyarrow or line by line
        "report",  # tables, notes and JSON for the command line
        "style_features",  # style counts read from a battle file's conversations
    }
)
#: Third-party packages the core may import.
NUMERICS = frozenset({"numpy", "scipy"})
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py"))
CORE = [name for name in MODULES if name not in LAYER]


def _imports(name: str) -> list[str]:
    """Every module ``ratings.<name>`` imports, as dotted names, wherever the import is
    (read by :func:`tests.test_code_shape.imports`).

    ``from ratings import x`` counts as ``ratings.x`` when ``x`` is a module of the
    package, else as ``ratings`` (a name the package loads, see ``ratings._HOME``).
    """
    found: list[str] = []
    for _, module, alias in imports(PACKAGE.parent, PACKAGE / f"{name}.py"):
        if module == "ratings" and alias is not None:
            found.append(f"ratings.{alias}" if alias in MODULES else "ratings")
        else:
            found.append(module)
    return found


def _allowed_in_core(module: str) -> bool:
    top = module.split(".")[0]
    if top == "ratings":
        return module == "ratings" or module.split(".")[1] in CORE
    return top in NUMERICS or top in sys.stdlib_module_names or top == "__future__"


def test_every_layer_module_exists() -> None:
    assert sorted(LAYER - set(MODULES)) == []


@pytest.mark.parametrize("name", CORE)
def test_the_core_imports_only_numerics_and_the_core(name: str) -> None:
    wrong = [module for module in _imports(name) if not _allowed_in_core(module)]
    assert wrong == [], (
        f"ratings/{name}.py is core but imports {wrong}: the core imports only numpy, "
        "scipy, the standard library and other core modules (if it reads files or "
        "writes prose, add it to LAYER)"
    )


def test_the_package_loads_its_names_from_core_modules_only() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    homes = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "_HOME" for t in node.targets)
    )
    assert isinstance(homes, ast.Dict)
    modules = {ast.literal_eval(value) for value in homes.values}
    assert modules and modules <= set(CORE), sorted(modules - set(CORE))


@pytest.mark.parametrize("name", MODULES)
def test_no_module_imports_arena(name: str) -> None:
    wrong = [module for module in _imports(name) if module.split(".")[0] == "arena"]
    assert wrong == [], f"ratings/{name}.py imports {wrong}"


def test_the_checks_see_a_bad_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A core module that reads a file, and one that imports the arena, are both caught.
    fake = tmp_path / "ratings"
    fake.mkdir()
    (fake / "fitting.py").write_text(
        "import numpy as np\n\ndef f():\n    from ratings.io import read_outcomes\n"
        "    import arena.db\n    import pyarrow\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    imported = _imports("fitting")
    assert imported == ["numpy", "ratings.io", "arena.db", "pyarrow"]
    assert [m for m in imported if not _allowed_in_core(m)] == ["ratings.io", "arena.db", "pyarrow"]
