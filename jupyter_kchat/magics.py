"""``%kchat`` / ``%%kchat``: ask the cluster from a cell, watch it stream, get data back.

Tool calls (each a collapsible block with its first rows) and the answer stream into one display
that updates in place; the magic returns a ``ChatResult`` (``.text``, ``.tool_calls``,
``.to_dataframe()``) that displays the same way, as static HTML a saved notebook keeps.
Successive magics continue one conversation per kernel.
"""

from __future__ import annotations

import ast
import re
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .kernel import ChatResult, KernelChat, ToolCall, prompt_approval, result_from_events
from .notebook_html import turn_html, turn_text
from .protocol import ProtocolError

UPDATE_INTERVAL = 0.1
"""Seconds between display updates while text streams (tool events update at once); at least
twice what the last update took, so a long answer's rendering never takes most of the time."""

_OPTIONS_WITH_VALUES = {"--model", "-m", "--namespace", "-n", "--context", "-c"}

_ENDS_IN_QUESTION_MARK = re.compile(
    r"^(?P<indent>[ \t]*)(?:(?P<target>[A-Za-z_][\w.]*)[ \t]*=[ \t]*)?%kchat"
    r"(?P<rest>[ \t]+[^ \t?].*\?)[ \t]*$"
)

HELP = """\
%kchat [options] QUESTION
%%kchat [options]
QUESTION (the cell body, any number of lines)

Ask kchat about your Kubernetes cluster. The answer and every tool call (a collapsible block
with its first rows, the ones that need attention first) stream into the cell's output; the
value returned is a ChatResult, which displays the same way:
  .text              the answer (Markdown)
  .tool_calls        ToolCall(name, arguments, status, result, rows) for each tool kchat ran
  .conversation_id   the conversation (it also appears in the kchat side panel)
  .to_dataframe()    the rows of the last tool that returned rows, as a pandas DataFrame,
                     in the tool's order: rows that need attention first, their "reason"
                     column says why (for "list all pods": namespace, name, phase, ...)

  pods = %kchat list all pods
  pods.to_dataframe().groupby("namespace").size()

Successive questions continue one conversation per kernel, so follow-ups can say "it" or
"those pods". In a %kchat line, {name} and $name are replaced by Python variables (IPython's
usual expansion); the body of a %%kchat cell is sent as written.

Options (before the question):
  --new              start a new conversation
  -m, --model NAME   model for this question (default: c.KChat.model)
  -n, --namespace NS default namespace for the tools in this question
  -c, --context CTX  kubeconfig context for this question
  -h, --help         this help
  --                 end of options (for a question that starts with "-")

Configuration is the Jupyter server's: c.KChat.* in jupyter_server_config.py, then
OPENAI_API_KEY / OPENAI_BASE_URL / KCHAT_MODEL for the model and KUBECONFIG (or ~/.kube/config,
or the pod's service account) for the cluster. Changes to the cluster are offered only with
c.KChat.read_only = False, and each one asks for your approval here first.
Offline demo (sample cluster and scripted model):
  from jupyter_kchat.sample.offline import use_offline_demo; use_offline_demo()
A chat in the output area instead: from jupyter_kchat import ChatWidget; ChatWidget()
"""


def split_options(line: str) -> tuple[list[str], str]:
    """Leading ``--options`` and the question, verbatim (apostrophes and quotes included)."""
    tokens: list[str] = []
    rest = line.strip()
    while rest.startswith("-"):
        head, _, tail = rest.partition(" ")
        rest = tail.lstrip()
        if head == "--":
            break
        tokens.append(head)
        if head in _OPTIONS_WITH_VALUES:
            value, _, tail = rest.partition(" ")
            tokens.append(value)
            rest = tail.lstrip()
    return tokens, rest


def keep_question_marks(lines: list[str]) -> list[str]:
    """IPython reads a line ending in ``?`` as a help request, so ``%kchat what's wrong?``
    would show help for ``wrong``: such lines become the call IPython makes for the others.

    An input transformer of the "cleanup" stage, which sees the cell before IPython's own; a
    ``%%`` cell magic's body is left alone.
    """
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        return lines
    transformed: list[str] = []
    for line in lines:
        match = _ENDS_IN_QUESTION_MARK.match(line.rstrip("\r\n"))
        if match is None:
            transformed.append(line)
            continue
        target = f"{match['target']} = " if match["target"] else ""
        call = f"get_ipython().run_line_magic('kchat', {match['rest'].strip()!r})"
        ending = line[len(line.rstrip("\r\n")):]
        transformed.append(f"{match['indent']}{target}{call}{ending}")
    return transformed


class LiveAnswer:
    """One output that updates in place: tool blocks above, the streaming answer below.

    The answer is HTML (``notebook_html``), never ``text/markdown``: JupyterLab's Markdown
    renderer would load the images an answer names.
    """

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.status = "Thinking..."
        self._last_update = time.monotonic()
        self._interval = UPDATE_INTERVAL
        self.stopped = False
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self, *, include_text: bool = True) -> dict[str, str]:
        calls = [ToolCall.from_event(call) for call in self.calls.values()]
        text = "".join(self.text) if include_text else ""
        return {
            "text/html": turn_html(calls, text, self.errors, self.status),
            "text/plain": turn_text(calls, text, self.errors, self.status),
        }

    def update(self, event: dict[str, Any]) -> None:
        kind, data = event["type"], event["data"]
        urgent = True
        if kind == "text":
            self.text.append(data["text"])
            urgent = False
        elif kind == "thinking":
            self.status = data.get("message", "")
        elif kind in ("tool_call_start", "tool_call_end", "approval_required"):
            call = {**self.calls.get(data["tool_call_id"], {}), **data}
            if kind == "approval_required":
                call["status"] = "awaiting approval"
                call["approval"] = data.get("reason", "")
            self.calls[data["tool_call_id"]] = call
            self.status = "Waiting for your approval..." if kind == "approval_required" else ""
        elif kind == "error":
            self.errors.append(data["message"])
        elif kind == "complete":
            self.stopped = bool(data.get("cancelled"))
            return
        now = time.monotonic()
        if urgent or now - self._last_update >= self._interval:
            self._show()
            self._last_update = time.monotonic()
            self._interval = max(UPDATE_INTERVAL, 2 * (self._last_update - now))

    def _show(self) -> None:
        if self.handle is not None:
            self.handle.update(self._bundle(), raw=True)

    def finish(self, *, shown_as_output: bool) -> None:
        """Final state; empty when the cell's output (the ``ChatResult``) will show the turn."""
        self.status = "Stopped." if self.stopped else ""
        if self.handle is None:
            return
        if shown_as_output:
            self.handle.update({"text/plain": ""}, raw=True)
        else:
            self._show()


@magics_class
class KChatMagics(Magics):
    """Ask your Kubernetes cluster from a notebook."""

    last: ChatResult | None = None

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        if shell is not None and keep_question_marks not in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.append(keep_question_marks)

    @magic_arguments()
    @argument("--new", action="store_true", help="start a new conversation")
    @argument("--model", "-m", help="model for this question (default: c.KChat.model)")
    @argument("--namespace", "-n", help="default namespace for the tools")
    @argument("--context", "-c", help="kubeconfig context for this question")
    @argument("question", nargs="*", help="the question (or the cell body, for %%%%kchat)")
    @line_cell_magic
    def kchat(self, line: str, cell: str | None = None) -> ChatResult | None:
        """Ask kchat a question about your Kubernetes cluster (``%kchat --help`` for more).

        %kchat list all pods
        %%kchat --namespace payments
        why is payments-api crashlooping?

        The answer and each tool call stream into the output; the value returned has .text,
        .tool_calls, .conversation_id and .to_dataframe() (the rows of the last table).
        Successive questions continue one conversation; --new starts another.
        """
        tokens, question = split_options(line)
        if "-h" in tokens or "--help" in tokens:
            print(HELP)
            return None
        args = parse_argstring(self.kchat, " ".join(tokens))
        if cell is not None:
            question = f"{question}\n{cell}".strip()
        if not question.strip():
            raise UsageError("Ask a question: %kchat list all pods   (see %kchat --help)")
        chat = KernelChat.instance()
        problem = chat.problem_message()
        if problem:
            KernelChat.reset()
            raise UsageError(problem)
        if args.new:
            chat.conversation_id = None
        live = LiveAnswer()
        events: list[dict[str, Any]] = []
        stream = chat.ask(
            question,
            conversation_id=chat.conversation_id,
            model=args.model,
            namespace=args.namespace,
            context=args.context,
        )
        interrupted = False
        while not events or events[-1]["type"] != "complete":
            try:
                for event in stream:
                    events.append(event)
                    live.update(event)
                    if event["type"] == "approval_required":
                        data = event["data"]
                        chat.approve(data["tool_call_id"], prompt_approval(data))
            except KeyboardInterrupt:
                if interrupted or not events:
                    raise
                interrupted = True
                chat.cancel(events[0]["data"]["conversation_id"])
            except ProtocolError as exc:
                live.finish(shown_as_output=False)
                if exc.code == "unknown_conversation":
                    chat.conversation_id = None
                    raise UsageError(
                        f"{exc.message}\nThe next %kchat starts a new conversation."
                    ) from None
                raise UsageError(exc.message) from None
            else:
                if not events or events[-1]["type"] != "complete":
                    raise KeyboardInterrupt
        result = result_from_events(events, question)
        chat.conversation_id = result.conversation_id
        KChatMagics.last = result
        shown_as_output = self._is_last_expression()
        live.finish(shown_as_output=shown_as_output)
        return result

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
