"""The import contract: forewarn's layers, as docs/architecture.md draws them, kept by `make lint`.

    python -m tests.support.layers [--root DIR]     exit 0 kept, 1 broken (each breach a line)

The section "## Layers" of docs/architecture.md is the one place the layers are written: a
table, top layer first, each row naming its modules in backticks, and a table of groups whose
modules are independent. A module belongs to the row that names it or its nearest ancestor
package. The contract, over every import in shared/ and functions/ (imports inside functions
and under TYPE_CHECKING count: they are dependencies all the same):

- every module is in a layer (importing ``a.b.c`` imports the packages ``a`` and ``a.b`` too,
  since Python runs their ``__init__`` first);
- no import runs up the table (a module may import its own layer and the layers below);
- no import circle, however long, within a layer or across;
- no module of an independent group imports (even through others) another of that group.

import-linter cannot say "this module of a package is a stage, its siblings are the domain"
(its layers may not share descendants), hence this reader of the import graph; it is plain
ast, with no dependency.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions")
DOC = Path("docs") / "architecture.md"
SECTION = "## Layers"
INDEPENDENT = "independent"  # a row whose first cell starts so is a group, not a layer
UNPLACED_OK = frozenset({"shared"})  # the namespace package itself, empty


class LayersDocError(Exception):
    """docs/architecture.md has no readable layers table."""


@dataclass(frozen=True)
class Contract:
    layers: list[tuple[str, list[str]]]  # (name, module prefixes), top first
    independent: list[list[str]] = field(default_factory=list)

    def layer_of(self, module: str) -> int | None:
        """Index of the module's layer (0 = top), by the longest prefix that names it."""
        best: tuple[int, int] | None = None
        for index, (_, prefixes) in enumerate(self.layers):
            for prefix in prefixes:
                named = module == prefix or module.startswith(prefix + ".")
                if named and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), index)
        return None if best is None else best[1]


def read_contract(doc: Path) -> Contract:
    text = doc.read_text(encoding="utf-8")
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        raise LayersDocError(f"{doc.name} has no '{SECTION}' section")
    body = text[start + len(SECTION) + 2 :]
    body = body.split("\n## ", 1)[0]
    layers: list[tuple[str, list[str]]] = []
    independent: list[list[str]] = []
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= set("-: "):
            continue
        modules = re.findall(r"`([a-z_][a-z0-9_.]*)`", cells[1])
        if not modules:
            continue  # the header row
        if cells[0].lower().startswith(INDEPENDENT):
            independent.append(modules)
        else:
            layers.append((cells[0], modules))
    if not layers:
        raise LayersDocError(f"the '{SECTION}' section of {doc.name} has no table of layers")
    return Contract(layers, independent)


def modules_under(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` imports the module a.b when there is one, else a name of a.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` where c is a name: a.b
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _with_packages(module: str, targets: Iterable[str], known: Mapping[str, Path]) -> set[str]:
    # Importing a.b.c runs a/__init__ and a/b/__init__ first: an import of each package too,
    # unless the importer is inside it (then that package is already being imported).
    found: set[str] = set()
    for target in targets:
        found.add(target)
        package = target.rpartition(".")[0]
        while package:
            if package in known and not module.startswith(package + "."):
                found.add(package)
            package = package.rpartition(".")[0]
    found.discard(module)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    known = modules_under(root)
    return {
        module: _with_packages(module, _imported(module, path, known), known)
        for module, path in known.items()
    }


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def _reachable(graph: Mapping[str, set[str]], starts: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _members(graph: Mapping[str, set[str]], prefix: str) -> list[str]:
    return [m for m in graph if m == prefix or m.startswith(prefix + ".")]


def breaches(root: Path) -> list[str]:
    contract = read_contract(root / DOC)
    graph = import_graph(root)
    names = [name for name, _ in contract.layers]
    problems: list[str] = []
    for module in sorted(graph):
        if contract.layer_of(module) is None and module not in UNPLACED_OK:
            problems.append(f"{module}: in no layer of {DOC} ('{SECTION}')")
    for module in sorted(graph):
        mine = contract.layer_of(module)
        for target in sorted(graph[module]):
            theirs = contract.layer_of(target)
            if mine is not None and theirs is not None and theirs < mine:
                problems.append(
                    f"{module} ({names[mine]}) imports {target} ({names[theirs]}): "
                    "an import up the layers"
                )
    for group in circles(graph):
        problems.append("import circle: " + " -> ".join([*group, group[0]]))
    for modules in contract.independent:
        for importer in modules:
            reached = _reachable(graph, _members(graph, importer))
            for other in modules:
                hit = sorted(set(_members(graph, other)) & reached) if other != importer else []
                if hit:
                    problems.append(f"{importer} reaches {hit[0]}: they are to be independent")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.layers", description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this)")
    args = parser.parse_args(argv)
    try:
        problems = breaches(args.root)
    except LayersDocError as error:
        print(f"layers: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"layers: {problem}", file=sys.stderr)
    if problems:
        print(f"layers: {len(problems)} breaches of the import contract", file=sys.stderr)
        return 1
    graph = import_graph(args.root)
    edges = sum(len(targets) for targets in graph.values())
    print(f"layers: kept ({len(graph)} modules, {edges} imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
