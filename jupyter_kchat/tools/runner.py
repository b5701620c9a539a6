"""Running one tool call: argument checks, a worker thread, a time limit, failures as advice.

kchat's own chat engine and its MCP server call tools through here, so a tool answers the same
way (same budget, same redaction, same error texts) whoever asked for it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from functools import lru_cache
from typing import Any, Literal

import jsonschema
import orjson
from referencing.exceptions import Unresolvable

from .base import ToolContext, ToolError, ToolRegistry, ToolResult, ToolSpec
from .redact import redact_text

log = logging.getLogger(__name__)

Status = Literal["completed", "error", "denied", "cancelled"]

DENIED = (
    "The user denied this change (or did not answer in time); nothing was sent to the cluster. "
    "Do not retry it unless the user asks again."
)
"""What a caller learns when a change was not approved."""


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(orjson.loads(schema_json))


def argument_problem(parameters: dict[str, Any], args: dict[str, Any]) -> str | None:
    """What is wrong with ``args`` against a tool's JSON schema (None when they fit).

    ``parameters`` is the schema as offered (``ToolRegistry.parameters``: with ``context``
    when the kubeconfig has several).
    """
    schema_json = orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS).decode()
    try:
        errors = sorted(_validator(schema_json).iter_errors(args), key=lambda e: list(e.path))
    except (Unresolvable, jsonschema.SchemaError, jsonschema.exceptions.UnknownType) as exc:
        # Only another MCP server's schema can be broken this way (kchat's are tested).
        return f"the tool's own schema cannot be checked ({type(exc).__name__}); do not call it"
    if not errors:
        return None
    return "; ".join(
        f"{'.'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in errors[:5]
    )


async def execute(
    spec: ToolSpec,
    args: dict[str, Any],
    context: ToolContext,
    *,
    executor: Executor | None,
    timeout: float,
) -> tuple[ToolResult, Status]:
    """Run ``spec`` (through :meth:`ToolRegistry.run`, which picks the kubeconfig context) in a
    worker thread within ``timeout``; failures become an error result.

    The result text is redacted here, the last step before it leaves the tools layer.
    """
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            result = await loop.run_in_executor(executor, ToolRegistry.run, spec, context, args)
    except ToolError as exc:
        return ToolResult(text=redact_text(f"Error: {exc}")), "error"
    except TimeoutError:
        return ToolResult(
            text=f"Error: {spec.name} did not finish within {timeout:g} s (the cluster is slow "
            "or unreachable). Try a narrower request (one namespace, a label selector)."
        ), "error"
    except Exception as exc:
        log.exception("tool %s failed", spec.name)
        return ToolResult(
            text=redact_text(
                f"Error: {spec.name} failed unexpectedly ({type(exc).__name__}: {exc})."
            )
        ), "error"
    return ToolResult(redact_text(result.text), result.data, result.truncated), "completed"
