"""The package's import graph: no cycles, and each layer imports only what is below it.

The graph is read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` anywhere in a module counts, at module level, inside functions and under
``if TYPE_CHECKING:``, since each says that one module knows another.  Relative imports are
resolved; ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
Importing a submodule runs its packages' ``__init__`` too, but that is not counted as an edge: a
package's ``__init__`` re-exporting its submodules (``fastparl/__init__.py``,
``fastparl/remote/__init__.py``) would otherwise make every module a cycle with its package.  So a
module never imports its own package to get a name (``import fastparl`` in ``fastparl.algorithms``):
it imports the module that defines the name.

Rules (who owns what):

1. No cycle among fastparl's modules.
2. The runtime is framework-free: ``fastparl.remote`` (the parallel runtime), ``fastparl.errors`` and
   ``fastparl.kernels`` import neither paddle nor the RL layers (``fastparl.core``, ``algorithms``,
   ``learners``, ``env``, ``data``, ``utils``) nor ``fastparl`` itself, anywhere.
3. ``fastparl.utils`` imports the RL core (``fastparl.core``, ``fastparl.algorithms``) and paddle only
   inside functions, so ``from fastparl.utils import logger`` stays cheap and paddle-free.
4. The backend seam reads one way down.  Backend packages (``fastparl.remote.local``, ``.serial``,
   ``.zmq``, ``.ray``) may import the seam and the shared runtime (``fastparl.remote.backend``,
   ``tracker``, ``dispatcher``, ``futures``, ``protocol`` ...); no other module of ``fastparl.remote``
   imports a backend package, except ``fastparl/remote/__init__.py`` for the public type
   ``SharedArray`` (:data:`SEAM_EXCEPTIONS`).  ``fastparl.remote.api`` creates backends through the
   registry (``"module:Class"`` strings), not by importing them.
5. Between backend packages, at module level, only ``serial`` and ``zmq`` build on ``local`` (this
   machine's shared memory, fork server and actors).  ``local`` reaches ``zmq`` only inside a
   function (the fork server starting a worker daemon's actor), and nothing outside ``ray``
   imports ``ray``.
6. In every backend package the roles read one way: ``backend.py`` (the Backend) imports
   ``handle.py`` (the driver's handles), never the reverse; ``host.py`` (what runs in the actor's
   process) imports no ``backend.py`` or ``handle.py`` of any backend.
"""

from __future__ import annotations

import ast
import os
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "fastparl"

RUNTIME = ("fastparl.remote", "fastparl.errors", "fastparl.kernels")
RL_LAYERS = ("fastparl.core", "fastparl.algorithms", "fastparl.learners", "fastparl.env", "fastparl.data",
             "fastparl.utils")
BACKENDS = ("fastparl.remote.local", "fastparl.remote.serial", "fastparl.remote.zmq", "fastparl.remote.ray")
# (importer, imported package): the only module-level imports of a backend package from outside it
SEAM_EXCEPTIONS = {("fastparl.remote", "fastparl.remote.local")}
# backend package -> the other backend packages it may import at module level
BACKEND_DEPENDS = {
    "fastparl.remote.local": set(),
    "fastparl.remote.serial": {"fastparl.remote.local"},
    "fastparl.remote.zmq": {"fastparl.remote.local"},
    "fastparl.remote.ray": set(),
}


class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``line`` (``local``: inside a function)."""

    def __init__(self, source: str, target: str, line: int, local: bool):
        self.source, self.target, self.line, self.local = source, target, line, local

    def __repr__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target}{' (in a function)' if self.local else ''}"


def _modules() -> dict[str, str]:
    """Module name -> source path, for every module of the package."""
    out = {}
    for folder, dirs, files in os.walk(os.path.join(ROOT, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: str) -> list[Import]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    is_package = os.path.basename(path) == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, child.lineno, local))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    pkg = ".".join(base + ([child.module] if child.module else []))
                else:
                    pkg = child.module or ""
                for alias in child.names:
                    sub = f"{pkg}.{alias.name}"
                    found.append(Import(module, sub if sub in MODULES else pkg, child.lineno, local))
            visit(child, inner)

    visit(tree, False)
    return found


IMPORTS = [imp for module, path in sorted(MODULES.items()) for imp in _imports(module, path)]


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in ((prefixes,) if isinstance(prefixes, str) else prefixes))


def _backend_of(name: str) -> str | None:
    return next((b for b in BACKENDS if _within(name, b)), None)


def _cycles() -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component of more than one module."""
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if imp.target in MODULES:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's algorithm (recursion depth: the longest import chain)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(component)

    for v in sorted(MODULES):
        if v not in index:
            strongconnect(v)
    cycles = []
    for component in components:
        start = min(component)
        path, seen = [start], {start}
        while True:  # walk inside the component until we come back to a module on the path
            nxt = min(w for w in graph[path[-1]] if w in component)
            if nxt in seen:
                cycles.append(path[path.index(nxt):] + [nxt])
                break
            path.append(nxt)
            seen.add(nxt)
    return cycles


def _where(source: str, target: str) -> str:
    lines = [f"line {i.line}{' (in a function)' if i.local else ''}" for i in IMPORTS
             if i.source == source and i.target == target]
    return f"{source} -> {target} ({', '.join(lines)})"


def test_the_package_has_no_import_cycle():
    cycles = _cycles()
    assert not cycles, "import cycles (each edge: the importing module, the imported one, where):\n" + "\n\n".join(
        "\n".join(_where(a, b) for a, b in zip(c, c[1:])) for c in cycles)


def test_the_runtime_imports_neither_paddle_nor_the_rl_layers():
    bad = [imp for imp in IMPORTS if _within(imp.source, RUNTIME)
           and (_within(imp.target, ("paddle",) + RL_LAYERS) or imp.target == PACKAGE)]
    assert not bad, f"the runtime must stay framework-free: {bad}"


def test_utils_import_the_rl_core_only_inside_functions():
    bad = [imp for imp in IMPORTS if _within(imp.source, "fastparl.utils") and not imp.local
           and _within(imp.target, ("paddle", "fastparl.core", "fastparl.algorithms"))]
    assert not bad, f"fastparl.utils imports the RL core (paddle) at module level: {bad}"


def test_only_backend_packages_import_backend_packages():
    bad = []
    for imp in IMPORTS:
        target = _backend_of(imp.target)
        if (target and _within(imp.source, "fastparl.remote") and _backend_of(imp.source) is None
                and (imp.source, target) not in SEAM_EXCEPTIONS):
            bad.append(imp)
    assert not bad, f"the seam (fastparl.remote outside its backend packages) imports a backend: {bad}"


def test_backend_packages_build_only_on_local():
    bad = []
    for imp in IMPORTS:
        source, target = _backend_of(imp.source), _backend_of(imp.target)
        if source and target and source != target:
            allowed = target in BACKEND_DEPENDS[source] or (
                imp.local and source == "fastparl.remote.local" and target == "fastparl.remote.zmq")
            if not allowed:
                bad.append(imp)
    outside = [imp for imp in IMPORTS if _within(imp.target, "fastparl.remote.ray")
               and not _within(imp.source, "fastparl.remote.ray")]
    assert not bad + outside, f"imports between backend packages beyond the allowed ones: {bad + outside}"


def test_backend_roles_read_one_way():
    bad = []
    for imp in IMPORTS:
        role, target_role = imp.source.rpartition(".")[2], imp.target.rpartition(".")[2]
        if _backend_of(imp.source) is None or _backend_of(imp.target) is None:
            continue
        if role == "handle" and target_role == "backend":
            bad.append(imp)
        if role == "host" and target_role in ("backend", "handle"):
            bad.append(imp)
    assert not bad, f"a handle imports its backend, or an actor-side host module a driver-side one: {bad}"


def test_the_rules_see_the_package():
    """The checks above look at real modules and edges (a broken walk would pass them all)."""
    assert {"fastparl.remote.backend", "fastparl.remote.api", "fastparl.remote.local.handle",
            "fastparl.remote.zmq.host", "fastparl.remote.ray.backend"} <= set(MODULES)
    edges = {(i.source, i.target) for i in IMPORTS}
    assert ("fastparl.remote.local.backend", "fastparl.remote.local.handle") in edges
    assert ("fastparl.remote.api", "fastparl.remote.backend") in edges
    assert any(i.local for i in IMPORTS)
