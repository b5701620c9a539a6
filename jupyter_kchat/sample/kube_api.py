"""A Kubernetes API server emulation over real HTTP, serving a :class:`SampleCluster`.

The official ``kubernetes`` client (and kubectl-style raw requests) talk to it exactly as to
a real API server: discovery, lists with label/field selectors and limit/continue paging,
single GETs, pod logs, deployment PATCH/PUT and the scale subresource, pod DELETE, watches,
``as=Table`` and ``as=PartialObjectMetadataList`` content negotiation, bearer-token auth with
an admin and a read-only user, and real ``Status`` errors. Fault switches make it forbid,
fail or stall chosen requests so tests can cover what real clusters do to clients.

Speed matters because benchmarks list 10,000 pods through it: every object is serialized once
(orjson) and list bodies are assembled by joining bytes, with the unfiltered lists cached.

Where it knowingly differs from a real API server: only JSON is served (an Accept header
naming only YAML or protobuf gets 406); server-side apply answers 415; POST and DELETE other
than pod deletion answer 405; spec changes are emulated for Deployments (and Node cordons) only,
other resources accept metadata/data changes and answer 422 to spec changes; ``/version`` and
the health endpoints are open to anonymous users; a continue token reads the current state,
not a snapshot; watches start "now" unless resourceVersion is unset or "0".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextlib
import copy
import logging
import re
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import orjson
import yaml
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from .cluster import (
    K8S_VERSION,
    Key,
    LogUnavailable,
    Obj,
    SampleCluster,
    parse_rfc3339,
    rfc3339,
)

log = logging.getLogger(__name__)

ADMIN_USER = "kubernetes-admin"
READONLY_USER = "system:serviceaccount:kchat:reader"
READ_VERBS = frozenset({"get", "list", "watch"})

# ---------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resource:
    """One served resource: its names, scope and what can be done to it."""

    name: str
    singular: str
    kind: str
    group: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("get", "list", "watch")
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self) -> str:
        """The name used in error messages: ``pods``, ``deployments.apps``."""
        return f"{self.name}.{self.group}" if self.group else self.name


_RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CORE = {
    r.name: r
    for r in (
        Resource(
            "namespaces",
            "namespace",
            "Namespace",
            "",
            False,
            ("ns",),
            ("status.phase",),
            _RW,
            ("status",),
        ),
        Resource(
            "nodes", "node", "Node", "", False, ("no",), ("spec.unschedulable",), _RW, ("status",)
        ),
        Resource(
            "pods",
            "pod",
            "Pod",
            "",
            True,
            ("po",),
            (
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ),
            _RW,
            ("log", "status"),
        ),
        Resource("services", "service", "Service", "", True, ("svc",), (), _RW, ("status",)),
        Resource("secrets", "secret", "Secret", "", True, (), ("type",), _RW),
        Resource("configmaps", "configmap", "ConfigMap", "", True, ("cm",), (), _RW),
        Resource(
            "events",
            "event",
            "Event",
            "",
            True,
            ("ev",),
            (
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ),
            _RW,
        ),
    )
}
APPS = {
    r.name: r
    for r in (
        Resource(
            "deployments",
            "deployment",
            "Deployment",
            "apps",
            True,
            ("deploy",),
            (),
            _RW,
            ("scale", "status"),
        ),
        Resource(
            "replicasets",
            "replicaset",
            "ReplicaSet",
            "apps",
            True,
            ("rs",),
            ("status.replicas",),
            _RW,
            ("status",),
        ),
        Resource(
            "statefulsets",
            "statefulset",
            "StatefulSet",
            "apps",
            True,
            ("sts",),
            (),
            _RW,
            ("status",),
        ),
        Resource(
            "daemonsets", "daemonset", "DaemonSet", "apps", True, ("ds",), (), _RW, ("status",)
        ),
    )
}
GROUPS: dict[str, dict[str, Resource]] = {"": CORE, "apps": APPS}


def _field_values(resource: Resource, obj: Obj) -> dict[str, str]:
    """The values field selectors match on, extracted once per object version."""
    meta = obj["metadata"]
    out = {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", "")}
    if resource.name == "pods":
        spec, status = obj["spec"], obj.get("status", {})
        out.update(
            {
                "spec.nodeName": spec.get("nodeName", ""),
                "spec.restartPolicy": spec.get("restartPolicy", ""),
                "spec.schedulerName": spec.get("schedulerName", ""),
                "spec.serviceAccountName": spec.get("serviceAccountName", ""),
                "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
                "status.phase": status.get("phase", ""),
                "status.podIP": status.get("podIP", ""),
                "status.nominatedNodeName": status.get("nominatedNodeName", ""),
            }
        )
    elif resource.name == "events":
        involved = obj.get("involvedObject", {})
        for key in (
            "kind",
            "namespace",
            "name",
            "uid",
            "apiVersion",
            "resourceVersion",
            "fieldPath",
        ):
            out[f"involvedObject.{key}"] = involved.get(key, "")
        out["reason"] = obj.get("reason", "")
        out["reportingComponent"] = obj.get("reportingComponent", "")
        out["source"] = obj.get("source", {}).get("component", "")
        out["type"] = obj.get("type", "")
    elif resource.name == "secrets":
        out["type"] = obj.get("type", "")
    elif resource.name == "nodes":
        out["spec.unschedulable"] = "true" if obj["spec"].get("unschedulable") else "false"
    elif resource.name == "namespaces":
        out["status.phase"] = obj.get("status", {}).get("phase", "")
    elif resource.name == "replicasets":
        out["status.replicas"] = str(obj.get("status", {}).get("replicas", 0))
    return out


# ---------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error the API answers with a ``Status`` object."""

    REASONS: ClassVar[dict[int, str]] = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        406: "NotAcceptable",
        409: "Conflict",
        410: "Expired",
        415: "UnsupportedMediaType",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }

    def __init__(
        self,
        code: int,
        message: str,
        details: Obj | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.headers = headers or {}

    def body(self) -> bytes:
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return orjson.dumps(status)


def _details(resource: Resource, name: str | None) -> Obj:
    out: Obj = {}
    if name:
        out["name"] = name
    if resource.group:
        out["group"] = resource.group
    out["kind"] = resource.name
    return out


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, f'{resource.qualified} "{name}" not found', _details(resource, name))


def forbidden(
    user: str,
    verb: str,
    resource: Resource,
    namespace: str | None,
    name: str | None,
    subresource: str | None = None,
) -> ApiError:
    """The RBAC denial exactly as the API server words it."""
    what = resource.name + (f"/{subresource}" if subresource else "")
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    reason = (
        f'User "{user}" cannot {verb} resource "{what}" in API group "{resource.group}" {scope}'
    )
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    return ApiError(403, f"{subject} is forbidden: {reason}", _details(resource, name))


def invalid(
    kind: str, name: str, field_path: str, detail: str, reason: str = "FieldValueInvalid"
) -> ApiError:
    """A 422 for one bad field; ``kind`` is qualified like ``Deployment.apps``."""
    return ApiError(
        422,
        f'{kind} "{name}" is invalid: {field_path}: {detail}',
        {
            "name": name,
            "group": kind.split(".", 1)[1] if "." in kind else "",
            "kind": kind.split(".", 1)[0],
            "causes": [{"reason": reason, "message": detail, "field": field_path}],
        },
    )


# ---------------------------------------------------------------------- selectors

Requirement = Callable[[dict[str, str]], bool]
_LABEL_TOKENS = re.compile(r"\s*(==|!=|=|\(|\)|,|!|>|<|[^\s=!(),<>]+)")


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a label selector (``a=b,c!=d,e in (f,g),!h,i``) into predicates on label dicts."""
    tokens: list[str] = _LABEL_TOKENS.findall(text)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", text):
        raise ApiError(400, f"unable to parse requirement: invalid label selector {text!r}")
    out: list[Requirement] = []
    i = 0

    def fail(found: str, expected: str) -> ApiError:
        return ApiError(400, f"unable to parse requirement: found '{found}', expected: {expected}")

    def at(n: int) -> str:
        return tokens[n] if n < len(tokens) else ""

    while i < len(tokens):
        negate = tokens[i] == "!"
        if negate:
            i += 1
        key = at(i)
        if not key or key in "=!(),<>" or key == "==":
            raise fail(key or "EOS", "identifier")
        i += 1
        op = at(i)
        if negate:
            out.append(_requirement(key, "!", frozenset()))
        elif op in ("", ","):
            out.append(_requirement(key, "exists", frozenset()))
        elif op in ("=", "==", "!="):
            value = at(i + 1)
            if value in ("", ","):
                value, i = "", i + 1
            else:
                i += 2
            out.append(_requirement(key, "!=" if op == "!=" else "=", frozenset([value])))
        elif op in (">", "<"):
            try:
                int(at(i + 1))
            except ValueError:
                raise fail(at(i + 1) or "EOS", "integer") from None
            out.append(_requirement(key, op, frozenset([at(i + 1)])))
            i += 2
        elif op in ("in", "notin"):
            if at(i + 1) != "(":
                raise fail(at(i + 1) or "EOS", "'('")
            i += 2
            values: set[str] = set()
            while at(i) != ")":
                token = at(i)
                if token == "":
                    raise fail("EOS", "')'")
                if token != ",":
                    values.add(token)
                i += 1
            i += 1
            out.append(_requirement(key, op, frozenset(values)))
        else:
            raise fail(op, "'=', '!=', '==', 'in', notin'")
        if at(i) == ",":
            i += 1
            if i >= len(tokens):
                raise fail("EOS", "identifier")
        elif i < len(tokens):
            raise fail(at(i), "','")
    return out


def _requirement(key: str, op: str, values: frozenset[str]) -> Requirement:
    """One parsed label requirement as a predicate on a label dict."""
    first = next(iter(values), "")
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    if op == "=":
        return lambda labels: labels.get(key) == first
    if op == "!=":
        return lambda labels: labels.get(key) != first
    if op == "in":
        return lambda labels: labels.get(key) in values
    if op == "notin":
        return lambda labels: labels.get(key) not in values
    bound = int(first)
    if op == ">":
        return lambda labels: _int(labels.get(key)) > bound
    return lambda labels: _int(labels.get(key)) < bound


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else -(2**63)
    except ValueError:
        return -(2**63)


def parse_field_selector(text: str, resource: Resource) -> list[tuple[str, bool, str]]:
    """Parse a field selector into (field, equal, value) terms, rejecting unsupported fields."""
    terms = []
    allowed = {"metadata.name", "metadata.namespace", *resource.fields}
    for part in re.split(r"(?<!\\),", text):
        if not part.strip():
            continue
        match = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)(.*)$", part)
        if not match:
            raise ApiError(400, f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, value = match.groups()
        value = re.sub(r"\\(.)", r"\1", value)
        if name not in allowed:
            raise ApiError(400, f"field label not supported: {name}")
        terms.append((name, op != "!=", value))
    return terms


# ---------------------------------------------------------------------- storage


class Entry:
    """One object with its serialized bytes and the values selectors look at."""

    __slots__ = ("_meta", "fields", "item", "labels", "obj")

    def __init__(self, resource: Resource, obj: Obj) -> None:
        self.obj = obj
        full = orjson.dumps(obj)
        prefix = b'{"kind":"%s","apiVersion":"%s",' % (
            resource.kind.encode(),
            resource.api_version.encode(),
        )
        if full.startswith(prefix):
            self.item = b"{" + full[len(prefix) :]
        else:
            self.item = orjson.dumps(
                {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
            )
        self.labels: dict[str, str] = obj["metadata"].get("labels") or {}
        self.fields = _field_values(resource, obj)
        self._meta: bytes | None = None

    def full(self, resource: Resource) -> bytes:
        """The object as a single GET returns it (with kind and apiVersion)."""
        head = b'{"kind":"%s","apiVersion":"%s"' % (
            resource.kind.encode(),
            resource.api_version.encode(),
        )
        return head + (b"," + self.item[1:] if len(self.item) > 2 else b"}")

    def metadata(self) -> bytes:
        """The object as a PartialObjectMetadata: metadata only, never data or spec."""
        if self._meta is None:
            self._meta = orjson.dumps(
                {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": self.obj["metadata"],
                }
            )
        return self._meta


class Store:
    """A resource's objects sorted by key (as etcd lists them), with cached full lists."""

    def __init__(self, resource: Resource, objects: dict[Key, Obj]) -> None:
        self.resource = resource
        self.entries = {key: Entry(resource, obj) for key, obj in objects.items()}
        self.keys = sorted(self.entries)
        self._cache: dict[str | None, tuple[bytes, int]] = {}

    def put(self, key: Key, obj: Obj | None) -> None:
        if obj is None:
            if self.entries.pop(key, None) is not None:
                self.keys.pop(bisect.bisect_left(self.keys, key))
        else:
            if key not in self.entries:
                bisect.insort(self.keys, key)
            self.entries[key] = Entry(self.resource, obj)
        self._cache.clear()

    def span(self, namespace: str | None) -> tuple[int, int]:
        """Index range of the keys in one namespace (or all of them)."""
        if namespace is None:
            return 0, len(self.keys)
        return (
            bisect.bisect_left(self.keys, (namespace,)),
            bisect.bisect_left(self.keys, (namespace + "\x00",)),
        )

    def joined(self, namespace: str | None) -> tuple[bytes, int]:
        """All items of a namespace (or all), comma-joined; cached until the next write."""
        cached = self._cache.get(namespace)
        if cached is None:
            lo, hi = self.span(namespace)
            entries = self.entries
            cached = (b",".join([entries[k].item for k in self.keys[lo:hi]]), hi - lo)
            self._cache[namespace] = cached
        return cached


def encode_continue(revision: int, key: Key) -> str:
    start = f"{key[0]}/{key[1]}\x00" if key[0] else f"{key[1]}\x00"
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, namespaced: bool) -> Key:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start = data["start"]
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(start, str):
            raise ValueError("unsupported version")
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ApiError(400, f"continue key is not valid: {exc}") from None
    start = start.rstrip("\x00")
    if namespaced and "/" in start:
        ns, name = start.split("/", 1)
        return ns, name
    return "", start


# ---------------------------------------------------------------------- patches

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


# ---------------------------------------------------------------------- tables

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace.",
}


def human_duration(seconds: float) -> str:
    """Kubernetes' HumanDuration, the AGE column's wording."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, hours // 24 % 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def _age(obj: Obj, now: float) -> str:
    created = obj["metadata"].get("creationTimestamp")
    return human_duration(now - parse_rfc3339(created)) if created else "<unknown>"


def _col(name: str, priority: int = 0, kind: str = "string", description: str = "") -> Obj:
    return {
        "name": name,
        "type": kind,
        "format": "",
        "description": description or name,
        "priority": priority,
    }


def _pod_cells(pod: Obj, now: float) -> list[Any]:
    """kubectl's pod columns, computed the way its printer does."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase", "")
    restarts = 0
    ready = 0
    last_restart = 0.0
    statuses = status.get("containerStatuses", [])
    for cs in reversed(statuses):
        restarts += cs.get("restartCount", 0)
        finished = cs.get("lastState", {}).get("terminated", {}).get("finishedAt")
        if finished:
            last_restart = max(last_restart, parse_rfc3339(finished))
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif state.get("terminated"):
            reason = f"ExitCode:{state['terminated'].get('exitCode', 0)}"
        elif cs.get("ready") and state.get("running"):
            ready += 1
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restart_text = str(restarts)
    if restarts and last_restart:
        restart_text += f" ({human_duration(now - last_restart)} ago)"
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(pod['spec']['containers'])}",
        reason,
        restart_text,
        _age(pod, now),
        status.get("podIP") or "<none>",
        pod["spec"].get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _node_cells(node: Obj, now: float) -> list[Any]:
    conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", ())}
    state = "Ready" if conditions.get("Ready") == "True" else "NotReady"
    if node["spec"].get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in node["metadata"].get("labels", {})
        if k.startswith("node-role.kubernetes.io/")
    )
    info = node["status"].get("nodeInfo", {})
    ips = {a["type"]: a["address"] for a in node["status"].get("addresses", ())}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        _age(node, now),
        info.get("kubeletVersion", ""),
        ips.get("InternalIP", "<none>"),
        ips.get("ExternalIP", "<none>"),
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _images(obj: Obj) -> tuple[str, str]:
    containers = obj["spec"]["template"]["spec"]["containers"]
    return ",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers)


def _selector(obj: Obj) -> str:
    labels = obj["spec"].get("selector", {}).get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in labels.items())


def _service_cells(svc: Obj, now: float) -> list[Any]:
    spec = svc["spec"]
    ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress)
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    ports = ",".join(
        f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p['port']}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports", ())
    )
    selector = ",".join(f"{k}={v}" for k, v in spec.get("selector", {}).items())
    return [
        svc["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", ""),
        external,
        ports or "<none>",
        _age(svc, now),
        selector or "<none>",
    ]


def _event_cells(ev: Obj, now: float) -> list[Any]:
    involved = ev.get("involvedObject", {})
    last = ev.get("lastTimestamp") or ev["metadata"].get("creationTimestamp")
    first = ev.get("firstTimestamp") or last
    return [
        human_duration(now - parse_rfc3339(last)),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        ev.get("source", {}).get("component", ""),
        ev.get("message", ""),
        human_duration(now - parse_rfc3339(first)),
        ev.get("count", 1),
        ev["metadata"]["name"],
    ]


TableSpec = tuple[list[Obj], Callable[[Obj, float], list[Any]]]
TABLES: dict[str, TableSpec] = {
    "pods": (
        [
            _NAME_COLUMN,
            _col("Ready"),
            _col("Status"),
            _col("Restarts"),
            _col("Age"),
            _col("IP", 1),
            _col("Node", 1),
            _col("Nominated Node", 1),
            _col("Readiness Gates", 1),
        ],
        _pod_cells,
    ),
    "nodes": (
        [
            _NAME_COLUMN,
            _col("Status"),
            _col("Roles"),
            _col("Age"),
            _col("Version"),
            _col("Internal-IP", 1),
            _col("External-IP", 1),
            _col("OS-Image", 1),
            _col("Kernel-Version", 1),
            _col("Container-Runtime", 1),
        ],
        _node_cells,
    ),
    "deployments": (
        [
            _NAME_COLUMN,
            _col("Ready"),
            _col("Up-to-date", kind="integer"),
            _col("Available", kind="integer"),
            _col("Age"),
            _col("Containers", 1),
            _col("Images", 1),
            _col("Selector", 1),
        ],
        lambda d, now: [
            d["metadata"]["name"],
            f"{d['status'].get('readyReplicas', 0)}/{d['spec'].get('replicas', 0)}",
            d["status"].get("updatedReplicas", 0),
            d["status"].get("availableReplicas", 0),
            _age(d, now),
            *_images(d),
            _selector(d),
        ],
    ),
    "replicasets": (
        [
            _NAME_COLUMN,
            _col("Desired", kind="integer"),
            _col("Current", kind="integer"),
            _col("Ready", kind="integer"),
            _col("Age"),
            _col("Containers", 1),
            _col("Images", 1),
            _col("Selector", 1),
        ],
        lambda r, now: [
            r["metadata"]["name"],
            r["spec"].get("replicas", 0),
            r["status"].get("replicas", 0),
            r["status"].get("readyReplicas", 0),
            _age(r, now),
            *_images(r),
            _selector(r),
        ],
    ),
    "statefulsets": (
        [_NAME_COLUMN, _col("Ready"), _col("Age"), _col("Containers", 1), _col("Images", 1)],
        lambda s, now: [
            s["metadata"]["name"],
            f"{s['status'].get('readyReplicas', 0)}/{s['spec'].get('replicas', 0)}",
            _age(s, now),
            *_images(s),
        ],
    ),
    "daemonsets": (
        [
            _NAME_COLUMN,
            _col("Desired", kind="integer"),
            _col("Current", kind="integer"),
            _col("Ready", kind="integer"),
            _col("Up-to-date", kind="integer"),
            _col("Available", kind="integer"),
            _col("Node Selector"),
            _col("Age"),
            _col("Containers", 1),
            _col("Images", 1),
            _col("Selector", 1),
        ],
        lambda d, now: [
            d["metadata"]["name"],
            d["status"].get("desiredNumberScheduled", 0),
            d["status"].get("currentNumberScheduled", 0),
            d["status"].get("numberReady", 0),
            d["status"].get("updatedNumberScheduled", 0),
            d["status"].get("numberAvailable", 0),
            ",".join(
                f"{k}={v}" for k, v in d["spec"]["template"]["spec"].get("nodeSelector", {}).items()
            )
            or "<none>",
            _age(d, now),
            *_images(d),
            _selector(d),
        ],
    ),
    "services": (
        [
            _NAME_COLUMN,
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            _col("Age"),
            _col("Selector", 1),
        ],
        _service_cells,
    ),
    "namespaces": (
        [_NAME_COLUMN, _col("Status"), _col("Age")],
        lambda n, now: [n["metadata"]["name"], n.get("status", {}).get("phase", ""), _age(n, now)],
    ),
    "secrets": (
        [_NAME_COLUMN, _col("Type"), _col("Data", kind="integer"), _col("Age")],
        lambda s, now: [
            s["metadata"]["name"],
            s.get("type", ""),
            len(s.get("data") or {}),
            _age(s, now),
        ],
    ),
    "configmaps": (
        [_NAME_COLUMN, _col("Data", kind="integer"), _col("Age")],
        lambda c, now: [
            c["metadata"]["name"],
            len(c.get("data") or {}) + len(c.get("binaryData") or {}),
            _age(c, now),
        ],
    ),
    "events": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", 1),
            _col("Source", 1),
            _col("Message"),
            _col("First Seen", 1),
            _col("Count", 1, "integer"),
            _col("Name", 1),
        ],
        _event_cells,
    ),
}


# ---------------------------------------------------------------------- faults


@dataclass
class Fault:
    """One switched-on misbehaviour, matched against each request."""

    action: str
    path_prefix: str = "/"
    method: str | None = None
    resource: str | None = None
    verb: str | None = None
    namespace: str | None = None
    seconds: float = 0.0
    status: int = 500
    message: str | None = None
    remaining: int | None = None


class Faults:
    """Switches that make the emulation behave like a troubled cluster (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def forbid(
        self,
        resource: str | None = None,
        verb: str | None = None,
        namespace: str | None = None,
        *,
        times: int | None = None,
    ) -> None:
        """Deny matching requests with the RBAC 403 (``resource`` may be ``pods/log``)."""
        self._add(
            Fault("forbid", resource=resource, verb=verb, namespace=namespace, remaining=times)
        )

    def delay(
        self,
        seconds: float,
        path_prefix: str = "/",
        *,
        method: str | None = None,
        times: int | None = None,
    ) -> None:
        """Hold matching requests for ``seconds`` before answering (without blocking others)."""
        self._add(
            Fault("delay", path_prefix=path_prefix, method=method, seconds=seconds, remaining=times)
        )

    def fail(
        self,
        status: int = 500,
        path_prefix: str = "/",
        times: int | None = 1,
        *,
        method: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) with an error ``status``."""
        self._add(
            Fault(
                "fail",
                path_prefix=path_prefix,
                method=method,
                status=status,
                message=message,
                remaining=times,
            )
        )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(
        self,
        action: str,
        method: str,
        path: str,
        resource: str | None = None,
        verb: str | None = None,
        namespace: str | None = None,
    ) -> Fault | None:
        """The first matching fault of a kind, counting it as used."""
        with self._lock:
            for fault in self._faults:
                if fault.action != action or not path.startswith(fault.path_prefix):
                    continue
                if fault.method and fault.method.upper() != method:
                    continue
                if fault.resource and fault.resource != resource:
                    continue
                if fault.verb and fault.verb != verb:
                    continue
                if fault.namespace and fault.namespace != namespace:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None


_FAIL_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: etcdserver: request timed out",
    502: "Internal error occurred: error trying to reach service: dial tcp: connection refused",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within requested timeout - context deadline exceeded",
}


# ---------------------------------------------------------------------- routing


class Seen(NamedTuple):
    """A request the emulation received, for tests to assert on."""

    method: str
    path: str
    query: dict[str, str]
    user: str = ""
    """Who the bearer token says sent it ("" when the token is missing or unknown)."""


@dataclass
class Route:
    """What a request path addresses."""

    resource: Resource | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    discovery: Callable[[], Obj] | None = None


@dataclass
class Watcher:
    """An open watch: where to send changes and which objects it wants."""

    resource: Resource
    namespace: str | None
    labels: list[Requirement]
    fields: list[tuple[str, bool, str]]
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class KubeAPIServer:
    """Serves a :class:`SampleCluster` as a Kubernetes API on loopback HTTP."""

    def __init__(
        self,
        cluster: SampleCluster,
        *,
        admin_token: str | None = None,
        readonly_token: str | None = None,
        request_log_size: int = 2000,
    ) -> None:
        self.cluster = cluster
        self.admin_token = admin_token or f"kchat-admin-{secrets.token_urlsafe(24)}"
        self.readonly_token = readonly_token or f"kchat-reader-{secrets.token_urlsafe(24)}"
        self.users = {self.admin_token: ADMIN_USER, self.readonly_token: READONLY_USER}
        self.faults = Faults()
        self.requests: deque[Seen] = deque(maxlen=request_log_size)
        self.url = ""
        self.port = 0
        self.stores = {
            name: Store(resource, cluster.objects[name])
            for group in GROUPS.values()
            for name, resource in group.items()
        }
        self.watchers: list[Watcher] = []
        self._server: HTTPServer | None = None
        self.stopping: asyncio.Event | None = None
        cluster.subscribe(self._changed)

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> str:
        """Listen on ``host:port`` (0: any free port) in the running loop; returns the URL.

        With ``tls`` it serves HTTPS, as a real API server (and a pod's in-cluster config)
        requires.
        """
        app = Application(
            [(r"/.*", KubeHandler, {"api": self})],
            compress_response=False,
            log_function=lambda handler: None,
        )
        self.stopping = asyncio.Event()
        self._server = HTTPServer(app, idle_connection_timeout=300, ssl_options=tls)
        sockets = bind_sockets(port, host)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if tls else 'http'}://{shown}:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening, end watches and held requests, close every connection."""
        if self._server is None:
            return
        assert self.stopping is not None
        self.stopping.set()
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)
        self._server.stop()
        await self._server.close_all_connections()
        self._server = None

    @contextmanager
    def run_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> Iterator[str]:
        """Serve from a daemon thread with its own event loop; yields the URL, stops on exit.

        For synchronous callers (tests, benchmarks, kernels) that cannot lend their loop.
        """
        ready = threading.Event()
        result: dict[str, Any] = {}
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                result["url"] = loop.run_until_complete(self.start(host, port, tls))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                result["error"] = exc
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=serve, name="kchat-sample-kube-api", daemon=True)
        thread.start()
        ready.wait()
        if "error" in result:
            raise result["error"]
        try:
            yield result["url"]
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)

    def write_kubeconfig(
        self,
        path: str | Path,
        token: str | None = None,
        context: str = "sample",
        namespace: str = "default",
    ) -> Path:
        """Write a kubeconfig for this server: ``context`` uses ``token`` and is current.

        ``token`` is "admin" (the default), "readonly", or a literal bearer token. A second
        context, "<context>-readonly", always uses the read-only token.
        """
        chosen = {
            None: self.admin_token,
            "admin": self.admin_token,
            "readonly": self.readonly_token,
        }.get(token, token)
        cluster_name = "kchat-sample"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": self.url}}],
            "users": [
                {"name": f"{context}-user", "user": {"token": chosen}},
                {"name": "kchat-reader", "user": {"token": self.readonly_token}},
            ],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": cluster_name,
                        "user": f"{context}-user",
                        "namespace": namespace,
                    },
                },
                {
                    "name": f"{context}-readonly",
                    "context": {
                        "cluster": cluster_name,
                        "user": "kchat-reader",
                        "namespace": namespace,
                    },
                },
            ],
            "current-context": context,
            "preferences": {},
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        target.chmod(0o600)
        return target

    # ------------------------------------------------------------------ changes

    def _changed(self, resource_name: str, key: Key, obj: Obj | None) -> None:
        store = self.stores[resource_name]
        before = store.entries.get(key)
        store.put(key, obj)
        if not self.watchers:
            return
        entry = store.entries.get(key) if obj is not None else before
        if entry is None:
            return
        kind = b"DELETED" if obj is None else (b"MODIFIED" if before else b"ADDED")
        body = b'{"type":"%s","object":%s}\n' % (kind, entry.full(store.resource))
        for watcher in self.watchers:
            if watcher.resource is not store.resource:
                continue
            if watcher.namespace is not None and key[0] != watcher.namespace:
                continue
            if _matches(entry, watcher.labels, watcher.fields):
                watcher.queue.put_nowait(body)

    # ------------------------------------------------------------------ routing

    def route(self, path: str) -> Route:
        """Resolve a request path to discovery or a resource address, or raise 404."""
        parts = [p for p in path.split("/") if p]
        if parts in (["version"], ["version", ""]):
            return Route(discovery=self.version_info)
        if parts == ["api"]:
            return Route(discovery=self._api_versions)
        if parts == ["apis"]:
            return Route(discovery=self._group_list)
        if parts[:1] == ["api"] and len(parts) >= 2:
            if parts[1] != "v1":
                raise _no_route()
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 2:
            if parts[1] not in GROUPS or parts[1] == "":
                raise _no_route()
            if len(parts) == 2:
                return Route(discovery=lambda: self._group(parts[1]))
            if parts[2] != "v1":
                raise _no_route()
            group, rest = parts[1], parts[3:]
        else:
            raise _no_route()
        resources = GROUPS[group]
        if not rest:
            return Route(discovery=lambda: self._resource_list(group))
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource = resources.get(rest[0])
        if resource is None or (namespace is not None and not resource.namespaced):
            raise _no_route()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub and sub not in resource.subresources):
            raise _no_route()
        if name is not None and resource.namespaced and namespace is None:
            raise _no_route()
        return Route(resource, namespace, name, sub)

    # ------------------------------------------------------------------ discovery

    def version_info(self) -> Obj:
        major, minor, _ = K8S_VERSION.lstrip("v").split(".")
        return {
            "major": major,
            "minor": minor,
            "emulationMajor": major,
            "emulationMinor": minor,
            "minCompatibilityMajor": major,
            "minCompatibilityMinor": str(int(minor) - 1),
            "gitVersion": K8S_VERSION,
            "gitCommit": "c1a9c3e0f8b4c7a6d5e4f3a2b1c0d9e8f7a6b5c4",
            "gitTreeState": "clean",
            "buildDate": "2024-08-14T19:18:11Z",
            "goVersion": "go1.22.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _api_versions(self) -> Obj:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
            ],
        }

    def _group(self, group: str) -> Obj:
        version = {"groupVersion": f"{group}/v1", "version": "v1"}
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": [version],
            "preferredVersion": version,
        }

    def _group_list(self) -> Obj:
        groups = [self._group(g) for g in GROUPS if g]
        for g in groups:
            del g["kind"], g["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str) -> Obj:
        out = []
        for resource in GROUPS[group].values():
            entry: Obj = {
                "name": resource.name,
                "singularName": resource.singular,
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": list(resource.verbs),
            }
            if resource.short_names:
                entry["shortNames"] = list(resource.short_names)
            if resource.name in (
                "pods",
                "services",
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
            ):
                entry["categories"] = ["all"]
            out.append(entry)
            for sub in resource.subresources:
                kind = {"log": "Pod", "scale": "Scale"}.get(sub, resource.kind)
                verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
                item: Obj = {
                    "name": f"{resource.name}/{sub}",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }
                if sub == "scale":
                    item.update(group="autoscaling", version="v1")
                out.append(item)
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/v1" if group else "v1",
            "resources": out,
        }

    # ------------------------------------------------------------------ reads

    def list_body(
        self, resource: Resource, namespace: str | None, query: dict[str, str], representation: str
    ) -> bytes:
        """A list response: selected items, paged, in the negotiated representation."""
        store = self.stores[resource.name]
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""), resource)
        limit = _int_param(query, "limit") or 0
        token = query.get("continue", "")
        revision = self.cluster.revision
        if representation == "json" and not labels and not fields and not limit and not token:
            joined, _ = store.joined(namespace)
            return (
                b'{"kind":"%sList","apiVersion":"%s","metadata":{"resourceVersion":"%d"},"items":[%s]}'
                % (resource.kind.encode(), resource.api_version.encode(), revision, joined)
            )
        lo, hi = store.span(namespace)
        if token:
            start = decode_continue(token, resource.namespaced)
            lo = max(lo, bisect.bisect_right(store.keys, start))
        picked: list[Entry] = []
        last: Key | None = None
        next_key: Key | None = None
        remaining = 0
        entries = store.entries
        keys = store.keys
        for index in range(lo, hi):
            key = keys[index]
            entry = entries[key]
            if (labels or fields) and not _matches(entry, labels, fields):
                continue
            if limit and len(picked) == limit:
                next_key, remaining = last, hi - index
                break
            picked.append(entry)
            last = key
        meta: Obj = {"resourceVersion": str(revision)}
        if next_key is not None:
            meta["continue"] = encode_continue(revision, next_key)
            if not labels and not fields:
                meta["remainingItemCount"] = remaining
        if representation == "table":
            return self.table_body(resource, picked, meta, query)
        if representation == "meta":
            items = b",".join([e.metadata() for e in picked])
            return (
                b'{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":%s,"items":[%s]}'
                % (orjson.dumps(meta), items)
            )
        items = b",".join([e.item for e in picked])
        return b'{"kind":"%sList","apiVersion":"%s","metadata":%s,"items":[%s]}' % (
            resource.kind.encode(),
            resource.api_version.encode(),
            orjson.dumps(meta),
            items,
        )

    def table_body(
        self, resource: Resource, entries: list[Entry], meta: Obj, query: dict[str, str]
    ) -> bytes:
        columns, cells = TABLES[resource.name]
        now = self.cluster.clock()
        include = query.get("includeObject", "Metadata")
        rows = []
        for entry in entries:
            row: Obj = {"cells": cells(entry.obj, now)}
            if include == "Object":
                row["object"] = orjson.Fragment(entry.full(resource))
            elif include != "None":
                row["object"] = orjson.Fragment(entry.metadata())
            rows.append(row)
        return orjson.dumps(
            {
                "kind": "Table",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "columnDefinitions": columns,
                "rows": rows,
            }
        )

    def entry(self, resource: Resource, namespace: str | None, name: str) -> Entry:
        """One stored object, or the API's 404."""
        entry = self.stores[resource.name].entries.get((namespace or "", name))
        if entry is None:
            raise not_found(resource, name)
        return entry

    def pod_log(self, namespace: str, name: str, query: dict[str, str]) -> bytes:
        """The log subresource, with the kubelet's options and the API's validation."""
        pods = CORE["pods"]
        pod = self.entry(pods, namespace, name).obj
        container = query.get("container", "")
        names = [c["name"] for c in pod["spec"].get("initContainers", [])] + [
            c["name"] for c in pod["spec"]["containers"]
        ]
        if not container:
            if len(pod["spec"]["containers"]) != 1:
                main = [c["name"] for c in pod["spec"]["containers"]]
                init = [c["name"] for c in pod["spec"].get("initContainers", [])]
                message = (
                    f"a container name must be specified for pod {name}, "
                    f"choose one of: [{' '.join(main)}]"
                )
                if init:
                    message += f" or one of the init containers: [{' '.join(init)}]"
                raise ApiError(400, message)
            container = pod["spec"]["containers"][0]["name"]
        elif container not in names:
            raise ApiError(400, f"container {container} is not valid for pod {name}")
        tail = _int_param(query, "tailLines")
        limit_bytes = _int_param(query, "limitBytes")
        since_seconds = _int_param(query, "sinceSeconds")
        since_time = query.get("sinceTime")
        for param, value, least in (
            ("tailLines", tail, 0),
            ("limitBytes", limit_bytes, 1),
            ("sinceSeconds", since_seconds, 1),
        ):
            if value is not None and value < least:
                raise invalid(
                    "PodLogOptions",
                    "",
                    param,
                    f"Invalid value: {value}: must be greater than or equal to {least}",
                )
        if since_seconds is not None and since_time:
            raise invalid(
                "PodLogOptions",
                "",
                "",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
                "FieldValueForbidden",
            )
        previous = query.get("previous", "false").lower() in ("true", "1")
        try:
            lines = self.cluster.pod_log(namespace, name, container, previous)
        except LogUnavailable as exc:
            raise ApiError(exc.code, exc.message) from None
        cutoff = None
        if since_seconds is not None:
            cutoff = self.cluster.clock() - since_seconds
        elif since_time:
            try:
                cutoff = parse_rfc3339(since_time)
            except ValueError:
                raise ApiError(400, f'parsing time "{since_time}" as RFC3339 failed') from None
        if cutoff is not None:
            lines = [line for line in lines if line[0] >= cutoff]
        if tail is not None:
            lines = lines[-tail:] if tail else []
        stamps = query.get("timestamps", "false").lower() in ("true", "1")
        if stamps:
            text = "".join(f"{_nano(t)} {line}\n" for t, line in lines)
        else:
            text = "".join(f"{line}\n" for _, line in lines)
        body = text.encode()
        if limit_bytes is not None:
            body = body[:limit_bytes]
        return body

    # ------------------------------------------------------------------ writes

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        content_type: str,
        body: bytes,
        dry_run: bool,
        subresource: str | None,
    ) -> bytes:
        """PATCH an object (or a deployment's scale) with any of the three patch types."""
        if subresource == "scale":
            scale = self.scale_of(namespace, name)
            changed = _apply_patch(scale, content_type, body)
            return self._set_scale(namespace, name, scale, changed, dry_run)
        entry = self.entry(resource, namespace, name)
        patched = _apply_patch(entry.obj, content_type, body)
        return self._replace(resource, entry.obj, patched, dry_run, check_version=True)

    def put(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: bytes,
        dry_run: bool,
        subresource: str | None,
    ) -> bytes:
        """PUT (replace) an object or a deployment's scale, with optimistic concurrency."""
        try:
            new = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"couldn't get version/kind; json parse error: {exc}") from None
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise ApiError(400, "the body of the request was not a JSON object")
        if subresource == "scale":
            scale = self.scale_of(namespace or "", name)
            return self._set_scale(namespace or "", name, scale, new, dry_run)
        entry = self.entry(resource, namespace, name)
        return self._replace(resource, entry.obj, new, dry_run, check_version=True)

    def _replace(
        self, resource: Resource, old: Obj, new: Obj, dry_run: bool, check_version: bool
    ) -> bytes:
        """Validate and store a changed object; Deployments go through their controller."""
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        name = old_meta["name"]
        if meta.get("name", name) != name:
            raise ApiError(
                400,
                f"the name of the object ({meta.get('name')}) does not match "
                f"the name on the URL ({name})",
            )
        if meta.get("namespace", old_meta.get("namespace")) != old_meta.get("namespace"):
            raise ApiError(
                400, "the namespace of the object does not match the namespace on the URL"
            )
        version = meta.get("resourceVersion")
        if check_version and version and version != old_meta["resourceVersion"]:
            raise ApiError(
                409,
                f'Operation cannot be fulfilled on {resource.qualified} "{name}": '
                "the object has been modified; please apply your changes to the "
                "latest version and try again",
                _details(resource, name),
            )
        for kept in (
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "generation",
            "ownerReferences",
            "namespace",
            "name",
        ):
            if kept in old_meta:
                meta[kept] = copy.deepcopy(old_meta[kept])
            else:
                meta.pop(kept, None)
        new["kind"], new["apiVersion"] = resource.kind, resource.api_version
        new = {"kind": new.pop("kind"), "apiVersion": new.pop("apiVersion"), **new}
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        if resource.name == "deployments":
            self._validate_deployment(new, old)
            if dry_run:
                return orjson.dumps(new)
            stored = self.cluster.replace_deployment(old_meta["namespace"], name, new)
        else:
            if "spec" in old and new.get("spec") != old["spec"] and resource.name != "nodes":
                raise invalid(
                    f"{resource.kind}{'.' + resource.group if resource.group else ''}",
                    name,
                    "spec",
                    "Forbidden: the sample cluster emulates spec "
                    "changes only for Deployments (and Nodes)",
                    "FieldValueForbidden",
                )
            if dry_run:
                return orjson.dumps(new)
            stored = self.cluster.replace_object(resource.name, new)
        return self.entry(resource, stored["metadata"].get("namespace"), name).full(resource)

    def _validate_deployment(self, new: Obj, old: Obj) -> None:
        name = old["metadata"]["name"]
        spec = new.get("spec")
        if not isinstance(spec, dict):
            raise invalid("Deployment.apps", name, "spec", "Required value")
        replicas = spec.setdefault("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ApiError(
                400,
                f'Deployment in version "v1" cannot be handled as a Deployment: '
                f"json: cannot unmarshal {type(replicas).__name__} into Go struct "
                f"field DeploymentSpec.spec.replicas of type int32",
            )
        if replicas < 0:
            raise invalid(
                "Deployment.apps",
                name,
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        if spec.get("selector") != old["spec"]["selector"]:
            raise invalid(
                "Deployment.apps",
                name,
                "spec.selector",
                f"Invalid value: {orjson.dumps(spec.get('selector')).decode()}: field is immutable",
            )
        template = spec.get("template") or {}
        labels = template.get("metadata", {}).get("labels") or {}
        wanted = spec["selector"].get("matchLabels", {})
        if any(labels.get(k) != v for k, v in wanted.items()):
            raise invalid(
                "Deployment.apps",
                name,
                "spec.template.metadata.labels",
                f"Invalid value: {orjson.dumps(labels).decode()}: `selector` does not "
                "match template `labels`",
            )
        containers = template.get("spec", {}).get("containers")
        if not containers or not isinstance(containers, list):
            raise invalid(
                "Deployment.apps",
                name,
                "spec.template.spec.containers",
                "Required value",
                "FieldValueRequired",
            )
        for i, c in enumerate(containers):
            for key in ("name", "image"):
                if not isinstance(c, dict) or not c.get(key):
                    raise invalid(
                        "Deployment.apps",
                        name,
                        f"spec.template.spec.containers[{i}].{key}",
                        "Required value",
                        "FieldValueRequired",
                    )

    def scale_of(self, namespace: str, name: str) -> Obj:
        """A deployment's autoscaling/v1 Scale."""
        deployment = self.entry(APPS["deployments"], namespace, name).obj
        meta = deployment["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
                "creationTimestamp": meta["creationTimestamp"],
            },
            "spec": {"replicas": deployment["spec"]["replicas"]},
            "status": {
                "replicas": deployment["status"].get("replicas", 0),
                "selector": ",".join(
                    f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
                ),
            },
        }

    def _set_scale(self, namespace: str, name: str, scale: Obj, new: Obj, dry_run: bool) -> bytes:
        version = (new.get("metadata") or {}).get("resourceVersion")
        if version and version != scale["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                f'Operation cannot be fulfilled on deployments.apps "{name}": the '
                "object has been modified; please apply your changes to the "
                "latest version and try again",
                _details(APPS["deployments"], name),
            )
        replicas = (new.get("spec") or {}).get("replicas", scale["spec"]["replicas"])
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ApiError(
                400,
                'Scale in version "v1" cannot be handled as a Scale: json: '
                "cannot unmarshal into Go struct field ScaleSpec.spec.replicas "
                "of type int32",
            )
        if replicas < 0:
            raise invalid(
                "Scale.autoscaling",
                name,
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        if dry_run:
            scale["spec"]["replicas"] = replicas
            return orjson.dumps(scale)
        deployment = copy.deepcopy(self.entry(APPS["deployments"], namespace, name).obj)
        deployment["spec"]["replicas"] = replicas
        self.cluster.replace_deployment(namespace, name, deployment)
        return orjson.dumps(self.scale_of(namespace, name))

    def delete_pod(self, namespace: str, name: str, body: bytes, dry_run: bool) -> bytes:
        """Delete a pod (checking DeleteOptions preconditions); returns it as it was."""
        pods = CORE["pods"]
        entry = self.entry(pods, namespace, name)
        options: Obj = {}
        if body.strip():
            try:
                options = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ApiError(400, f"invalid DeleteOptions: {exc}") from None
        preconditions = options.get("preconditions") or {}
        meta = entry.obj["metadata"]
        for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = preconditions.get(field_name)
            if wanted and wanted != meta[field_name]:
                raise ApiError(
                    409,
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {meta[field_name]}",
                    _details(pods, name),
                    reason="Conflict",
                )
        if dry_run:
            gone = copy.deepcopy(entry.obj)
            gone["metadata"]["deletionTimestamp"] = rfc3339(self.cluster.clock() + 30)
            gone["metadata"]["deletionGracePeriodSeconds"] = 30
            return orjson.dumps(gone)
        return orjson.dumps(self.cluster.delete_pod(namespace, name))


def _matches(entry: Entry, labels: list[Requirement], fields: list[tuple[str, bool, str]]) -> bool:
    for requirement in labels:
        if not requirement(entry.labels):
            return False
    values = entry.fields
    return all((values.get(name, "") == value) == equal for name, equal, value in fields)


def _no_route() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", {}, reason="NotFound")


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def _nano(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e9) % 10**9:09d}Z"


def _apply_patch(target: Obj, content_type: str, body: bytes) -> Obj:
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


def negotiate(accept: str) -> str | None:
    """Pick "json", "table" or "meta" from an Accept header as the API server would; None: 406."""
    if not accept.strip():
        return "json"
    for part in accept.split(","):
        media, *raw = [p.strip() for p in part.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        if media.lower() not in ("application/json", "*/*", "application/*"):
            continue
        as_kind = params.get("as")
        if as_kind is None:
            return "json"
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if as_kind == "Table":
            return "table"
        if as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return "meta"
    return None


# ---------------------------------------------------------------------- HTTP


class KubeHandler(RequestHandler):
    """Every request: log it, apply faults, authenticate, authorize, dispatch."""

    api: KubeAPIServer

    def initialize(self, api: KubeAPIServer) -> None:
        self.api = api
        self._gone = False

    def compute_etag(self) -> None:
        return None

    def on_connection_close(self) -> None:
        self._gone = True

    async def get(self) -> None:
        await self._handle("GET")

    async def post(self) -> None:
        await self._handle("POST")

    async def put(self) -> None:
        await self._handle("PUT")

    async def patch(self) -> None:
        await self._handle("PATCH")

    async def delete(self) -> None:
        await self._handle("DELETE")

    async def _handle(self, method: str) -> None:
        api = self.api
        path = self.request.path
        query = {k: v[-1].decode(errors="replace") for k, v in self.request.query_arguments.items()}
        api.requests.append(Seen(method, path, query, api.users.get(self._bearer(), "")))
        try:
            delay = api.faults.take("delay", method, path)
            if delay is not None and api.stopping is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(api.stopping.wait(), delay.seconds)
                if self._gone or api.stopping.is_set():
                    return
            failure = api.faults.take("fail", method, path)
            if failure is not None:
                headers = {"Retry-After": "1"} if failure.status == 429 else None
                raise ApiError(
                    failure.status,
                    failure.message or _FAIL_MESSAGES.get(failure.status, "the server failed"),
                    headers=headers,
                )
            if path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
                self._send(200, b"ok", "text/plain; charset=utf-8")
                return
            route = api.route(path)
            user = self._authenticate(route)
            if route.discovery is not None:
                self._send(200, orjson.dumps(route.discovery()))
                return
            await self._resource(method, route, user, query)
        except ApiError as exc:
            for key, value in exc.headers.items():
                self.set_header(key, value)
            self._send(exc.code, exc.body())
        except StreamClosedError:
            return
        except Exception as exc:  # a real server answers 500
            log.exception("sample kube API failed on %s %s", method, path)
            self._send(500, ApiError(500, f"Internal error occurred: {exc}").body())

    def _bearer(self) -> str:
        header = self.request.headers.get("Authorization", "")
        return header[7:].strip() if header[:7].lower() == "bearer " else ""

    def _authenticate(self, route: Route) -> str:
        user = self.api.users.get(self._bearer())
        if user is None:
            if route.discovery is not None and route.discovery == self.api.version_info:
                return "system:anonymous"
            raise ApiError(401, "Unauthorized")
        return user

    async def _resource(self, method: str, route: Route, user: str, query: dict[str, str]) -> None:
        api = self.api
        resource = route.resource
        assert resource is not None
        watching = query.get("watch", "").lower() in ("true", "1")
        verb = {
            "GET": "watch" if watching else ("get" if route.name else "list"),
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if route.name else "deletecollection",
        }[method]
        target = resource.name + (f"/{route.subresource}" if route.subresource else "")
        denied = api.faults.take("forbid", method, self.request.path, target, verb, route.namespace)
        if denied is None and route.subresource and route.subresource != "log":
            denied = api.faults.take(
                "forbid", method, self.request.path, resource.name, verb, route.namespace
            )
        if denied is not None or (user == READONLY_USER and verb not in READ_VERBS):
            raise forbidden(user, verb, resource, route.namespace, route.name, route.subresource)
        dry_run = query.get("dryRun") == "All"
        if method == "GET":
            if route.subresource == "log":
                assert route.namespace is not None and route.name is not None
                body = api.pod_log(route.namespace, route.name, query)
                self._send(200, body, "text/plain")
                return
            representation = negotiate(self.request.headers.get("Accept", ""))
            if representation is None:
                raise ApiError(
                    406,
                    "only the following media types are accepted: "
                    "application/json, application/yaml, "
                    "application/vnd.kubernetes.protobuf",
                )
            if watching:
                await self._watch(resource, route.namespace, query)
                return
            if route.name is None:
                self._send(200, api.list_body(resource, route.namespace, query, representation))
                return
            if route.subresource == "scale":
                self._send(200, orjson.dumps(api.scale_of(route.namespace or "", route.name)))
                return
            entry = api.entry(resource, route.namespace, route.name)
            if representation == "meta":
                self._send(200, entry.metadata())
            elif representation == "table":
                meta: Obj = {"resourceVersion": entry.obj["metadata"]["resourceVersion"]}
                self._send(200, api.table_body(resource, [entry], meta, query))
            else:
                self._send(200, entry.full(resource))
            return
        if (
            route.name is None
            or method == "POST"
            or (method == "DELETE" and resource.name != "pods")
            or (route.subresource not in (None, "scale"))
        ):
            raise ApiError(
                405,
                f"the sample cluster emulation does not support {verb} on {target}",
                reason="MethodNotAllowed",
            )
        if method == "DELETE":
            assert route.namespace is not None
            body = api.delete_pod(route.namespace, route.name, self.request.body, dry_run)
            self._send(200, body)
        elif method == "PATCH":
            body = api.patch(
                resource,
                route.namespace or "",
                route.name,
                self.request.headers.get("Content-Type", ""),
                self.request.body,
                dry_run,
                route.subresource,
            )
            self._send(200, body)
        else:
            body = api.put(
                resource, route.namespace, route.name, self.request.body, dry_run, route.subresource
            )
            self._send(200, body)

    async def _watch(
        self, resource: Resource, namespace: str | None, query: dict[str, str]
    ) -> None:
        """Stream changes as JSON lines; an unset or "0" resourceVersion starts with ADDED."""
        api = self.api
        watcher = Watcher(
            resource,
            namespace,
            parse_label_selector(query.get("labelSelector", "")),
            parse_field_selector(query.get("fieldSelector", ""), resource),
        )
        timeout = _int_param(query, "timeoutSeconds") or 1800
        self.set_status(200)
        self.set_header("Content-Type", "application/json")
        if query.get("resourceVersion", "0") in ("", "0"):
            store = api.stores[resource.name]
            lo, hi = store.span(namespace)
            for key in store.keys[lo:hi]:
                entry = store.entries[key]
                if _matches(entry, watcher.labels, watcher.fields):
                    self.write(b'{"type":"ADDED","object":%s}\n' % entry.full(resource))
        api.watchers.append(watcher)
        deadline = time.monotonic() + timeout
        try:
            await self.flush()
            while not self._gone:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    chunk = await asyncio.wait_for(watcher.queue.get(), min(left, 5.0))
                except asyncio.TimeoutError:
                    continue
                if chunk is None:
                    break
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            api.watchers.remove(watcher)
        if not self._gone:
            self.finish()

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        if self._finished or self._gone:
            return
        self.set_status(code)
        self.set_header("Content-Type", content_type)
        self.set_header("Audit-Id", f"{secrets.token_hex(4)}-{secrets.token_hex(2)}")
        self.set_header("Cache-Control", "no-cache, private")
        self.finish(body)
