"""Errors that actions raise and the HTTP layer and CLI turn into answers (status, one-line reason)."""

from __future__ import annotations


class ActionError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ActionError):
    status = 400


class Unauthenticated(ActionError):
    status = 401


class Forbidden(ActionError):
    status = 403


class NotFound(ActionError):
    """Also for another tenant's objects: their existence is never revealed."""

    status = 404


class Conflict(ActionError):
    status = 409


class Unprocessable(ActionError):
    """Well-formed but refused by a rule (e.g. outside a provider's messaging window)."""

    status = 422
