"""Small modules with one concept: over 400 lines, a module's docstring must say why.

A module grows past what one reader holds in mind one helper at a time; the rule makes the
growth a decision someone wrote down ("One module on purpose (~N lines): why"), or a split.
Migrations are generated history and do not count.
"""

from __future__ import annotations

import ast
import re

from tests.support.imports import ROOT, modules

MAX_LINES = 400
REASON = re.compile(r"on purpose|over 400 lines", re.IGNORECASE)


def test_a_module_over_400_lines_says_why() -> None:
    silent = []
    for name, path in modules():
        if ".migrations." in f".{name}.":
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + (not text.endswith("\n"))
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if not REASON.search(docstring):
            silent.append(f"{path.relative_to(ROOT)}: {lines} lines, no reason in its docstring")
    assert not silent, "\n".join(silent)
