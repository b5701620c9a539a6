"""Who may do what: the admin, a cluster-wide read-only user, and a viewer bound to one
namespace with the ``view`` ClusterRole (which, like the real one, excludes Secrets)."""

from __future__ import annotations

from .errors import ApiError, forbidden
from .resources import Resource

ADMIN_USER = "kubernetes-admin"
READONLY_USER = "system:serviceaccount:kchat:reader"
NAMESPACE_VIEWER = "system:serviceaccount:shop:viewer"
VIEWER_NAMESPACE = "shop"
READ_VERBS = frozenset({"get", "list", "watch"})


def viewer_may(verb: str, resource: Resource, namespace: str | None, name: str | None) -> bool:
    """A RoleBinding of ``view`` in ``shop``: reads there, Secrets excluded; the namespace
    object itself counts as inside it, as RBAC sees a request for ``namespaces/shop``."""
    if verb not in READ_VERBS or resource.qualified == "secrets":
        return False
    if resource.qualified == "namespaces":
        return name == VIEWER_NAMESPACE
    return resource.namespaced and namespace == VIEWER_NAMESPACE


def authorize(
    user: str,
    verb: str,
    resource: Resource,
    namespace: str | None,
    name: str | None,
    subresource: str | None,
) -> None:
    """Raise the API server's 403 when ``user`` may not ``verb`` this resource (any user
    other than the two restricted ones is a cluster admin). RBAC sees a request for one
    namespace object as made in that namespace."""
    if resource.qualified == "namespaces" and name:
        namespace = name
    if user == READONLY_USER:
        allowed = verb in READ_VERBS
    elif user == NAMESPACE_VIEWER:
        allowed = viewer_may(verb, resource, namespace, name)
    else:
        allowed = True
    if not allowed:
        raise forbidden(user, verb, resource, namespace, name, subresource)


def not_allowed() -> ApiError:
    """The 405 for a verb a resource does not serve (metrics are get/list only)."""
    return ApiError(405, "the server does not allow this method on the requested resource")
