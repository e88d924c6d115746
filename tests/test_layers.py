"""The library's import graph: layered, without circles (imports under ``if TYPE_CHECKING:`` are for readers and
type checkers, not the running program, and are left out). The floors are written once, here; a module not named
in a floor is held to the no-circle rule only."""

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "playground"

# Bottom to top; a module may import from its own floor and the floors below, never above.
FLOORS = [
    {"errors", "paths", "hookspecs", "interrupts", "metrics.views", "metrics.scores"},  # plain: nothing of ours
    {"params", "devices", "data.core", "metrics.inception"},
    {"contracts", "images"},  # the model contract's records
    {"checkpoint", "run", "plot2d", "weights", "data", "data.access", "data.stored_points", "data.points_csv",
     "data.builtin", "data.external", "data.toys"},
    {"streams", "registry", "metrics.evaluator", "metrics.report", "models"},
    {"inference", "memory", "hub", "engine", "cards", "leaderboard", "lab", "zerogpu", "jobs"},
    {"ui.app", "ui.family_tab", "ui.lab_tab", "ui.overview_tab", "ui.common", "ui.widgets", "ui.examples",
     "ui.quality", "ui.loss_chart", "ui.plugins_tab"},
    {"conformance", "bench", "bench.latency", "bench.training", "bench.memory_probe", "cli", "space_check",
     "templates"},
]


def _module(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PACKAGE).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.ImportFrom | ast.Import):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name.removeprefix("playground.") for a in node.names if a.name.startswith("playground.")]
            elif node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                stem = ".".join([*filter(None, base), *([node.module] if node.module else [])])
                targets = [f"{stem}.{a.name}".strip(".") if f"{stem}.{a.name}".strip(".") in modules else stem
                           for a in node.names]
            elif (node.module or "").startswith("playground."):
                stem = node.module.removeprefix("playground.")
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def test_the_library_has_no_import_circles():
    graphlib.TopologicalSorter(import_graph()).prepare()  # raises CycleError naming the circle


def test_no_module_imports_from_a_floor_above_its_own():
    floor = {m: i for i, names in enumerate(FLOORS) for m in names}
    graph = import_graph()
    assert set(floor) <= set(graph), set(floor) - set(graph)  # the list names real modules
    upward = [f"{m} (floor {floor[m]}) imports {t} (floor {floor[t]})" for m, targets in graph.items() if m in floor
              for t in targets if t in floor and floor[t] > floor[m]]
    assert upward == []


def test_families_know_nothing_of_gradio():
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / "plugins").rglob("*.py") if "import gradio" in p.read_text()
            or "from gradio" in p.read_text()]
    assert hits == []
