"""The three PATCH formats (JSON merge, strategic merge, JSON patch) as the API applies them."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from ..cluster import Obj
from .errors import ApiError

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "envFrom": None,
    "tolerations": None,
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target: Any, patch: Any, merge_key: str | None = None) -> Any:
    """Kubernetes strategic merge patch: merge patch, but lists of named things merge by key."""
    if isinstance(patch, list) and isinstance(target, list) and merge_key:
        out = [copy.deepcopy(item) for item in target]
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                return copy.deepcopy(patch)
            index = next(
                (
                    i
                    for i, old in enumerate(out)
                    if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
                ),
                None,
            )
            if item.get("$patch") == "delete":
                if index is not None:
                    out.pop(index)
            elif index is None:
                out.append(strategic_merge_patch({}, item))
            else:
                out[index] = strategic_merge_patch(out[index], item)
        return out
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    merged: Obj = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = strategic_merge_patch(merged.get(key), value, _MERGE_KEYS.get(key))
    return merged


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise ApiError(400, "json patch must be a list of operations")
    doc = copy.deepcopy(target)

    def walk(pointer: str) -> tuple[Any, str]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        if not parts:
            raise ApiError(422, "the root document cannot be replaced by a json patch")
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node, parts[-1]

    def get(pointer: str) -> Any:
        node, last = walk(pointer)
        return node[int(last)] if isinstance(node, list) else node[last]

    def put(pointer: str, value: Any, replace: bool) -> None:
        node, last = walk(pointer)
        if isinstance(node, list):
            if last == "-":
                node.append(value)
            elif replace:
                node[int(last)] = value
            else:
                node.insert(int(last), value)
        else:
            if replace and last not in node:
                raise KeyError(last)
            node[last] = value

    def remove(pointer: str) -> Any:
        node, last = walk(pointer)
        return node.pop(int(last)) if isinstance(node, list) else node.pop(last)

    for op in operations:
        try:
            kind, path = op["op"], op["path"]
            if kind == "add":
                put(path, copy.deepcopy(op["value"]), False)
            elif kind == "replace":
                put(path, copy.deepcopy(op["value"]), True)
            elif kind == "remove":
                remove(path)
            elif kind == "move":
                put(path, remove(op["from"]), False)
            elif kind == "copy":
                put(path, copy.deepcopy(get(op["from"])), False)
            elif kind == "test":
                if get(path) != op["value"]:
                    raise ApiError(422, f"testing value {path} failed")
            else:
                raise ApiError(400, f"unexpected json patch operation {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(
                422,
                f"the server rejected our request due to an error in our "
                f"request: json patch {op!r} failed: {exc!r}",
            ) from None
    return doc


def apply_patch(target: Obj, content_type: str, body: bytes) -> Obj:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/apply-patch+yaml":
        raise ApiError(
            415,
            "server-side apply is not supported by the sample cluster emulation; "
            "use a merge or strategic merge patch",
        )
    if media not in (
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ):
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media "
            "types include: application/json-patch+json, "
            "application/merge-patch+json, application/apply-patch+yaml, "
            "application/strategic-merge-patch+json",
        )
    try:
        patch = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"error decoding patch: {exc}") from None
    if media == "application/json-patch+json":
        result = json_patch(target, patch)
    elif not isinstance(patch, dict):
        raise ApiError(400, "error decoding patch: the patch must be a JSON object")
    elif media == "application/merge-patch+json":
        result = merge_patch(copy.deepcopy(target), patch)
    else:
        result = strategic_merge_patch(copy.deepcopy(target), patch)
    if not isinstance(result, dict):
        raise ApiError(400, "error decoding patch: the result is not an object")
    return result
