"""
The one error value of the control plane: an API error with Otter's body.

test-case-name: tests.api.test_errors
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """
    A failure the client is told about, rendered as Otter's error body.

    ``error_type`` is the name clients match on (``NoSuchScalingGroupError``...),
    ``status`` the HTTP status that carries it.
    """

    def __init__(self, status: int, error_type: str, message: str, details: str = "") -> None:
        super().__init__(status, error_type, message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON document sent to the client."""
        return {
            "error": {
                "type": self.error_type,
                "code": self.status,
                "message": self.message,
                "details": self.details,
            }
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, APIError):
            return NotImplemented
        return (self.status, self.error_type, self.message, self.details) == (
            other.status, other.error_type, other.message, other.details)

    def __hash__(self) -> int:
        return hash((self.status, self.error_type, self.message))

    def __repr__(self) -> str:
        return f"APIError({self.status}, {self.error_type!r}, {self.message!r})"


def validation_error(message: str) -> APIError:
    """A 400 ``ValidationError`` with ``message``."""
    return APIError(400, "ValidationError", message)


def invalid_json(reason: str) -> APIError:
    """A 400 ``InvalidJsonError``: the body is not JSON, for ``reason``."""
    return APIError(400, "InvalidJsonError", f"The request body is not valid JSON: {reason}")
