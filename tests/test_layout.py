"""The layout stays true: no import cycles (imports inside functions count), sub-packages import
only the stages before them, and the built wheel carries the proofs, the licence and the version.
"""

import ast
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import symnet as sn

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symnet"
# The stages in the order data flows through them; a module may import its own stage and the
# ones before it. The top level (cli, prove, demo, testing, __init__) may import anything.
STAGES = ["algebra", "nn", "derivation", "printing", "codegen", "checking", "training"]
LEAVES = {"symnet.errors", "symnet._version", "symnet.files"}  # importable from every stage


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules) -> set[str]:
    """symnet modules that `name` imports, anywhere in its body (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        out |= {c for c in candidates if c in modules and c != name}
    # A package's __init__ re-exporting its own children is not a dependency of design.
    if path.name == "__init__.py":
        out = {t for t in out if not t.startswith(name + ".")}
    return out


GRAPH = {name: _imports(name, path, _modules()) for name, path in _modules().items()}


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
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


def test_no_import_cycles_counting_imports_inside_functions():
    assert len(GRAPH) > 30
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_stages_import_only_the_stages_before_them():
    wrong = []
    for module, targets in GRAPH.items():
        stage = _stage(module)
        if stage is None:
            continue
        for target in targets - LEAVES:
            other = _stage(target)
            if other is None or STAGES.index(other) > STAGES.index(stage):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_every_stage_says_what_it_holds_and_may_import():
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "May import" in doc, stage


def test_version_has_one_source():
    from symnet._version import __version__

    assert sn.__version__ == __version__
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and __version__ not in text


def test_cli_version(capsys):
    from symnet.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"symnet {sn.__version__}"


@pytest.mark.slow
def test_wheel_installs_and_proves_outside_the_checkout(tmp_path):
    """Build the wheel, install it into a fresh virtual environment, and run `symnet prove -k
    dense` and `symnet --version` from a folder that is not the checkout."""
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("symnet-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # SymPy and NumPy come from this environment (a plain path: its .pth files, among them an
    # editable install of this checkout, are not processed), symnet from the wheel alone.
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip of this environment installs into the new one (its scripts run the new python).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "-q", str(wheel)], check=True, capture_output=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SYMNET_PROOFS")}

    def run(*args):
        return subprocess.run(list(args), cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=300)

    where = run(str(python), "-c", "import symnet; print(symnet.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout
    script = python.parent / ("symnet.exe" if os.name == "nt" else "symnet")
    version = run(str(script), "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"symnet {sn.__version__}"
    proved = run(str(script), "prove", "-k", "dense")
    assert proved.returncode == 0, proved.stdout + proved.stderr
    assert "dense layer" in proved.stdout and "proved" in proved.stdout
    licence = list(Path(purelib).glob("symnet-*.dist-info/licenses/LICENSE"))
    assert licence and "MIT License" in licence[0].read_text()


def _floor(name):
    import re

    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    m = re.search(rf'"{name}\s*>=\s*([0-9.]+)', text)
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def test_declared_floors_are_the_tested_ones():
    """numpy < 2 returns float64 losses for float32 inputs (scalar promotion before NEP 50);
    sympy 1.12 has no sympy.matrices.exceptions; matplotlib < 3.8.4 and scikit-learn < 1.4.2
    are built against numpy 1.x and fail to import under numpy 2. .ci/floors installs exactly
    these floors (read from pyproject) and runs the tests there."""
    assert _floor("numpy") >= (2, 0)
    assert _floor("sympy") >= (1, 13)
    assert _floor("mpmath") >= (1, 3)
    assert _floor("matplotlib") >= (3, 8, 4)
    assert _floor("scikit-learn") >= (1, 4, 2)


def test_float32_loss_stays_float32():
    import numpy as np

    model = sn.compile("2-3-2 tanh softmax_ce", dtype=np.float32)
    L = model.loss(model.init(0), np.ones((4, 2), np.float32), np.array([0, 1, 1, 0]))
    assert L.dtype == np.float32
