"""get_resource: one object of any kind, as ``kubectl describe`` shows it to a person, or its YAML.

The object is read through ``objects`` (credentials masked, Secrets as key names only); the
summary puts first what a person looks for: health, owners, labels, then the spec and status
details (defaults left out), an Ingress's backends and what answers behind them, the conditions
with their reasons, and the object's recent events.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import yaml

from .base import ToolContext, ToolError, ToolResult, ToolSpec
from .common import KIND, NAME, NAMESPACE, check_args, check_name, opt_str, req_str, schema
from .conditions import object_problem
from .discovery import Kind, discovery, match, resolve_kind
from .kube import ApiFailure, KubeCluster, api_path
from .lookup import read_located, target
from .models import Event
from .objects import fetch_object
from .redact import env_display, redact_text
from .shape import ago, clip

OUTPUTS = ("summary", "yaml")
META_ONLY = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
MAX_OWNERS = 4
MAX_EVENTS = 10
GET_PARAMS = {
    "kind": KIND,
    "name": NAME,
    "namespace": NAMESPACE,
    "output": {
        "type": "string",
        "enum": list(OUTPUTS),
        "default": "summary",
    },
}


# ---------------------------------------------------------------------- summary parts


NOISE = frozenset(
    {
        "terminationMessagePath",
        "terminationMessagePolicy",
        "dnsPolicy",
        "schedulerName",
        "terminationGracePeriodSeconds",
        "imagePullPolicy",
        "successThreshold",
        "failureThreshold",
        "periodSeconds",
        "timeoutSeconds",
        "initialDelaySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "enableServiceLinks",
        "preemptionPolicy",
        "priority",
        "scheme",
        "creationTimestamp",
        "securityContext",
    }
)
"""Fields whose defaults fill a describe with lines nobody reads (yaml keeps them)."""


def _container(container: dict[str, Any], prefix: str) -> list[str]:
    """One container on a few lines: image, ports, resources, env (credentials masked)."""
    name = container.get("name", "?")
    lines = [f"{prefix}container {name}: image {container.get('image', '?')}"]
    ports = [
        f"{p.get('name', '')} {p.get('containerPort')}/{p.get('protocol', 'TCP')}".strip()
        for p in container.get("ports") or []
        if isinstance(p, dict)
    ]
    if ports:
        lines.append(f"{prefix}  ports: {', '.join(ports)}")
    command = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if command:
        lines.append(f"{prefix}  command: {clip(' '.join(command), 300)}")
    for which in ("requests", "limits"):
        values = (container.get("resources") or {}).get(which) or {}
        if values:
            lines.append(f"{prefix}  {which}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    env = [e for e in container.get("env") or [] if isinstance(e, dict)]
    if env:
        lines.append(f"{prefix}  env: " + clip("; ".join(env_display(e) for e in env), 1200))
    for source in container.get("envFrom") or []:
        for key, what in (("secretRef", "secret"), ("configMapRef", "configmap")):
            if isinstance(source, dict) and key in source:
                lines.append(f"{prefix}  env from {what} {(source[key] or {}).get('name', '?')}")
    mounts = [
        f"{m.get('name')} at {m.get('mountPath')}"
        for m in container.get("volumeMounts") or []
        if isinstance(m, dict)
    ]
    if mounts:
        lines.append(f"{prefix}  mounts: {clip(', '.join(mounts), 400)}")
    return lines


def _flatten(value: Any, prefix: str, out: list[str]) -> None:
    """Leaves as ``path: value`` lines; containers as a few readable lines each."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in NOISE:
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in ("containers", "initContainers") and isinstance(item, list):
                for container in item:
                    if isinstance(container, dict):
                        out.extend(_container(container, "" if key == "containers" else "init "))
                continue
            _flatten(item, path, out)
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            if value:
                out.append(f"{prefix}: {clip(', '.join(str(v) for v in value), 300)}")
        else:
            for index, item in enumerate(value):
                _flatten(item, f"{prefix}[{index}]", out)
    elif value is not None and value != "" and value != {}:
        out.append(f"{prefix}: {clip(str(value), 300)}")


class _OwnerRef(msgspec.Struct, rename="camel"):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    controller: bool | None = None


class _OwnerMeta(msgspec.Struct, rename="camel"):
    owner_references: list[_OwnerRef] = []


class _Owned(msgspec.Struct):
    metadata: _OwnerMeta = msgspec.field(default_factory=_OwnerMeta)


def _owner_chain(ctx: ToolContext, obj: dict[str, Any], namespace: str | None) -> str:
    """``ReplicaSet checkout-7d9 -> Deployment checkout``: controllers up to the top."""
    refs = [
        _OwnerRef(
            r.get("apiVersion", ""), r.get("kind", ""), r.get("name", ""), r.get("controller")
        )
        for r in (obj.get("metadata") or {}).get("ownerReferences") or []
        if isinstance(r, dict)
    ]
    chain: list[str] = []
    kinds = discovery(ctx.cluster).kinds(ctx.timeout)
    for _ in range(MAX_OWNERS):
        ref = next((r for r in refs if r.controller), refs[0] if refs else None)
        if ref is None:
            break
        chain.append(f"{ref.kind} {ref.name}")
        group = ref.api_version.rpartition("/")[0]
        owner_kind = match(kinds, f"{ref.kind}.{group}" if group else ref.kind)
        if owner_kind is None:
            break
        try:
            owner = ctx.cluster.get(
                owner_kind.path(namespace, ref.name), _Owned, accept=META_ONLY, timeout=ctx.timeout
            )
        except ToolError:
            chain.append("(not readable)")
            break
        refs = owner.metadata.owner_references
    return " -> ".join(chain)


def object_events(
    cluster: KubeCluster, kind: Kind, name: str, namespace: str | None, timeout: float
) -> list[Event]:
    """The object's events, newest first (empty when events cannot be read)."""
    fields = f"involvedObject.name={name},involvedObject.kind={kind.kind}"
    try:
        listed = cluster.list_all(
            api_path("events", namespace if kind.namespaced else None),
            Event,
            field_selector=fields,
            timeout=timeout,
        )
    except ToolError:
        return []
    return sorted(listed.items, key=lambda e: e.when().timestamp() if e.when() else 0, reverse=True)


def _event_line(event: Event, now: float) -> str:
    when = event.when()
    stamp = ago(when.isoformat(), now) if when is not None else "?"
    times = event.times()
    repeat = f" (x{times})" if times > 1 else ""
    return (
        f"  {stamp}  {event.type or 'Normal'}  {event.reason}: "
        f"{clip(redact_text(event.message), 400)}{repeat}"
    )


def _conditions(status: dict[str, Any], now: float) -> list[str]:
    lines = []
    for cond in status.get("conditions") or []:
        if not isinstance(cond, dict):
            continue
        text = f"  {cond.get('type')}={cond.get('status')}"
        why = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
        if why:
            text += f" {clip(str(why), 500)}"
        since = cond.get("lastTransitionTime")
        if isinstance(since, str) and since:
            text += f" (since {ago(since, now)})"
        lines.append(text)
    return lines


MISSING = "not found>"
"""How kubectl describe marks a backend whose Service (so its Endpoints) does not exist."""


def _endpoints(ctx: ToolContext, namespace: str, service: str) -> str:
    """The ready addresses behind a Service, or kubectl describe's error text for none."""
    try:
        found = ctx.cluster.get(
            api_path("endpoints", namespace, service), dict, timeout=ctx.timeout
        )
    except ApiFailure as exc:
        if exc.status == 404:
            return f'<error: endpoints "{service}" {MISSING}'
        return "<endpoints not readable>"
    addresses = [
        f"{a.get('ip')}:{p.get('port')}"
        for subset in found.get("subsets") or []
        for a in subset.get("addresses") or []
        for p in subset.get("ports") or [{}]
    ]
    return clip(", ".join(addresses), 300) if addresses else "<none: no ready pods>"


def _service_exists(ctx: ToolContext, namespace: str | None, service: str) -> bool:
    """Whether the Service is there (a Service without a selector may have no Endpoints)."""
    try:
        ctx.cluster.get(api_path("services", namespace, service), dict, timeout=ctx.timeout)
    except ApiFailure as exc:
        return exc.status != 404
    return True


def _ingress_backends(ctx: ToolContext, obj: dict[str, Any], namespace: str) -> list[str]:
    """Each rule's backend Service and what answers behind it, as kubectl describe shows."""
    spec = obj.get("spec") or {}
    lines = []
    routes = [("*", "", spec.get("defaultBackend"))] if spec.get("defaultBackend") else []
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            routes.append((rule.get("host") or "*", path.get("path") or "/", path.get("backend")))
    for host, path, backend in routes:
        service = (backend or {}).get("service") or {}
        if not service.get("name"):
            lines.append(f"  {host}{path} -> {clip(str(backend), 200)}")
            continue
        port = service.get("port") or {}
        shown = f"{service['name']}:{port.get('number') or port.get('name') or '?'}"
        lines.append(f"  {host}{path} -> {shown} ({_endpoints(ctx, namespace, service['name'])})")
    return lines


def _summary(
    ctx: ToolContext, kind: Kind, obj: dict[str, Any], namespace: str | None
) -> tuple[list[str], list[str], list[str], str, str]:
    """(lines above the details, details that may be shortened, lines below, reason, message)."""
    now = time.time()
    meta = obj.get("metadata") or {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    where = f"{meta.get('namespace')}/" if kind.namespaced else ""
    lines = [f"{kind.kind} {where}{meta.get('name')} ({kind.api_version})"]
    created = meta.get("creationTimestamp")
    if isinstance(created, str):
        lines[0] += f", created {ago(created, now)}"
    reason, message = object_problem(status, deleted_at=meta.get("deletionTimestamp"), now=now)
    backends = (
        _ingress_backends(ctx, obj, namespace) if kind.kind == "Ingress" and namespace else []
    )
    unanswered = {line.split(" -> ")[1].split(":")[0] for line in backends if MISSING in line}
    missing = sorted(name for name in unanswered if not _service_exists(ctx, namespace, name))
    if missing and not reason:
        reason = "BackendMissing"
        message = f"backend Service {', '.join(missing)} does not exist (those paths answer 503)"
    if reason:
        lines.append(f"Needs attention: {reason}" + (f" - {clip(message, 500)}" if message else ""))
    elif status:
        lines.append("Health: its status reports no problem.")
    owners = _owner_chain(ctx, obj, namespace)
    if owners:
        lines.append(f"Controlled by: {owners}")
    labels = meta.get("labels") or {}
    if labels:
        lines.append("Labels: " + clip(", ".join(f"{k}={v}" for k, v in labels.items()), 500))
    annotations = meta.get("annotations") or {}
    if annotations:
        shown = ", ".join(f"{k}={clip(str(v), 120)}" for k, v in annotations.items())
        lines.append("Annotations: " + clip(shown, 600))
    top, lines = lines, []
    if backends:
        lines.append("Backends:")
        lines.extend(backends)
    conditions = _conditions(status, now)
    if conditions:
        lines.append("Conditions:")
        lines.extend(conditions)
    events = object_events(ctx.cluster, kind, str(meta.get("name")), namespace, ctx.timeout)
    if events:
        lines.append(f"Events ({len(events)}, newest first):")
        lines.extend(_event_line(e, now) for e in events[:MAX_EVENTS])
    else:
        lines.append("Events: none recorded.")
    body: list[str] = []
    for section in ("spec", "data", "binaryData", "stringData", "rules", "subjects", "roleRef"):
        if section in obj:
            _flatten(obj[section], section, body)
    for key in ("type", "provisioner", "reclaimPolicy", "volumeBindingMode"):
        if isinstance(obj.get(key), str):
            body.append(f"{key}: {obj[key]}")
    rest_status = {k: v for k, v in status.items() if k != "conditions"}
    _flatten(rest_status, "status", body)
    return top, body, lines, reason, message


def get_resource(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """One object of any kind: summary (describe) or YAML, credentials masked."""
    check_args(args, GET_PARAMS, "get_resource")
    kind = resolve_kind(ctx.cluster, req_str(args, "kind", "get_resource"), ctx.timeout)
    name = check_name(req_str(args, "name", "get_resource"), f"{kind.kind} name")
    output = opt_str(args, "output") or "summary"
    if output not in OUTPUTS:
        raise ToolError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}.")
    namespace, note = None, ""
    if kind.namespaced:
        obj, namespace, note = read_located(
            ctx,
            target(ctx, args),
            kind.kind,
            kind.resource,
            name,
            lambda ns: fetch_object(ctx, kind, name, ns),
            group=kind.group,
        )
    else:
        obj = fetch_object(ctx, kind, name, None)
    now = time.time()
    meta = obj.get("metadata") or {}
    if output == "yaml":
        text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=120)
        reason, message = object_problem(
            obj.get("status"), deleted_at=meta.get("deletionTimestamp"), now=now
        )
        text, truncated = _fit_lines(
            [f"# {kind.kind} {kind.qualified}/{name}", *text.splitlines()],
            ctx.budget,
            "(YAML cut to fit: {n} more lines. get_resource output=summary is shorter.)",
        )
    else:
        top, body, bottom, reason, message = _summary(ctx, kind, obj, namespace)
        room = ctx.budget - sum(len(line) + 1 for line in (*top, *bottom)) - 120
        shown, truncated = _fit_lines(
            body, max(room, 0), "(and {n} more fields: get_resource output=yaml shows them all)"
        )
        text = "\n".join([*top, *(["Details:", shown] if shown else []), *bottom])
        if len(text) > ctx.budget:
            text, truncated = _fit_lines(text.splitlines(), ctx.budget, "({n} more lines)")
    if note:
        text = f"{note}\n{text}"
    row = {"kind": kind.kind, "namespace": namespace or "", "name": name}
    row.update(reason=reason, message=message)
    return ToolResult(text=text, data=[row], truncated=truncated)


def _fit_lines(lines: list[str], budget: int, note: str) -> tuple[str, bool]:
    """As many whole lines as fit ``budget``, then ``note`` saying how many were left out."""
    used = 0
    for index, line in enumerate(lines):
        used += len(line) + 1
        if used > budget - 100:
            return "\n".join([*lines[:index], note.format(n=len(lines) - index)]), True
    return "\n".join(lines), False


def describe_tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            name="get_resource",
            description="One object of any kind, as kubectl describe shows it, or yaml.",
            parameters=schema(GET_PARAMS, ["kind", "name"]),
            func=get_resource,
        )
    ]
