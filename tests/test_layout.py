"""The package's import graph is a layering: no module imports (at any depth, in any function) a module that
imports it back. Code under ``if __name__ == "__main__":`` runs only when the file is the program, so it
is not part of the graph (that is where the low modules call their command in paperlib.commands)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "paperlib"


def _is_main_guard(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def import_graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for name in modules:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        body = [n for n in tree.body if not _is_main_guard(n)]
        deps = set()
        for node in (sub for top in body for sub in ast.walk(top)):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 1 or module.startswith("paperlib"):
                    head = module.removeprefix("paperlib").lstrip(".").split(".")[0]
                    deps |= {head} if head else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("paperlib.")}
        graph[name] = (deps & modules) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1; stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        state[v] = 2; stack.pop()
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_paperlib_has_no_import_cycle():
    graph = import_graph()
    assert "stages" in graph and "tokenizers" in graph["stages"]          # the graph is read at all
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
