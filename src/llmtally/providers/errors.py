"""Errors in the shape each wire family's SDK expects, so its own exception types
fire: OpenAI (https://platform.openai.com/docs/guides/error-codes), Anthropic
(https://docs.anthropic.com/en/api/errors) and Gemini (Google's
https://cloud.google.com/apis/design/errors, ``{"error": {"code", "message",
"status"}}``) and AWS Bedrock (``{"message": ...}`` with the error's name in the
``x-amzn-ErrorType`` header, https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html
and API_runtime_Converse.html#API_runtime_Converse_Errors). A
:class:`~llmtally.providers.wires.Wire` names its family."""

from __future__ import annotations

import json
from typing import Literal

__all__ = ["Family", "bedrock_error_type", "error_body"]

# The API families: their SDKs, error shapes and message grammars.
Family = Literal["openai", "anthropic", "gemini", "bedrock"]

# OpenAI sends an exhausted quota as type and code "insufficient_quota"
# (https://platform.openai.com/docs/guides/error-codes, 429): the code names the type.
_OPENAI_CODE_TYPES = {"insufficient_quota"}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout",
    413: "invalid_request_error",
    414: "invalid_request_error",
    429: "rate_limit_exceeded",
    431: "invalid_request_error",
    502: "api_error",
    504: "timeout",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "request_too_large",
    414: "request_too_large",
    429: "rate_limit_error",
    431: "request_too_large",
    502: "api_error",
    504: "api_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    502: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


_BEDROCK_TYPES = {
    400: "ValidationException",
    401: "AccessDeniedException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
    504: "ServiceUnavailableException",
}


def bedrock_error_type(status: int) -> str:
    """The Bedrock error name for an HTTP status (its ``x-amzn-ErrorType`` header)."""
    if status in _BEDROCK_TYPES:
        return _BEDROCK_TYPES[status]
    return "ValidationException" if status < 500 else "InternalServerException"


def _openai_type(status: int, code: str | None) -> str:
    return code if code in _OPENAI_CODE_TYPES else _OPENAI_TYPES.get(status, "api_error")


def error_body(wire: Family, status: int, message: str, code: str | None = None) -> bytes:
    """The JSON error body of the ``wire`` family for an HTTP ``status``."""
    if wire == "anthropic":
        data: dict[str, object] = {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
        }
    elif wire == "bedrock":
        data = {"message": message}
    elif wire == "gemini":
        data = {
            "error": {
                "code": status,
                "message": message,
                "status": _GEMINI_STATUS.get(status, "INTERNAL"),
            }
        }
    else:
        data = {
            "error": {
                "message": message,
                "type": code
                if code in _OPENAI_CODE_TYPES
                else _OPENAI_TYPES.get(status, "api_error"),
                "param": None,
                "code": code,
            }
        }
    return json.dumps(data).encode()
