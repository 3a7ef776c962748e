"""
The packages of otter2 import one another in one direction only
(ARCHITECTURE.md, STYLE.md §1): values at the bottom, pure decisions and the
cloud's tables above them, convergence and the performers above those, the
services and the API near the top, the composition root last.

test-case-name: tests.test_layers
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = Path(__file__).resolve().parents[1] / "otter2"

#: Each top-level module or package of otter2 and its layer: a module may
#: import only from layers below its own (and from itself).
LAYERS: dict[str, int] = {
    "model": 0,
    "intents": 1, "control": 1, "cloud": 1, "store": 1, "config": 1, "logs": 1,
    "partition": 1,
    "convergence": 2, "effects": 2, "scheduling": 2,
    "simulation": 3, "service": 3, "metrics": 3,
    "api": 4, "bench": 4,
    "tap": 5,
}


def _unit(path: Path, root: Path = PACKAGE) -> str:
    """The top-level module or package of otter2 that ``path`` belongs to."""
    return path.relative_to(root).parts[0].removesuffix(".py")


def imported_units(path: Path) -> set[str]:
    """The top-level parts of otter2 that the module at ``path`` imports."""
    units: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        units.update(name.split(".")[1] for name in names
                     if name.startswith("otter2.") and name.count(".") >= 1)
    return units


def layering_violations(root: Path = PACKAGE) -> list[str]:
    """Sentences naming every import under ``root`` that goes sideways or up."""
    violations = []
    for path in sorted(root.rglob("*.py")):
        unit = _unit(path, root)
        if unit == "__init__":
            continue
        for target in sorted(imported_units(path) - {unit}):
            if LAYERS[target] >= LAYERS[unit]:
                violations.append(f"{path.relative_to(root.parent)} ({unit}, layer "
                                  f"{LAYERS[unit]}) imports {target} (layer {LAYERS[target]})")
    return violations


class LayerTests(SynchronousTestCase):
    """The import direction of every package."""

    def test_every_unit_has_a_layer(self) -> None:
        """Every module and package of otter2 is placed in a layer."""
        units = {_unit(path) for path in PACKAGE.rglob("*.py")} - {"__init__"}
        self.assertEqual(sorted(units - set(LAYERS)), [])

    def test_imports_point_down(self) -> None:
        """No module imports from its own layer's neighbours or from a layer above."""
        self.assertEqual(layering_violations(), [])

    def test_cloud_knows_nothing_of_convergence(self) -> None:
        """``cloud`` reads the cloud's answers without importing convergence."""
        imports = set().union(*(imported_units(path)
                                for path in (PACKAGE / "cloud").rglob("*.py")))
        self.assertNotIn("convergence", imports)

    def test_a_cycle_is_caught(self) -> None:
        """The check reports an upward import (here: model importing convergence)."""
        root = Path(self.mktemp()) / "otter2"
        (root / "model").mkdir(parents=True)
        (root / "convergence").mkdir()
        (root / "model" / "_layer_probe.py").write_text(
            "from otter2.convergence.steps import Step\nimport otter2.model.group\n")
        (root / "convergence" / "steps.py").write_text("from otter2.model import group\n")
        self.assertEqual(layering_violations(root),
                         ["otter2/model/_layer_probe.py (model, layer 0) imports "
                          "convergence (layer 2)"])
