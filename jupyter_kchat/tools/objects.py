"""One object of any kind, read so that nothing secret leaves: what get_resource shows.

Every string passes :func:`scrub`: values under credential-looking keys (a ConfigMap's
``PAYMENT_API_KEY``, an env entry ``DB_PASSWORD``) are masked, everything else passes
:func:`~jupyter_kchat.tools.redact.redact_text`. ``managedFields`` and the last-applied
annotation are removed. A Secret is decoded with its values left as undecoded raw JSON (never
strings): only key names and sizes are kept.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .base import ToolContext
from .discovery import Kind
from .redact import LAST_APPLIED, MASK, is_reference_key, is_sensitive_name, redact_text
from .table import SECRET_KINDS


def scrub(value: Any, key: str = "") -> Any:
    """``value`` safe to show: credentials masked by key name and by text pattern."""
    if isinstance(value, str):
        if key and is_sensitive_name(key) and not is_reference_key(key):
            return MASK
        return redact_text(value)
    if isinstance(value, dict):
        named = value.get("name")
        sensitive_env = isinstance(named, str) and "value" in value and is_sensitive_name(named)
        return {
            k: (MASK if sensitive_env and k == "value" else scrub(v, k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    return value


class _SecretObject(msgspec.Struct, rename="camel"):
    """A Secret whose values stay undecoded raw JSON slices (never strings); so does its
    metadata until :func:`_secret_metadata` leaves out the last-applied copy of the data."""

    metadata: dict[str, msgspec.Raw] = {}
    type: str = ""
    data: dict[str, msgspec.Raw] | None = None
    string_data: dict[str, msgspec.Raw] | None = None
    immutable: bool | None = None


def _clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    meta = dict(meta)
    meta.pop("managedFields", None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return meta


def _secret_metadata(raw: dict[str, msgspec.Raw]) -> dict[str, Any]:
    """A Secret's metadata decoded without managedFields and without the last-applied
    annotation, which holds the whole Secret, values included."""
    meta = {
        key: msgspec.json.decode(value)
        for key, value in raw.items()
        if key not in ("managedFields", "annotations")
    }
    if "annotations" in raw:
        notes = msgspec.json.decode(raw["annotations"], type=dict[str, msgspec.Raw])
        kept = {k: msgspec.json.decode(v) for k, v in notes.items() if k != LAST_APPLIED}
        if kept:
            meta["annotations"] = kept
    return meta


def fetch_object(ctx: ToolContext, kind: Kind, name: str, namespace: str | None) -> dict[str, Any]:
    """The object as plain, scrubbed JSON (a Secret: key names and sizes in place of values)."""
    where = f" in namespace {namespace!r}" if kind.namespaced else ""
    missing = (
        f"{kind.kind} {name!r} not found{where}. list_resources kind={kind.qualified}"
        + (f" (namespace={namespace}, or all_namespaces=true)" if kind.namespaced else "")
        + " shows the exact names."
    )
    path = kind.path(namespace, name)
    if (kind.group, kind.resource) in SECRET_KINDS:
        secret = ctx.cluster.get(path, _SecretObject, timeout=ctx.timeout, not_found=missing)
        values = {**(secret.data or {}), **(secret.string_data or {})}
        obj: dict[str, Any] = {
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "metadata": _secret_metadata(secret.metadata),
            "type": secret.type,
            "data": {
                key: f"<{_secret_size(raw)} bytes, not shown>"
                for key, raw in sorted(values.items())
            },
        }
        del secret, values
        return scrub(obj)
    raw = ctx.cluster.get(path, dict, timeout=ctx.timeout, not_found=missing)
    raw["metadata"] = _clean_metadata(raw.get("metadata") or {})
    return scrub(raw)


def _secret_size(raw: msgspec.Raw) -> int:
    """Decoded size of a base64 value, from its raw JSON slice (``"..."``) alone."""
    body = bytes(raw)[1:-1]
    return len(body) * 3 // 4 - len(body) + len(body.rstrip(b"="))
