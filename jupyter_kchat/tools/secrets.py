"""list_secrets: names, types and key names of Secrets; values are never kept or shown.

Each page of the list is decoded into :class:`~jupyter_kchat.tools.models.SecretItem`, whose
``data`` maps key names to undecoded raw JSON slices; the key names are copied out and the page
(bytes and slices) is dropped at once, so no secret value ever becomes a Python string.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .base import ToolContext, ToolResult, ToolSpec
from .common import (
    ALL_NAMESPACES,
    LABEL_SELECTOR,
    NAMESPACE,
    check_args,
    missing_namespace,
    opt_str,
    schema,
    scope,
)
from .models import SecretItem
from .shape import Listing, age_of, clip, counts, fit_listing, plural

PARAMS = {
    "namespace": NAMESPACE,
    "all_namespaces": ALL_NAMESPACES,
    "label_selector": LABEL_SELECTOR,
}


def list_secrets(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Secret names, types and key names (never values)."""
    check_args(args, PARAMS, "list_secrets")
    where = scope(ctx, args)
    labels = opt_str(args, "label_selector")
    now = time.time()
    rows: list[dict[str, Any]] = []
    for page, _meta in ctx.cluster.iter_pages(
        where.path("secrets"), SecretItem, label_selector=labels, timeout=ctx.timeout
    ):
        for item in page:
            keys = sorted(item.data) if item.data else []
            rows.append(
                {
                    "namespace": item.metadata.namespace,
                    "name": item.metadata.name,
                    "type": item.type,
                    "keys": ", ".join(keys),
                    "key_count": len(keys),
                    "age": age_of(item.metadata.creation_timestamp, now),
                    "reason": "",
                }
            )
        del page
    if not rows:
        missing = "" if labels else missing_namespace(ctx, where)
        return ToolResult(text=f"No secrets in {where.describe()}.{missing}", data=rows)
    everywhere = where.everywhere
    head = [
        f"{plural(len(rows), 'secret')} in {where.describe()} "
        f"({counts(Counter(r['type'] for r in rows), 8)}). Key names only: values are never read "
        "into kchat or shown."
    ]
    columns = (("NAMESPACE",) if everywhere else ()) + ("NAME", "TYPE", "AGE", "KEYS")
    table_rows = [
        ((r["namespace"],) if everywhere else ())
        + (r["name"], r["type"], r["age"], clip(r["keys"], 200) or "<none>")
        for r in rows
    ]
    listing = Listing(
        noun="secrets",
        head=head,
        columns=columns,
        rest=table_rows,
        rest_group=(lambda row: row[0]) if everywhere else None,
        narrow="Narrow down: list_secrets with namespace=<ns> or label_selector.",
        rest_label="secrets",
    )
    text, truncated = fit_listing(listing, ctx.budget)
    return ToolResult(text=text, data=rows, truncated=truncated)


def secret_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="list_secrets",
            description="Secrets: type and key names, never values.",
            parameters=schema(PARAMS),
            func=list_secrets,
        )
    ]
