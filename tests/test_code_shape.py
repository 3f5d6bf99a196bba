"""The shape of the code, checked from its source with :mod:`ast` (nothing is imported):

- no module of the application is over 400 lines;
- no module imports another module's private name (``from m import _x`` or ``m._x``):
  what a module shares, it names without an underscore;
- dependencies point one way: the settings do not import the backends, and nothing
  outside ``arena/ui`` (and ``app.py``, which builds the page) imports Gradio or the UI.
  (``ratings/``'s own layers, and that it never imports ``arena``, are
  tests/test_ratings_layers.py's, which reads imports with :func:`imports`.)

Each rule is also run on a small fake tree that breaks it, so a rule that could never
fire would fail here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
OWN = ("arena", "ratings", "app")


def sources(root: Path) -> Iterator[Path]:
    """The application's modules under ``root``: arena/, ratings/, migrations/ (not the
    generated revisions) and app.py."""
    for top in ("arena", "ratings", "migrations"):
        for path in sorted((root / top).rglob("*.py")):
            if "versions" not in path.relative_to(root).parts:
                yield path
    if (root / "app.py").exists():
        yield root / "app.py"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path, path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) for every import in ``path``, wherever it sits; ``name`` is
    None for ``import m``. Relative imports are resolved against the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, *filter(None, [base])])
            for alias in node.names:
                yield node.lineno, base, alias.name


def private_uses(root: Path, path: Path) -> list[str]:
    """Private names of *other* own modules that ``path`` uses."""
    here = module_name(root, path)
    found: list[str] = []
    aliases: dict[str, str] = {}
    for line, module, name in imports(root, path):
        if not module.startswith(OWN) or module == here:
            continue
        if name is None:
            aliases[module.split(".")[0]] = module
        elif name.startswith("_") and not name.startswith("__"):
            found.append(f"{path.relative_to(root)}:{line}: from {module} import {name}")
        else:
            aliases[name] = f"{module}.{name}"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            value = node.value
            while isinstance(value, ast.Attribute):
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {value.id}....{node.attr}")
    return found


def too_long(root: Path) -> list[str]:
    out = []
    for path in sources(root):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            out.append(f"{path.relative_to(root)}: {lines} lines")
    return out


def forbidden_imports(root: Path) -> list[str]:
    """Imports that point the wrong way."""
    out = []
    for path in sources(root):
        here = module_name(root, path)
        for line, module, name in imports(root, path):
            target = module if name is None else f"{module}.{name}"
            where = f"{path.relative_to(root)}:{line}: {target}"
            in_ui = here.startswith("arena.ui") or here == "app"
            if not in_ui and (module.split(".")[0] == "gradio" or target.startswith("arena.ui")):
                out.append(f"{where} (only arena/ui and app.py build the page)")
            if here.startswith(("arena.config", "arena.model_config")) and target.startswith(
                "arena.backends"
            ):
                out.append(f"{where} (the settings must not import the backends)")
    return out


def test_no_module_is_over_400_lines() -> None:
    assert list(sources(ROOT)), "no sources found"
    assert too_long(ROOT) == []


def test_no_module_uses_another_modules_private_names() -> None:
    found = [line for path in sources(ROOT) for line in private_uses(ROOT, path)]
    assert found == []


def test_dependencies_point_one_way() -> None:
    assert forbidden_imports(ROOT) == []


@pytest.fixture
def broken_tree(tmp_path: Path) -> Path:
    (tmp_path / "arena" / "ui").mkdir(parents=True)
    (tmp_path / "arena" / "backends").mkdir()
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "arena" / "__init__.py").write_text("")
    (tmp_path / "arena" / "helper.py").write_text("def _secret():\n    return 1\n")
    (tmp_path / "arena" / "user.py").write_text(
        "from arena.helper import _secret\nimport arena.helper\nx = arena.helper._secret()\n"
    )
    (tmp_path / "arena" / "relative.py").write_text("from .helper import _secret\n")
    (tmp_path / "arena" / "api.py").write_text("import gradio as gr\nfrom arena.ui import page\n")
    (tmp_path / "arena" / "config.py").write_text("from arena.backends import make\n")
    (tmp_path / "arena" / "ui" / "page.py").write_text("import gradio\n")  # allowed
    (tmp_path / "migrations" / "versions" / "0001_big.py").write_text("x = 1\n" * 500)
    (tmp_path / "arena" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    return tmp_path


def test_the_rules_fire_on_a_tree_that_breaks_them(broken_tree: Path) -> None:
    assert too_long(broken_tree) == [f"arena/big.py: {MAX_LINES + 1} lines"]  # not migrations
    private = [u for p in sources(broken_tree) for u in private_uses(broken_tree, p)]
    assert sorted(u.split(":")[0] for u in private) == [
        "arena/relative.py",
        "arena/user.py",
        "arena/user.py",
    ]
    wrong = forbidden_imports(broken_tree)
    assert [w.split(":")[0] for w in wrong] == sorted(
        ["arena/api.py", "arena/api.py", "arena/config.py"]
    )
