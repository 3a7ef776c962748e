"""
Tests for otter2.api.launch_check: the intents of the remote check of a
launch configuration, with canned Nova answers.
"""

from __future__ import annotations

import base64
from typing import Any

from effect.testing import parallel_sequence, perform_sequence
from twisted.trial.unittest import SynchronousTestCase

from otter2.api.launch_check import check_launch_config
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.control.errors import APIError


def nova(relative: str) -> ServiceRequest:
    return ServiceRequest("t1", ServiceType.CLOUD_SERVERS, "GET", relative)


def launch(**server: Any) -> dict[str, Any]:
    return {"type": "launch_server", "args": {"server": {
        "flavorRef": "f1", "imageRef": "i1", **server}}}


IMAGE_OK = Response(200, {"image": {"id": "i1", "status": "ACTIVE"}})
FLAVOR_OK = Response(200, {"flavor": {"id": "f1"}})
LIMITS = Response(200, {"limits": {"absolute": {"maxPersonality": 2,
                                                "maxPersonalitySize": 10}}})


def raise_(error: Exception) -> Any:
    raise error


class CheckLaunchConfigTests(SynchronousTestCase):
    """Problems are collected into one InvalidLaunchConfiguration."""

    def check(self, config: dict[str, Any], answers: list[Any]) -> Any:
        return perform_sequence([parallel_sequence([[a] for a in answers])],
                                check_launch_config("t1", config))

    def problems(self, config: dict[str, Any], answers: list[Any]) -> list[str]:
        with self.assertRaises(APIError) as caught:
            self.check(config, answers)
        self.assertEqual((caught.exception.status, caught.exception.error_type),
                         (400, "InvalidLaunchConfiguration"))
        lines = caught.exception.message.splitlines()
        self.assertEqual(lines[0], "Following problems with launch configuration:")
        return lines[1:]

    def test_valid(self) -> None:
        """An existing ACTIVE image and an existing flavor pass."""
        self.assertIsNone(self.check(launch(), [(nova("images/i1"), lambda _: IMAGE_OK),
                                                (nova("flavors/f1"), lambda _: FLAVOR_OK)]))

    def test_missing_and_inactive(self) -> None:
        """A missing flavor and an inactive image give one line each."""
        self.assertEqual(self.problems(launch(), [
            (nova("images/i1"), lambda _: Response(200, {"image": {"status": "SAVING"}})),
            (nova("flavors/f1"), lambda _: Response(404, {"itemNotFound": {}}))]),
            ['Inactive imageRef "i1" in launchConfiguration',
             'Invalid flavorRef "f1" in launchConfiguration'])

    def test_personality(self) -> None:
        """Bad base64, too many files and a file too large are each reported."""
        files = [{"path": "/a", "contents": "not base64!"},
                 {"path": "/b", "contents": base64.b64encode(b"x" * 11).decode()},
                 {"path": "/c", "contents": base64.b64encode(b"ok").decode()}]
        self.assertEqual(self.problems(launch(personality=files), [
            (nova("images/i1"), lambda _: IMAGE_OK), (nova("flavors/f1"), lambda _: FLAVOR_OK),
            (nova("limits"), lambda _: LIMITS)]),
            ['Invalid base64 encoding for contents of path "/a"',
             'Number of files "3" in personality exceeds maximum limit "2"',
             'File "/b" content\'s size exceeds maximum size "10"'])

    def test_boot_from_volume_checks_flavor_only(self) -> None:
        """Without an imageRef only the flavor is looked up."""
        config = launch(imageRef=None, block_device_mapping_v2=[{}])
        self.assertIsNone(self.check(config, [(nova("flavors/f1"), lambda _: FLAVOR_OK)]))

    def test_outage_is_503(self) -> None:
        """A Nova that cannot answer is a 503 to retry, not an invalid image."""
        with self.assertRaises(APIError) as caught:
            self.check(launch(), [(nova("images/i1"), lambda _: Response(503, "down")),
                                  (nova("flavors/f1"), lambda _: FLAVOR_OK)])
        self.assertEqual(caught.exception.status, 503)
        with self.assertRaises(APIError) as caught:
            self.check(launch(), [(nova("images/i1"), lambda _: raise_(OSError("refused"))),
                                  (nova("flavors/f1"), lambda _: FLAVOR_OK)])
        self.assertEqual(caught.exception.status, 503)
        self.assertIn("refused", caught.exception.message)

    def test_stack_is_not_checked(self) -> None:
        """launch_stack configurations are not looked up."""
        self.assertIsNone(perform_sequence([], check_launch_config(
            "t1", {"type": "launch_stack", "args": {"stack": {"template": "x"}}})))
