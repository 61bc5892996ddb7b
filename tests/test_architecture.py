"""The house rules that keep the tree growable, checked on the source itself.

- Provider knowledge lives behind the adapters: no provider is named in the core (`inbox/`) or the
  bot (`bot/`); every list of providers is derived from `channels.registry`.
- No import cycle among the packages, counting imports inside functions (a lazy import that breaks a
  cycle is still a cycle); only `if TYPE_CHECKING:` imports are left out.
- The core never imports the bot: the composition (inbox/app.py) hands it in.
- Tests mirror the packages and share helpers through support modules: no test module imports
  another test module or a conftest.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_NAMES = re.compile(r"\b(notificame|notifica\.me|meta|graph\.facebook\.com)\b", re.IGNORECASE)


def _sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def test_no_provider_is_named_outside_channels() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _sources("inbox", "bot")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if PROVIDER_NAMES.search(line)
    ]
    assert found == []


def test_the_check_sees_a_provider_name() -> None:
    assert PROVIDER_NAMES.search('if channel.provider == "meta":')
    assert PROVIDER_NAMES.search("# Notifica.me does not sign")
    assert not PROVIDER_NAMES.search("metadata = MetaData()")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports at run time (anywhere in the module)."""
    modules = {_module_name(p): p for p in _sources(*packages)}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    class Imports(ast.NodeVisitor):
        def __init__(self) -> None:
            self.found: set[str] = set()

        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
            else:
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            self.found.update(r for a in node.names if (r := resolve(a.name)))

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and not node.level:
                self.found.update(r for a in node.names if (r := resolve(f"{node.module}.{a.name}")))

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imports = Imports()
        imports.visit(ast.parse(path.read_text()))
        graph[name] = imports.found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph("inbox", "channels", "bot", "benchmarks")) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_never_imports_the_bot() -> None:
    graph = import_graph("inbox", "channels", "bot")
    offenders = {
        module: sorted(d for d in deps if d == "bot" or d.startswith("bot."))
        for module, deps in graph.items()
        if module.startswith(("inbox", "channels")) and module != "inbox.app"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_test_module_imports_another() -> None:
    graph = import_graph("tests")

    def is_test_module(name: str) -> bool:
        leaf = name.rpartition(".")[2]
        return leaf.startswith("test_") or leaf == "conftest"

    offenders = {m: sorted(d for d in deps if is_test_module(d)) for m, deps in graph.items()}
    assert {m: d for m, d in offenders.items() if d} == {}
