"""The layers a newcomer expects, held by reading the source: entry points read ``app.state`` only
through the dependency modules (``app.py`` writes it once at start)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPENDENCY_MODULES = {
    "shared/deps.py",
    "services/intake/deps.py",
    "services/classifier/deps.py",
    "services/aggregator/deps.py",
}


def _is_app(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id in ("app", "_app")) or (
        isinstance(node, ast.Attribute) and node.attr == "app"
    )


def state_reads(source: str) -> list[int]:
    """The lines that read ``app.state`` (``app.state.x = …`` is a write and not listed)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "state" and _is_app(node.value):
            parent = parents.get(node)
            written = isinstance(parent, ast.Attribute) and isinstance(parent.ctx, ast.Store)
            if not written:
                lines.append(node.lineno)
    return lines


def test_the_check_tells_a_read_from_a_write() -> None:
    source = "app.state.sessions = s\nx = request.app.state.sessions\ny = getattr(app.state, 'c', None)\n"
    assert state_reads(source) == [2, 3]


def test_app_state_is_read_only_in_the_dependency_modules() -> None:
    reads = {
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("services", "shared")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in DEPENDENCY_MODULES
        for line in state_reads(path.read_text(encoding="utf-8"))
    }
    assert reads == set()
