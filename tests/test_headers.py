"""
Every module of otter2 (and the twistd plugin) names its tests in a
``test-case-name`` line of its docstring (STYLE.md §6), and the tests it names
exist: ``trial --testmodule`` and a reader both follow that line.

test-case-name: tests.test_headers
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parents[1]
_TEST_CASE_NAME = re.compile(r"^test-case-name:\s*(.+?)\s*$", re.MULTILINE)


def named_tests(path: Path) -> list[str]:
    """The test modules the docstring of the module at ``path`` names."""
    docstring = ast.get_docstring(ast.parse(path.read_text(), str(path))) or ""
    match = _TEST_CASE_NAME.search(docstring)
    return [] if match is None else [name.strip() for name in match.group(1).split(",")]


def header_problems(root: Path = ROOT) -> list[str]:
    """A sentence for every module under ``root``'s otter2/ and twisted/ that names no
    test module, or one that is not a file under ``root``."""
    problems = []
    modules = sorted((root / "otter2").rglob("*.py")) + sorted((root / "twisted").rglob("*.py"))
    for path in modules:
        where = path.relative_to(root)
        names = named_tests(path)
        if not names:
            problems.append(f"{where} has no test-case-name line")
        for name in names:
            if not (root / (name.replace(".", "/") + ".py")).is_file():
                problems.append(f"{where} names {name}, which is not a test module")
    return problems


class TestCaseNameTests(SynchronousTestCase):
    """Each module points at the tests that exercise it."""

    def test_every_module_names_its_tests(self) -> None:
        """Every module of otter2 and the plugin names test modules that exist."""
        self.assertEqual(header_problems(), [])

    def test_problems_are_found(self) -> None:
        """A module without the line, or naming a missing module, is reported."""
        root = Path(self.mktemp())
        (root / "otter2").mkdir(parents=True)
        (root / "tests").mkdir()
        (root / "tests" / "test_good.py").write_text("")
        (root / "otter2" / "good.py").write_text(
            '"""\nGood.\n\ntest-case-name: tests.test_good\n"""\n')
        (root / "otter2" / "silent.py").write_text('"""\nNo line.\n"""\n')
        (root / "otter2" / "stale.py").write_text(
            '"""\nStale.\n\ntest-case-name: tests.test_good, tests.test_gone\n"""\n')
        self.assertEqual(header_problems(root), [
            "otter2/silent.py has no test-case-name line",
            "otter2/stale.py names tests.test_gone, which is not a test module"])
