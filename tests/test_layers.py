"""Imports flow one way: dataset -> pairs -> encoder -> losses -> training -> evaluation / export / search.

Every ``siamese_text`` import counts, those inside functions too (a lazy import is still a
dependency), so a convenience method that reaches up to a higher layer shows here as a cycle.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "siamese_text"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import submodule` depends on the submodule
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m.split(".")[0] in ("siamese_text", "siamese_text_cli")}


def graph() -> dict[str, set[str]]:
    modules = _modules()
    # the root package only maps names to modules on first use (__getattr__): importing
    # siamese_text.__version__ from it is no dependency on what it maps
    return {name: {m for m in _imports(path, modules) if m not in (name, "siamese_text")}
            for name, path in modules.items() if name != "siamese_text"}


def test_nothing_imports_the_cli():
    offenders = {name: deps for name, deps in graph().items() if any(d.startswith("siamese_text_cli") for d in deps)}
    assert not offenders


def test_the_import_graph_has_no_cycle():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep):], dep]))
            elif dep in edges and not state.get(dep):
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(edges):
        if not state.get(name):
            visit(name, [name])
    assert not cycles, cycles


def test_the_encoder_sits_below_search_hub_export_and_config():
    deps = graph()["siamese_text.encoder"]
    assert deps <= {"siamese_text.errors", "siamese_text.scoring", "siamese_text.storage", "siamese_text.model_files",
                    "siamese_text.onnx_runtime"}, deps
    for upper in ("siamese_text.search", "siamese_text.hub", "siamese_text.export", "siamese_text.config",
                  "siamese_text.calibration", "siamese_text.training"):
        assert not any(d == upper or d.startswith(upper + ".") for d in deps)
