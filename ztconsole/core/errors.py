"""The error every action raises when it refuses; every layer above catches this one class."""

from __future__ import annotations


class ActionError(Exception):
    """A refused action; the message is safe to show to the user. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
