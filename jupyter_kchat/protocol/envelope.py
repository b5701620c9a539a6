"""The ChatWidget's envelope (schema ``WidgetMessage``): what the kernel sends its views besides
protocol events. Kept here so the widget and widget.ts share one definition of the shapes."""

from __future__ import annotations

from typing import Any


def user_entry(message: str, client_id: str | None = None) -> dict[str, Any]:
    """The question of a turn the front end did not send itself (asked from Python)."""
    data: dict[str, Any] = {"message": message}
    if client_id:
        data["client_id"] = client_id
    return {"type": "user", "data": data}


def widget_message(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One kernel -> view message: a single entry as it is, several as an ``events`` batch."""
    return entries[0] if len(entries) == 1 else {"events": entries}
