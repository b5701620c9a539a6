"""Writes: PATCH and PUT with optimistic concurrency, the Deployment scale subresource, and
pod deletion; Deployments go through the sample cluster's controllers."""

from __future__ import annotations

import copy
from collections.abc import Callable

import orjson

from ..cluster import Obj, SampleCluster, rfc3339
from .errors import ApiError, details, invalid
from .patches import apply_patch
from .resources import Resource, builtin
from .storage import Entry

Lookup = Callable[[Resource, "str | None", str], Entry]


class Writer:
    """Applies writes to the cluster, validated as the API server validates them."""

    def __init__(self, cluster: SampleCluster, entry: Lookup) -> None:
        self.cluster = cluster
        self.entry = entry

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
            changed = apply_patch(scale, content_type, body)
            return self._set_scale(namespace, name, scale, changed, dry_run)
        entry = self.entry(resource, namespace, name)
        patched = apply_patch(entry.obj, content_type, body)
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
                details(resource, name),
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
            stored = self.cluster.replace_object(resource.storage, new)
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
        deployment = self.entry(builtin("deployments"), namespace, name).obj
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
                details(builtin("deployments"), name),
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
        deployment = copy.deepcopy(self.entry(builtin("deployments"), namespace, name).obj)
        deployment["spec"]["replicas"] = replicas
        self.cluster.replace_deployment(namespace, name, deployment)
        return orjson.dumps(self.scale_of(namespace, name))

    def delete_pod(self, namespace: str, name: str, body: bytes, dry_run: bool) -> bytes:
        """Delete a pod (checking DeleteOptions preconditions); returns it as it was."""
        pods = builtin("pods")
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
                    details(pods, name),
                    reason="Conflict",
                )
        if dry_run:
            gone = copy.deepcopy(entry.obj)
            gone["metadata"]["deletionTimestamp"] = rfc3339(self.cluster.clock() + 30)
            gone["metadata"]["deletionGracePeriodSeconds"] = 30
            return orjson.dumps(gone)
        return orjson.dumps(self.cluster.delete_pod(namespace, name))
