"""One turn as a notebook output: tool blocks with their tables, then the answer.

Plain HTML with inline styles and ``<details>`` for the collapsing, so a saved notebook shows
the same thing without kchat's extension (GitHub, nbviewer, nbconvert) as in JupyterLab. Every
value from the cluster or the model is escaped here; the answer's Markdown goes through
``safe_html``. The styles are ours, constant, and never built from data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from .safe_html import markdown_to_html

if TYPE_CHECKING:
    from .kernel import ToolCall

ROWS_SHOWN = 10
"""Rows of a tool's table shown inline; ``to_dataframe()`` has them all."""

LINES_SHOWN = 40
"""Lines of a tool's text result shown inline; ``.result`` has them all."""

CELL_CHARS = 120
"""Longest value shown in a table cell (the DataFrame keeps the whole value)."""

NEEDS_ATTENTION = {"error", "denied", "awaiting approval"}
"""Statuses whose block opens by itself (as does a table with problem rows)."""

_BLOCK = "border:1px solid #d0d7de;border-radius:4px;margin:4px 0;padding:2px 8px"
_SUMMARY = "cursor:pointer"
_TABLE = "border-collapse:collapse;font-size:0.9em;margin:4px 0"
_CELL = "border-bottom:1px solid #eaeef2;padding:1px 8px;text-align:left;vertical-align:top"
_PROBLEM = "background:#fff8c5"
_PRE = "white-space:pre-wrap;max-height:24em;overflow:auto;margin:4px 0"
_NOTE = "color:#57606a;font-size:0.9em"
_QUESTION = (
    "white-space:pre-wrap;font-weight:600;margin:8px 0 2px;padding-left:6px;"
    "border-left:3px solid #0969da"
)


def signature(call: ToolCall) -> str:
    """``name(arg=value, ...)`` as a person reads a call."""
    args = ", ".join(f"{key}={value!r}" for key, value in call.arguments.items())
    return f"{call.name}({args})"


def problem_count(rows: Sequence[Mapping[str, Any]]) -> int:
    """Rows a tool flagged, with a non-empty ``reason``."""
    return sum(1 for row in rows if row.get("reason"))


def outcome(call: ToolCall) -> str:
    """The call's status, its time, its rows and how many of them need attention."""
    line = call.status
    if call.duration_ms is not None:
        line += f" in {call.duration_ms:,.0f} ms"
    if call.rows is not None:
        line += f", {len(call.rows):,} rows"
        problems = problem_count(call.rows)
        if problems:
            line += f" ({problems:,} need attention)"
    return line


def _value(value: Any) -> str:
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple):
        text = ", ".join(map(str, value))
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if len(text) > CELL_CHARS:
        text = text[: CELL_CHARS - 1] + "…"
    return escape(text)


def table_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The first rows in the order the tool gave them (problems first), and what is left."""
    if not rows:
        return f'<div style="{_NOTE}">No rows.</div>'
    shown = rows[:ROWS_SHOWN]
    columns = list(dict.fromkeys(key for row in shown for key in row))
    head = "".join(f'<th style="{_CELL}">{escape(str(c))}</th>' for c in columns)
    body = []
    for row in shown:
        style = f"{_CELL};{_PROBLEM}" if row.get("reason") else _CELL
        cells = "".join(f'<td style="{style}">{_value(row.get(c))}</td>' for c in columns)
        body.append(f"<tr>{cells}</tr>")
    html = (
        f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if len(rows) > len(shown):
        html += (
            f'<div style="{_NOTE}">{len(rows) - len(shown):,} more ({len(rows):,} rows in all;'
            " <code>.to_dataframe()</code> has every row)</div>"
        )
    return html


def text_html(text: str) -> str:
    """A tool's text, escaped, its first lines shown."""
    lines = text.splitlines()
    shown = "\n".join(lines[:LINES_SHOWN])
    html = f'<pre style="{_PRE}">{escape(shown)}</pre>'
    if len(lines) > LINES_SHOWN:
        html += (
            f'<div style="{_NOTE}">{len(lines) - LINES_SHOWN:,} more lines'
            " (<code>.result</code> has them all)</div>"
        )
    return html


def tool_block(call: ToolCall) -> str:
    """A collapsible block: the call on one line, then its table or its text."""
    rows = call.rows
    parts = []
    if call.approval:
        parts.append(f"<div>Change: {escape(call.approval)}</div>")
    if rows is not None:
        parts.append(table_html(rows))
        if call.result:
            parts.append(
                f'<details><summary style="{_SUMMARY};{_NOTE}">What the model read</summary>'
                f"{text_html(call.result)}</details>"
            )
    elif call.result:
        parts.append(text_html(call.result))
    opened = call.status in NEEDS_ATTENTION or bool(rows and problem_count(rows))
    return (
        f'<details class="kchat-tool" style="{_BLOCK}"{" open" if opened else ""}>'
        f'<summary style="{_SUMMARY}"><code>{escape(signature(call))}</code> '
        f"{escape(outcome(call))}</summary>{''.join(parts)}</details>"
    )


def usage_text(usage: Mapping[str, Any] | None) -> str:
    """``1,234 + 321 tokens · 18% of context · $0.0042``, as the panel shows a turn's usage.

    Parts the server did not send are left out; counts kchat estimated start with ``≈``.
    """

    def number(key: str) -> float | None:
        value = (usage or {}).get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        return float(value) if ok else None

    prompt, completion = number("prompt_tokens"), number("completion_tokens")
    total, window = number("total_tokens"), number("context_window")
    about = "≈ " if (usage or {}).get("estimated") is True else ""
    parts = []
    if prompt is not None and completion is not None:
        parts.append(f"{about}{prompt:,.0f} + {completion:,.0f} tokens")
    elif (
        known := next((n for n in (total, prompt, completion) if n is not None), None)
    ) is not None:
        parts.append(f"{about}{known:,.0f} tokens")
    used = number("context_used")
    if used is None and window and prompt is not None:
        used = prompt / window
    if used is not None:
        parts.append(f"{'<1' if 0 < used < 0.01 else round(used * 100)}% of context")
    cost = number("cost_usd")
    if cost is not None:
        parts.append(f"${cost:.4f}" if cost < 0.01 else f"${cost:.2f}")
    return " · ".join(parts)


def turn_html(
    calls: Iterable[ToolCall], text: str, errors: Sequence[str] = (), status: str = ""
) -> str:
    """A whole turn: tool blocks, the answer, errors, and what is happening now."""
    parts = [tool_block(call) for call in calls]
    if text:
        parts.append(f'<div class="kchat-answer">{markdown_to_html(text)}</div>')
    parts += [f"<div><strong>Error:</strong> {escape(error)}</div>" for error in errors]
    if status:
        parts.append(f'<div style="{_NOTE}"><em>{escape(status)}</em></div>')
    return f'<div class="kchat-turn">{"".join(parts)}</div>'


def conversation_html(
    turns: Iterable[tuple[str, str]], waiting: str | None = None, css_class: str = ""
) -> str:
    """A chat as a saved notebook shows it: each question (escaped) above its turn's HTML, then
    a question still being answered (``waiting``)."""
    parts = [f'<div style="{_NOTE}">kchat chat (saved copy; run the cell for the live chat)</div>']
    for question, turn in turns:
        parts.append(f'<div class="kchat-question" style="{_QUESTION}">{escape(question)}</div>')
        parts.append(turn)
    if waiting is not None:
        parts.append(f'<div class="kchat-question" style="{_QUESTION}">{escape(waiting)}</div>')
        parts.append(f'<div style="{_NOTE}"><em>Answering…</em></div>')
    return f'<div class="kchat-conversation {escape(css_class)}">{"".join(parts)}</div>'


def turn_text(
    calls: Iterable[ToolCall], text: str, errors: Sequence[str] = (), status: str = ""
) -> str:
    """The same turn as plain text (terminals, ``text/plain``)."""
    parts = ["\n".join(f"- {signature(call)} {outcome(call)}" for call in calls)]
    parts += [text, *(f"Error: {error}" for error in errors), status]
    return "\n\n".join(part for part in parts if part)
