"""What every part of the sample cluster shares: object types, timestamps, quantities, owners."""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from datetime import datetime
from typing import Any

import orjson

Obj = dict[str, Any]
Key = tuple[str, str]
"""(namespace, name); the namespace is "" for cluster-scoped objects."""

K8S_VERSION = "v1.30.4"
HEALTHY = "healthy"
"""How a pod behaves (the generator's profiles); every other value is a way to be broken."""
CRASHLOOP = "crashloop"
IMAGEPULL = "imagepull"
PENDING = "pending"
OOM = "oom"
OOM_CRASHLOOP = "oom-crashloop"
EVICTED = "evicted"
NODE_LOST = "node-lost"
JOB_FAILED = "job-failed"
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_TOLERATIONS = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def rfc3339(epoch: float) -> str:
    """Seconds since the epoch as the API's RFC 3339 timestamp (UTC, whole seconds).

    Formatted by hand from a cached date: generating a big cluster formats ~100,000 of them.
    """
    day, second = divmod(int(epoch // 1), 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)}T{hour:02d}:{minute:02d}:{second:02d}Z"


def parse_rfc3339(text: str) -> float:
    """The inverse of :func:`rfc3339`, also accepting fractional seconds and offsets."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_quantity(text: str) -> float:
    """A Kubernetes resource quantity ("500m", "16Gi", "2") as a plain number."""
    suffixes = {
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "m": 1e-3,
    }
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def b64(text: str) -> str:
    """Text as a Secret's ``data`` value."""
    return base64.b64encode(text.encode()).decode()


def owner_ref(obj: Obj) -> Obj:
    """The controller owner reference a controller puts on what it creates."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def image_id(image: str) -> str:
    """The digest reference containerd reports for an image it pulled."""
    repo = image.rsplit(":", 1)[0]
    if "/" not in repo or "." not in repo.split("/")[0]:
        repo = f"docker.io/library/{repo}" if "/" not in repo else f"docker.io/{repo}"
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def template_hash(template: Obj) -> str:
    """A pod-template-hash for a template: stable, 10 characters of the safe alphabet."""
    digest = hashlib.sha1(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:10])


def clone(data: Any) -> Any:
    """A deep copy of JSON-shaped data (several times faster than ``copy.deepcopy``)."""
    return orjson.loads(orjson.dumps(data))
