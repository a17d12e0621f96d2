"""The import rules of the layers, read from the source with ``ast`` (lazy imports in functions count).

- Each layer imports only itself and the layers below it: common < models < envs < agents < nes <
  tuning < experiments. So common/ imports nothing of ours, and no library layer imports experiments.
- Nothing imports an entry point from outside it: shared pieces live in helper modules. An entry
  point is a module with ``if __name__ == "__main__"`` or a package with a ``__main__.py`` (then all
  its modules are parts of it); they are discovered, so a new one is covered at once. Tests may
  import entry points; they are not scanned.
"""
import ast
import textwrap
from pathlib import Path

from tests.helpers import REPO_ROOT

LAYERS = ("common", "models", "envs", "agents", "nes", "tuning", "experiments")


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the layer packages under ``root``."""
    modules = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def is_main_guard(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def entry_points(modules: dict[str, Path]) -> set[str]:
    """Modules with a main guard, and packages with a ``__main__`` module."""
    found = set()
    for name, path in modules.items():
        if name.endswith(".__main__"):
            found.add(name.rpartition(".")[0])
        elif any(is_main_guard(node) for node in ast.parse(path.read_text()).body):
            found.add(name)
    return found


def owner(name: str, points: set[str]) -> str | None:
    """The entry point ``name`` is (part of), if any."""
    return next((p for p in points if name == p or name.startswith(p + ".")), None)


def imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that ``name`` imports (``from a import b`` imports module a.b where there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t.split(".")[0] in LAYERS}
    return found


def violations(root: Path) -> list[str]:
    modules = module_files(root)
    points = entry_points(modules)
    problems = []
    for name, path in modules.items():
        layer = LAYERS.index(name.split(".")[0])
        for target in sorted(imports(name, path, modules)):
            above = LAYERS.index(target.split(".")[0]) > layer
            if above:
                problems.append(f"{name} imports {target}: layer {LAYERS[layer]} may import only "
                                f"{', '.join(LAYERS[:layer + 1])}")
            entry = owner(target, points)
            if entry is not None and entry != owner(name, points) and not above:
                problems.append(f"{name} imports {target}, part of entry point {entry}: "
                                f"move what they share into a helper module")
    return problems


def test_the_layers_and_entry_points_import_only_what_they_may():
    assert violations(REPO_ROOT) == []


def test_entry_points_are_discovered():
    points = entry_points(module_files(REPO_ROOT))
    assert {"experiments.learn_env", "experiments.evaluate_env", "experiments.figures",
            "experiments.worker"} <= points
    assert "experiments.cli" not in points and "experiments.figures.success" not in points


def test_a_broken_rule_is_reported(tmp_path):
    """The checker itself: each rule on a made-up tree."""
    files = {
        "common/__init__.py": "",
        "common/bad.py": "from envs import real\n",
        "envs/__init__.py": "",
        "envs/real.py": "",
        "nes/__init__.py": "",
        "nes/lazy.py": "def f():\n    import experiments.cli\n",
        "experiments/__init__.py": "",
        "experiments/cli.py": "",
        "experiments/one.py": "VALUE = 1\nif __name__ == '__main__':\n    pass\n",
        "experiments/two.py": "from .one import VALUE\nif __name__ == '__main__':\n    pass\n",
        "experiments/pack/__init__.py": "from experiments.pack import part\n",
        "experiments/pack/__main__.py": "",
        "experiments/pack/part.py": "from experiments import cli\n",
        "experiments/three.py": "from experiments.pack import part\nif __name__ == '__main__':\n    pass\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    problems = violations(tmp_path)
    assert sorted(p.split(":")[0] for p in problems) == [
        "common.bad imports envs.real",
        "experiments.three imports experiments.pack.part, part of entry point experiments.pack",
        "experiments.two imports experiments.one, part of entry point experiments.one",
        "nes.lazy imports experiments.cli"]
