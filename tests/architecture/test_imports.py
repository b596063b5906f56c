"""Who may import whom (README, "Layout"): portal → compliance → lending → credentials →
terminals → core. An app never imports one above it, not even inside a function body; where a
lower app must ask an upper one, the upper one registers in the lower one's hooks. Inside an app,
no module imports one that imports it back, and connectors use no service."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["core", "terminals", "credentials", "lending", "compliance", "portal"]
RANK = {app: rank for rank, app in enumerate(LAYERS)}


def _modules() -> dict[str, Path]:
    found = {}
    for app in LAYERS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Django's migrations name other apps by design
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                found.append((base, child.lineno, in_function))
                # `from credentials import services` imports the module credentials.services.
                found.extend(
                    (f"{base}.{alias.name}", child.lineno, in_function)
                    for alias in child.names
                    if f"{base}.{alias.name}" in MODULES
                )
            visit(child, nested)

    visit(tree, False)
    return found


def _app(module: str) -> str | None:
    head = module.split(".")[0]
    return head if head in RANK else None


def test_every_app_is_in_the_layer_list():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LAYERS)


def test_no_app_imports_an_app_above_it():
    upward = []
    for module, path in MODULES.items():
        for imported, line, _in_function in _imports(path):
            target = _app(imported)
            if target and RANK[target] > RANK[_app(module)]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert upward == []


def test_imports_of_other_apps_stand_at_the_top_of_the_module():
    """An import hidden in a function body is how a wrong-way dependency hides; AppConfig.ready()
    is where registrations happen, once the models are loaded."""
    hidden = []
    for module, path in MODULES.items():
        if path.name == "apps.py":
            continue
        for imported, line, in_function in _imports(path):
            target = _app(imported)
            if in_function and target and target != _app(module):
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert hidden == []


def test_connectors_use_no_service():
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for module, path in MODULES.items()
        if module.startswith("credentials.connectors")
        for imported, line, _ in _imports(path)
        if _app(imported)
        and not imported.startswith(
            (
                "credentials.connectors",
                "credentials.secrets",
                "credentials.models",
                "core",
            )
        )
    ]
    assert offending == []


def test_no_module_imports_one_that_imports_it_back():
    graph = {
        module: {
            imported
            for imported, _line, _ in _imports(path)
            if imported in MODULES and imported != module
        }
        for module, path in MODULES.items()
        if not module.endswith(".apps")
    }
    cycles = set()

    def walk(module: str, trail: list[str]) -> None:
        for nxt in graph.get(module, ()):
            if nxt in trail:
                cycle = trail[trail.index(nxt) :]
                turn = cycle.index(min(cycle))
                cycles.add(" -> ".join(cycle[turn:] + cycle[:turn]))
            elif len(trail) < 12:
                walk(nxt, [*trail, nxt])

    for module in graph:
        walk(module, [module])
    # A package's __init__ importing its own submodules is not a cycle of concern.
    cycles = {
        c
        for c in cycles
        if not all(m.split(".")[0] == c.split(".")[0] and "." not in m for m in c.split(" -> "))
    }
    assert "\n".join(sorted(cycles)) == ""


def test_the_readme_draws_the_same_layers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert " → ".join(reversed(LAYERS)) in readme


def test_the_readme_layout_names_every_folder_and_only_those():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    named = {line.split()[0].rstrip("/") for line in block.splitlines() if line[:1].isalpha()}
    folders = {
        path.name
        for path in ROOT.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and path.name != "data"  # data/: the running service's files
    }
    assert named == folders
    # Every module the layout names in parentheses is where it says.
    for app in LAYERS:
        described = block.split(f"\n{app}/", 1)[1].split("\n", 1)[0]
        rest = block.split(f"\n{app}/", 1)[1]
        for line in rest.splitlines()[1:]:
            if line[:1].isalpha():
                break
            described += line
        for name in re.findall(r"\b([a-z_]+\.py)\b", described):
            assert (ROOT / app / name).exists() or (ROOT / app / "api" / name).exists(), name
