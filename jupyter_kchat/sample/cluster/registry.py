"""What the image registries answer, in containerd's own words (kubelet ``Failed`` events).

A tag that does not exist is ``NotFound``; a private (or missing) Docker Hub repository is
``pull access denied ... insufficient_scope``. Both are the texts containerd 1.7 returns.
"""

from __future__ import annotations

PRIVATE_IMAGE = "acme/payments-exporter:1.2.0"
"""A Docker Hub repository that is private (or gone): the registry refuses it."""
DENIED = (
    "pull access denied, repository does not exist or may require authorization: "
    "server message: insufficient_scope: authorization failed"
)


def normalized(image: str) -> str:
    """The fully qualified reference containerd resolves (``docker.io/library/...``)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def pull_error(image: str) -> str:
    """The kubelet's ``Failed`` event message when pulling ``image`` fails."""
    ref = normalized(image)
    if image == PRIVATE_IMAGE:
        return (
            f'Failed to pull image "{image}": rpc error: code = Unknown desc = failed to pull and '
            f'unpack image "{ref}": failed to resolve reference "{ref}": {DENIED}'
        )
    return (
        f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
        f'unpack image "{ref}": failed to resolve reference "{ref}": {ref}: not found'
    )
