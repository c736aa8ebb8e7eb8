"""Serializer fields that say what the API really answers: null, never "", for an unset value.

A blank choice or e-mail stored as "" is answered as null and the schema marks the field nullable, so a
client validating against the OpenAPI schema never meets "" where an enum or an e-mail address is promised.
"""

from __future__ import annotations

from rest_framework import serializers


class BlankAsNullChoiceField(serializers.ChoiceField):
    """A read-only enum: the stored "" reads as null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value in ("", None) else super().to_representation(value)


class BlankAsNullEmailField(serializers.EmailField):
    """A read-only e-mail address: the stored "" (none given) reads as null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value in ("", None) else super().to_representation(value)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean is true or false, nothing else: 0, "0", "yes" or null are a 400, not a guess.

    A form-encoded body carries only text, so there "true" and "false" (any case) are accepted.
    """

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        initial = getattr(self.root, "initial_data", None)
        if isinstance(data, str) and hasattr(initial, "getlist") and data.lower() in ("true", "false"):
            return data.lower() == "true"
        self.fail("invalid", input=data)
