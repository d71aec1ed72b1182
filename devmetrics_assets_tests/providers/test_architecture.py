"""The provider architecture holds: each system in its folder, nothing else branching on provider names,
no import cycles, and nothing but the console entry point importing the command line.

These read the source with `ast`, so they fail on the line that breaks a rule, whatever the tests cover.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import devmetrics_assets
from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.providers.interface import Provider

PACKAGE = Path(devmetrics_assets.__file__).parent
# What each provider folder owns today (adding a provider: one folder, one registry line, its docs).
OWNED = {
    "github": {"__init__.py", "anchors.py", "changes.py", "deployments.py", "incidents.py", "lineage.py",
               "mainline.py", "pull.py", "pull_issues.py", "realtime.py", "recorded_jsonl.py", "webhook.py"},
    "gitlab": {"__init__.py", "changes.py", "deployments.py", "incidents.py", "lineage.py", "mainline.py",
               "pull.py", "silver.py", "webhook.py"},
    "pagerduty": {"__init__.py", "incidents.py", "lineage.py", "pull.py", "webhook.py"},
    "generic": {"__init__.py", "lineage.py", "schema.py", "silver.py", "webhook.py"},
    "jira": {"__init__.py", "incidents.py", "lineage.py", "pull.py", "rules.py", "webhook.py"},
    "opsgenie": {"__init__.py", "incidents.py", "lineage.py", "pull.py", "rules.py", "webhook.py"},
    "github_actions": {"__init__.py", "deployments.py", "lineage.py", "pull.py", "rules.py", "webhook.py"},
}
# The demo package simulates the source systems (it has to speak each one's payloads).
EXEMPT = ("providers", "demo")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def test_every_registered_provider_is_a_folder_owning_its_files() -> None:
    assert set(PROVIDERS) == set(OWNED), "a provider was added or removed: update OWNED and docs/sources.md"
    for name, provider in PROVIDERS.items():
        assert isinstance(provider, Provider) and provider.name == name
        folder = PACKAGE / "providers" / name
        assert {p.name for p in folder.glob("*.py")} == OWNED[name], name
        assert type(provider).__module__ == "devmetrics_assets.providers.interface"
        # Every callable of the provider object is defined inside its own folder or in a neutral module.
        for func in (provider.webhook.authenticate, provider.webhook.identify, provider.anchor,
                     provider.lineage_keys):
            assert func.__module__.startswith(f"devmetrics_assets.providers.{name}"), (name, func)


def _provider_names(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in PROVIDERS]


def _branches_on_provider_names(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.IfExp | ast.While):
            found += [(node.lineno, name) for name in _provider_names(node.test)]
        elif isinstance(node, ast.Compare):
            found += [(node.lineno, name) for name in _provider_names(node)]
        elif isinstance(node, ast.Match):
            found += [(node.lineno, name) for case in node.cases for name in _provider_names(case.pattern)]
        elif isinstance(node, ast.Dict):  # a per-provider table outside the provider folders
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            if sum(k in PROVIDERS for k in keys) >= 2:
                found.append((node.lineno, ", ".join(k for k in keys if k in PROVIDERS)))
    return sorted(set(found))


def test_no_provider_name_branches_outside_the_provider_folders() -> None:
    offenders = []
    for module, path in MODULES.items():
        if module.split(".")[1:2] and module.split(".")[1] in EXEMPT:
            continue
        for line, name in _branches_on_provider_names(ast.parse(path.read_text())):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} branches on {name!r}")
    assert not offenders, "dispatch through providers.PROVIDERS instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize("source", [
    'if provider == "gitlab":\n    pass',
    'x = 1 if p in ("github", "pagerduty") else 2',
    'T = {"github": 1, "gitlab": 2}',
    'match p:\n    case "generic":\n        pass',
])
def test_the_branch_finder_finds_each_form(source: str) -> None:
    assert _branches_on_provider_names(ast.parse(source))


def _imports(module: str, path: Path) -> set[str]:
    """Modules of this package imported when `module` is imported (top level, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in MODULES)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base]
                                    if base else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    out.add(target if target in MODULES else base)

    visit(tree.body)
    return {m for m in out if m in MODULES and m != module}


def test_the_import_graph_has_no_cycles() -> None:
    graph = {m: _imports(m, p) for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
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
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            strongconnect(module)
    assert not cycles, f"import cycles: {cycles}"


def test_only_the_console_entry_point_imports_the_command_line() -> None:
    offenders = []
    for module, path in MODULES.items():
        if module.startswith("devmetrics_assets.cli"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # anywhere, also inside functions
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{module}:{node.lineno}" for n in names if n.startswith("devmetrics_assets.cli")]
    assert not offenders, offenders
