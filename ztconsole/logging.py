"""Structured JSON logging with the request id, and a filter that keeps secrets out of the logs."""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("zt_request_id", default="-")

# Keys whose values are never written to a log line, whatever logger emits them.
# A key is sensitive when its last word names a secret ("password", "otp_token", "aes_key"), not when a secret
# word merely appears in it ("api_tokens_revoked" is a count).
SENSITIVE_KEYS = re.compile(
    r"(^|[_-])(pass(word|wd)?|secret|token|otp|key|code|seed|psk|authorization|cookie|session(id)?)$", re.I
)
# "name=value" / "name: value" pairs inside free text.
_INLINE = re.compile(
    r"(?P<name>pass(?:word)?|secret|token|otp(?:_token)?|api[_-]?key|authorization|bearer)"
    r"(?P<sep>\s*[=:]\s*|\s+)(?P<value>[^\s,;&'\"]+)",
    re.I,
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    return _INLINE.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", text)


def redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and SENSITIVE_KEYS.search(k) else redact_value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, depth + 1) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Scrubs secrets from the message, its arguments and any structured extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Redact the arguments' structure first (dict keys), then the formatted text, so a placeholder
        # in the message can never be separated from its argument.
        if isinstance(record.args, dict):
            record.args = redact_value(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact_value(a) for a in record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        for attr, value in list(record.__dict__.items()):
            if attr in _STANDARD_ATTRS:
                continue
            if SENSITIVE_KEYS.search(attr):
                setattr(record, attr, REDACTED)
            elif isinstance(value, (dict, list, str)):
                setattr(record, attr, redact_value(value))
        return True


_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"request_id", "message", "asctime"}


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line; Django's request objects are reduced to method and path."""

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        request = log_record.pop("request", None)
        if request is not None and hasattr(request, "path"):
            log_record["http"] = {"method": request.method, "path": request.path}
        log_record.pop("color_message", None)
        if not isinstance(log_record.get("status_code", 0), int):
            log_record.pop("status_code")
