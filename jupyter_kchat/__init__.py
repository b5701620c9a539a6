"""jupyter-kchat: chat with your Kubernetes cluster from inside Jupyter.

Extension points only: the server extension, the prebuilt lab extension, the IPython magics.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "ChatWidget", "load_ipython_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import KChatApp

    return [{"module": "jupyter_kchat", "app": KChatApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-kchat"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_kchat``: registers ``%kchat`` / ``%%kchat``."""
    from .magics import KChatMagics

    ipython.register_magics(KChatMagics)


def __getattr__(name: str) -> Any:
    if name == "ChatWidget":
        from .widget import ChatWidget

        return ChatWidget
    raise AttributeError(name)
