"""The demo code stays apart from the runtime, and still ships with it.

Only `devmetrics_assets/demo/` itself and the command line (`devmetrics demo`, `devmetrics replay`)
may import `devmetrics_assets.demo`: every module is parsed with `ast` (nothing is imported, so a
lazy import inside a function counts too), and a string naming the package (`importlib`, `python -m`)
counts as an import.

The packaging half cannot build a wheel here: the build backend needs `wheel` and setuptools>=68,
which the development environment does not have, and build isolation would fetch them from the
network. So it runs setuptools' own `build_py` step (the one `bdist_wheel` runs to fill the wheel)
from pyproject.toml's configuration, in a subprocess, into a temporary directory, and checks that
every file under demo/ lands there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "devmetrics_assets"
DEMO = "devmetrics_assets.demo"
ALLOWED = ("devmetrics_assets.demo", "devmetrics_assets.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def demo_imports(source: str, module: str, *, is_package: bool) -> list[str]:
    """What in `source` (the text of `module`) reaches `devmetrics_assets.demo`, one entry per hit."""
    # A package's relative imports start from the package itself, a module's from its parent.
    here = module.split(".") if is_package else module.split(".")[:-1]
    hits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
            base = ".".join(part for part in (base, node.module or "") if part)
            # `from devmetrics_assets import demo` names the package in the alias, not the module.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            targets = [node.value] if is_within(node.value, DEMO) else []
        else:
            continue
        hits += [f"line {node.lineno}: {target}" for target in targets if is_within(target, DEMO)][:1]
    return hits


def test_the_detector_sees_every_way_of_reaching_demo() -> None:
    # Guards the guard: each of these must be caught, or the walk below would pass vacuously.
    reaching = [
        "from devmetrics_assets.demo.sample_org import generate_sample_org",
        "import devmetrics_assets.demo.bench.alert_latency",
        "from devmetrics_assets import demo",
        "from ..demo import sample_org",
        "from ..demo.sample_org.payloads import sign",
        "def later():\n    from ..demo import sample_org\n",
        "importlib.import_module('devmetrics_assets.demo.sample_org')",
    ]
    for source in reaching:
        assert demo_imports(source, "devmetrics_assets.sources.readers", is_package=False), source
    assert demo_imports("from .demo import sample_org", "devmetrics_assets", is_package=True)
    harmless = [
        "from ..sources import registry",
        "from .demo_helpers import x",
        "import devmetrics_assets.democracy",
        "NAME = 'devmetrics_assets.demographics'",
    ]
    for source in harmless:
        assert not demo_imports(source, "devmetrics_assets.sources.readers", is_package=False), source


def test_no_runtime_module_imports_demo() -> None:
    offenders = {}
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50  # the walk really covers the package
    for path in modules:
        module = module_name(path)
        if any(is_within(module, allowed) for allowed in ALLOWED):
            continue
        hits = demo_imports(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")
        if hits:
            offenders[str(path.relative_to(ROOT))] = hits
    assert not offenders, f"runtime modules importing {DEMO} (only demo/ and cli/ may): {offenders}"


BUILD_PY = """
import sys
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

dist = Distribution()
dist.script_name = "pyproject.toml"  # build_py wants a script name; there is no setup.py
apply_configuration(dist, "pyproject.toml")
build = dist.get_command_obj("build_py")
build.build_lib = sys.argv[1]
build.ensure_finalized()
build.run()
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build_lib")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", BUILD_PY, str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_installed_package_carries_the_demo(built: Path) -> None:
    shipped = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    for needed in ("devmetrics_assets/demo/__init__.py",
                   "devmetrics_assets/demo/sample_org/generator.py",
                   "devmetrics_assets/demo/sample_org/truth.py",
                   "devmetrics_assets/demo/sample_org/mixed.py",
                   "devmetrics_assets/demo/bench/receiver_throughput.py",
                   "devmetrics_assets/demo/bench/alert_latency.py",
                   "devmetrics_assets/cli/commands.py"):
        assert needed in shipped, needed
    # Every file of the demo tree ships, data files included (none today; one added later without
    # package-data configuration would be left out of the wheel, and this fails).
    sources = {p.relative_to(ROOT).as_posix() for p in (PACKAGE / "demo").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert sources <= shipped, sorted(sources - shipped)
    assert not any(name.startswith("devmetrics_assets_tests") for name in shipped)
