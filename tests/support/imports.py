"""Reading the project's own imports from source (AST, nothing imported): which modules exist
and what each imports, for the architecture tests (`tests/architecture`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
PACKAGES = ("protocol", "edge", "cloud", "firmware_sim", "waystation")


def modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of the packages; a package is its `__init__`."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(
    module: str, path: Path, *, top_level_only: bool, typing_only: bool = True
) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file; relative ones resolved.
    `top_level_only`: those run at import time; `typing_only=False` leaves out the ones under
    `if TYPE_CHECKING:` (they tie nothing together at run time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(body: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [f"{base}.{alias.name}" for alias in node.names]
                submodules = [n for n in names if _is_module(n)]  # `from pkg import submodule`
                yield from ((n, node.lineno) for n in submodules)
                if len(submodules) < len(names):  # a name defined in `base` itself
                    yield base, node.lineno
            elif isinstance(node, ast.If) and _is_type_checking(node):
                if not top_level_only and typing_only:
                    yield from visit(node.body)
                yield from visit(node.orelse)
            elif top_level_only and isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            ):
                continue
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        yield from visit([n for n in inner if isinstance(n, ast.stmt)])
                if isinstance(node, ast.Try):
                    for handler in node.handlers:
                        yield from visit(handler.body)

    yield from visit(tree.body)
