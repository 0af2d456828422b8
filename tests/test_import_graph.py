"""The import graph has no loop (issue 12): within each package listed here, no two modules
import each other, directly or round a circle.

grimp sees every import: at module level, inside functions, and under ``if TYPE_CHECKING:``
(its default), so a loop cannot hide behind a function-level or typing-only import. The
packages are checked one by one; add a package (or ``"bench_agent"`` for the whole tree) to
PACKAGES once its loops are broken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grimp
import pytest

PACKAGES = ("bench_agent",)


def import_loops(adjacency: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in adjacency.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in sorted(adjacency):
        if module not in index:
            visit(module)
    return loops


def package_graph(graph: grimp.ImportGraph, package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (itself included) → the modules of ``package`` it imports."""
    inside = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    return {m: set(graph.find_modules_directly_imported_by(m)) & inside for m in inside}


def describe(graph: grimp.ImportGraph, loop: list[str]) -> str:
    """One loop, each import of it with the line that makes it."""
    members = set(loop)
    lines = [f"{len(loop)} modules: {', '.join(loop)}"]
    for importer in loop:
        for imported in sorted(set(graph.find_modules_directly_imported_by(importer)) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(
                    f"  {importer}:{detail['line_number']} -> {imported}"
                    f"  ({detail['line_contents']})"
                )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("bench_agent", cache_dir=None)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_loop(graph: grimp.ImportGraph, package: str) -> None:
    loops = import_loops(package_graph(graph, package))
    assert not loops, f"import loops in {package}:\n" + "\n".join(
        describe(graph, loop) for loop in loops
    )


def test_loops_are_found() -> None:
    """The finder reports a circle of three and a pair, never a chain or a self-import."""
    adjacency = {
        "p.a": {"p.b"},
        "p.b": {"p.c"},
        "p.c": {"p.a", "p.d"},  # a -> b -> c -> a
        "p.d": {"p.e"},  # a chain out of the circle: no loop
        "p.e": {"p.e"},  # a module "importing" itself is no loop of modules
        "p.f": {"p.g"},
        "p.g": {"p.f"},  # a pair
    }
    assert sorted(import_loops(adjacency)) == [["p.a", "p.b", "p.c"], ["p.f", "p.g"]]
