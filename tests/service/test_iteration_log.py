"""
The converger's log line for each iteration: what an operator searches for.
"""

from __future__ import annotations

from twisted.logger import capturedLogs

from tests.service.test_converger import ConvergerTestCase


class IterationLogTests(ConvergerTestCase):
    """Each iteration logs one line with its tenant, group, id, verdict, steps and time."""

    def test_iteration_line(self) -> None:
        """The first iteration of a group of 2 says it created 2 servers, under an id
        of its own, with the seconds its round took."""
        self.make_group(desired=2)
        with capturedLogs() as events:
            self.run_for(60)
        lines = [e for e in events
                 if e.get("log_namespace") == "otter2.converger" and "verdict" in e]
        first = lines[0]
        self.assertEqual((first["tenant_id"], first["group_id"], first["verdict"],
                          first["steps"]), ("t1", "g1", "RETRY", {"CreateServer": 2}))
        self.assertIsInstance(first["seconds"], float)
        self.assertEqual(len({line["iteration_id"] for line in lines}), len(lines))
        self.assertEqual(lines[-1]["verdict"], "SUCCESS")
