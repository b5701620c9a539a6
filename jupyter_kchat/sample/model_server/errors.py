"""OpenAI's error bodies, and the checks OpenAI applies to a request before answering it."""

from __future__ import annotations

from typing import Any

from ..model_faults import Fault

STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "invalid_request_error", "model_not_allowed"),
    404: ("The model `{model}` does not exist or you do not have access to it.",
          "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    429: ("Rate limit reached for requests. Please try again in 10ms.", "requests",
          "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error",
          "service_unavailable"),
}


class RequestError(Exception):
    """A request the server refuses with an OpenAI error body."""

    def __init__(self, status: int, message: str, error_type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param


def error_body(message: str, error_type: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def validate(body: Any, *, strict: bool) -> dict[str, Any]:
    """The checks OpenAI applies before generating anything (400 otherwise)."""
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestError(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError(400, "'messages' is a required property", param="messages")
    if not messages:
        raise RequestError(400, "[] is too short - 'messages'", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system", "developer", "user", "assistant", "tool",
        ):
            raise RequestError(
                400, f"Invalid value for 'messages[{index}].role'.", param=f"messages[{index}].role"
            )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise RequestError(400, "Invalid type for 'tools': expected an array.", param="tools")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise RequestError(400, "Invalid type for 'stream': expected a boolean.", param="stream")
    if strict:
        _check_tool_messages(messages)
    return body


def _check_tool_messages(messages: list[dict[str, Any]]) -> None:
    """Every tool_call id answered by a tool message right after its assistant message."""
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise RequestError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            pending.remove(call_id)
            continue
        if pending:
            raise RequestError(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                param="messages",
            )
        if role == "assistant":
            calls = message.get("tool_calls") or ()
            pending = [str(call.get("id")) for call in calls if isinstance(call, dict)]
    if pending:
        raise RequestError(
            400,
            "An assistant message with 'tool_calls' must be followed by tool messages responding "
            "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(pending)}",
            param="messages",
        )


def status_error(fault: Fault, body: dict[str, Any] | None, model: str) -> RequestError:
    """The error a ``status`` fault answers with, in the text the real API sends for it."""
    fallback_type = "server_error" if fault.code >= 500 else "invalid_request_error"
    message, error_type, code = STATUS_ERRORS.get(
        fault.code, ("Something went wrong.", fallback_type, None)
    )
    text = fault.message or message.replace("{model}", str((body or {}).get("model", model)))
    return RequestError(fault.code, text, error_type, code)
