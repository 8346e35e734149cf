"""Errors that use cases raise and the web tier turns into clear answers.

A use case raises one of these *before* it writes anything (or inside the transaction, which is
then rolled back), so bad input never leaves half-written data behind.
"""

from __future__ import annotations

__all__ = ["Conflict", "DomainError", "Forbidden", "InvalidInput", "NotFound"]


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, details: list[dict[str, str]] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or []

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"
