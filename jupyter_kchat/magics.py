"""``%kchat`` / ``%%kchat``: ask the cluster from a cell, watch it stream, get data back.

The answer and tool calls stream into one display that updates in place; the magic returns a
``ChatResult`` (``.text``, ``.tool_calls``, ``.to_dataframe()``) whose rich repr is the answer.
Successive magics continue one conversation per kernel.
"""

from __future__ import annotations

import ast
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .kernel import ChatResult, KernelChat, result_from_events
from .protocol import ProtocolError

UPDATE_INTERVAL = 0.1
"""Seconds between display updates while text streams (tool events update at once)."""

_OPTIONS_WITH_VALUES = {"--model", "-m", "--namespace", "-n", "--context", "-c"}


def split_options(line: str) -> tuple[list[str], str]:
    """Leading ``--options`` and the question, verbatim (apostrophes and quotes included)."""
    tokens: list[str] = []
    rest = line.strip()
    while rest.startswith("-"):
        head, _, tail = rest.partition(" ")
        tokens.append(head)
        rest = tail.lstrip()
        if head in _OPTIONS_WITH_VALUES:
            value, _, tail = rest.partition(" ")
            tokens.append(value)
            rest = tail.lstrip()
    return tokens, rest


def tool_line(call: dict[str, Any]) -> str:
    """One tool call as a Markdown list item: name, arguments, status, time, rows, error."""
    args = ", ".join(f"{k}={v!r}" for k, v in (call.get("arguments") or {}).items())
    status = call.get("status", "running")
    detail = ""
    if call.get("duration_ms") is not None:
        detail = f" in {call['duration_ms']:.0f} ms"
    if call.get("data") is not None:
        detail += f", {len(call['data']):,} rows"
    line = f"- \N{WRENCH} `{call['tool_name']}({args})` **{status}**{detail}"
    if status in ("error", "denied"):
        line += "\n\n  > " + call.get("result", "").replace("\n", "\n  > ")
    return line


class LiveAnswer:
    """One output that updates in place: tool calls above, the streaming Markdown answer below."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.status = "Thinking..."
        self._last_update = time.monotonic()
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self, *, include_text: bool = True) -> dict[str, str]:
        parts = ["\n".join(tool_line(call) for call in self.calls.values())]
        parts += [f"> **Error:** {error}" for error in self.errors]
        if include_text:
            parts.append("".join(self.text))
        if self.status:
            parts.append(f"*{self.status}*")
        markdown = "\n\n".join(p for p in parts if p)
        return {"text/markdown": markdown, "text/plain": markdown}

    def update(self, event: dict[str, Any]) -> None:
        kind, data = event["type"], event["data"]
        urgent = True
        if kind == "text":
            self.text.append(data["text"])
            urgent = False
        elif kind == "thinking":
            self.status = data.get("message", "")
        elif kind in ("tool_call_start", "tool_call_end", "approval_required"):
            self.calls[data["tool_call_id"]] = {**self.calls.get(data["tool_call_id"], {}), **data}
            self.status = "Waiting for your approval..." if kind == "approval_required" else ""
        elif kind == "error":
            self.errors.append(data["message"])
        now = time.monotonic()
        if urgent or now - self._last_update >= UPDATE_INTERVAL:
            self._last_update = now
            self._show()

    def _show(self, *, include_text: bool = True) -> None:
        if self.handle is not None:
            self.handle.update(self._bundle(include_text=include_text), raw=True)

    def finish(self, *, keep_text: bool) -> None:
        """Final state; the answer text is left out when the cell's output will show it."""
        self.status = ""
        self._show(include_text=keep_text)


@magics_class
class KChatMagics(Magics):
    """Ask your Kubernetes cluster from a notebook."""

    conversation_id: str | None = None
    last: ChatResult | None = None

    @magic_arguments()
    @argument("--new", action="store_true", help="start a new conversation")
    @argument("--model", "-m", help="model for this question (default: c.KChat.model)")
    @argument("--namespace", "-n", help="default namespace for the tools")
    @argument("--context", "-c", help="kubeconfig context for this question")
    @argument("question", nargs="*", help="the question (or the cell body, for %%%%kchat)")
    @line_cell_magic
    def kchat(self, line: str, cell: str | None = None) -> ChatResult | None:
        """Ask kchat a question about your Kubernetes cluster.

        %kchat list all pods
        %%kchat --namespace payments
        why is payments-api crashlooping?

        The answer and each tool call stream into the output; the value returned has .text,
        .tool_calls, .conversation_id and .to_dataframe() (the rows of the last table).
        Successive questions continue one conversation; --new starts another.
        """
        tokens, question = split_options(line)
        if "-h" in tokens or "--help" in tokens:
            parse_argstring(self.kchat, "--help")
        args = parse_argstring(self.kchat, " ".join(tokens))
        if cell is not None:
            question = f"{question}\n{cell}".strip()
        if not question.strip():
            raise UsageError("Ask a question: %kchat list all pods   (see %kchat --help)")
        chat = KernelChat.instance()
        problems = chat.problems()
        if problems:
            raise UsageError("kchat is not configured yet:\n- " + "\n- ".join(problems))
        if args.new:
            self.conversation_id = None
        live = LiveAnswer()
        events: list[dict[str, Any]] = []
        try:
            for event in chat.ask(
                question,
                conversation_id=self.conversation_id,
                model=args.model,
                namespace=args.namespace,
                context=args.context,
            ):
                events.append(event)
                live.update(event)
                if event["type"] == "approval_required":
                    chat.approve(event["data"]["tool_call_id"], self._ask_approval(event["data"]))
        except ProtocolError as exc:
            raise UsageError(exc.message) from None
        result = result_from_events(events)
        self.conversation_id = result.conversation_id
        KChatMagics.last = result
        shown_as_output = cell is not None or self._is_last_expression()
        live.finish(keep_text=not shown_as_output)
        return result

    def _ask_approval(self, data: dict[str, Any]) -> bool:
        answer = input(f"kchat wants to change the cluster: {data['reason']}\nApprove? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    def _is_last_expression(self) -> bool:
        """Whether IPython will show our return value as the cell's output (so the live view
        need not repeat the answer): the magic is the cell's last expression, no semicolon."""
        history = self.shell.user_ns.get("_ih") if self.shell is not None else None
        source = history[-1] if history else ""
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return False
        last = tree.body[-1] if tree.body else None
        if not isinstance(last, ast.Expr) or source.rstrip().endswith(";"):
            return False
        call = last.value
        return (
            isinstance(call, ast.Call)
            and getattr(call.func, "attr", "") in ("run_line_magic", "run_cell_magic")
            and bool(call.args)
            and isinstance(call.args[0], ast.Constant)
            and call.args[0].value == "kchat"
        )
