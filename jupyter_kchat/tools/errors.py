"""The one error type a tool raises on purpose; in its own module so every tool module (and
``kube``) can import it without importing each other."""

from __future__ import annotations


class ToolError(Exception):
    """A failure the model can act on: the message becomes the tool result text.

    Raise it for cluster faults (403 with the RBAC message, 404, 409, timeouts) and for
    arguments that make no sense, phrased as advice ("namespace 'x' not found; try
    list_namespaces").
    """
