"""The scripted "demo model": a deterministic, rule-based brain that chats about a cluster.

It exists so kchat can be demonstrated, tested and benchmarked with no network and no real LLM:
``model_server`` serves it over the OpenAI wire format, so the real ``openai`` client and the
real tool-calling loop run unchanged. Everything here is a pure function of the request (the
``messages`` and the ``tools`` offered); there is no I/O and no randomness.

``decide(messages, tools)`` returns a ``Decision``: answer text and/or tool calls.

Scripted scenarios (the latest user message, case-insensitive, must *start* with the trigger;
a notebook-cell context kchat appends after the message is ignored):

``stream N chunks``
    A Markdown answer (headings, code blocks, a table) streamed as exactly N content chunks of
    a few characters each (N up to 2,000,000), no tools. For relay benchmarks and
    back-pressure tests.
``call tool NAME with {json}``
    Exactly that tool call (``with ...`` may be left out: empty arguments), even when NAME is
    not among the offered tools, so tests can drive the engine's handling of unknown or
    disabled tools; the JSON is sent verbatim when it does not parse. After the tool result
    comes back, a short answer quoting it. Needs a request that offers some tools.
``say EXACT TEXT``
    Answers with exactly EXACT TEXT (everything after ``say`` and its whitespace).

Otherwise the user's intent is read from keywords and only offered tools are called:

* pods (``list all pods``, ``pods in payments``, ``pending pods``, ``pods with app=web``),
  ``describe pod X``, ``logs of X`` (a bare deployment-like name is first resolved with
  ``list_pods``), nodes (``memory pressure``), events / warnings, deployments, services,
  namespaces, secrets;
* ``why is payments-api crashlooping?`` / ``what's wrong`` / ``unhealthy`` / ``diagnose``:
  ``diagnose_cluster`` (or ``list_pods`` + warning ``list_events`` when it is not offered),
  then the previous logs of the first crashlooping pod found, then an answer;
* ``restart deployment X in NS``, ``scale X to 3``, ``delete pod X``: the write tools; when they
  are not offered (read-only mode) the answer says how to enable them;
* any other kind (PVCs, ingresses, jobs, cronjobs, configmaps, certificates, HPAs, PDBs, storage
  classes, CRDs...): ``list_resources``, or ``get_resource`` when the text names one
  (``configmap app-config``); a single listed ingress is then described, a failed Job's pods are
  listed and one's logs read; ``what changed in the last rollout of X``: ``rollout_history``;
  ``which pods use the most memory``: ``top``; ``Helm releases``: ``list_helm_releases``;
  ``contexts``: ``list_contexts``.

Namespaces come from ``in NS`` / ``namespace NS`` / ``-n NS`` or a known namespace named in the
text; known namespaces are a few common ones plus every namespace seen in earlier tool results.
A listing or diagnosis is also scoped by a name's prefix (``payments-api`` -> ``payments``), but
a call about one named object (a pod, its logs, a change) names no namespace the user did not
give and no result showed: the tool then looks the name up across the readable namespaces and
says where it found it.

After tool results the model calls at most a few follow-up tools, then writes a Markdown answer:
a heading, the key findings as bullets quoting the important lines, and a suggestion. Failed tool
results (``Error...``, forbidden, not found, denied) are acknowledged as failures.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from ..untrusted import unfence

Message = dict[str, Any]

MAX_TOOL_ROUNDS = 3
"""Tool rounds one turn may take before the demo model answers with what it has."""

MAX_STREAM_CHUNKS = 2_000_000

READ_ONLY_HINT = (
    "Changes to the cluster are disabled: kchat runs in read-only mode, so write tools are not "
    "offered to me. To allow them (every change still waits for your approval), start Jupyter "
    "with `--KChat.read_only=False`, or set `c.KChat.read_only = False` in "
    "`jupyter_server_config.py`."
)

_CELL_CONTEXT = "\n\nContext: the active notebook cell"

DEFAULT_NAMESPACES: frozenset[str] = frozenset(
    {
        "default", "kube-system", "kube-public", "kube-node-lease", "monitoring", "logging",
        "payments", "shop", "checkout", "orders", "frontend", "backend", "web", "api", "data", "ml",
        "staging", "production", "ingress-nginx", "cert-manager", "argocd", "istio-system",
        "jupyterhub", "observability", "database", "auth",
    }
)

_STOPWORDS: frozenset[str] = frozenset(
    {
        "a", "an", "the", "my", "our", "your", "this", "that", "these", "those", "all", "any",
        "every", "each", "it", "its", "there", "here", "which", "what", "whats", "why", "how",
        "is", "are", "in", "of", "for", "to", "from", "with", "on", "and", "or", "me", "please",
        "pod", "pods", "deployment", "deployments", "deploy", "namespace", "namespaces", "ns",
        "cluster", "log", "logs", "container", "containers", "node", "nodes", "service",
        "services", "secret", "secrets", "event", "events", "now", "again", "current", "named",
        "called", "replicas", "replica", "last", "previous", "lines", "running",
    }
)
_NOT_NAMES: frozenset[str] = frozenset(
    {
        "read-only", "crash-loop", "crash-looping", "crash-loops", "out-of-memory", "built-in",
        "well-known", "step-by-step", "all-namespaces", "kube-system", "up-to-date", "follow-up",
    }
)

_VAGUE: frozenset[str] = frozenset(
    {
        "wrong", "going", "happening", "up", "down", "failing", "broken", "crashing",
        "crashlooping",
        "unhealthy", "healthy", "ok", "okay", "fine", "slow", "not", "still", "so", "there", "some",
        "everything", "anything", "something", "last", "latest", "recent", "one", "two", "three",
        "minutes", "hours", "hour", "minute", "today", "use", "using", "used", "order",
    }
)
_STRONG: frozenset[str] = frozenset(
    {"pod", "deployment", "deploy", "describe", "inspect", "restart", "scale", "delete", "kill",
     "remove", "evict", "bounce", "redeploy", "logs?"}
)
_POD_SUFFIX_ALPHABET = frozenset("bcdfghjklmnpqrstvwxz2456789")

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./:-]*")
_PROBLEM_RE = re.compile(
    r"crashloopbackoff|back-?off|oomkilled|out of memory|imagepullbackoff|errimagepull|"
    r"createcontainer\w*error|\berror\b|exception|traceback|\bfatal\b|panic|\bfailed\b|failure|"
    r"refused|timed? ?out|unhealthy|notready|not ready|"
    r"(?:memory|disk|pid)pressure(?!\s*[=:]\s*false)|"
    r"evicted|\bpending\b|insufficient|unschedulable|forbidden|denied|\bwarning\b|\bkilled\b|"
    r"exit code:? [1-9]",
    re.IGNORECASE,
)
_FAILURE_RE = re.compile(
    r"^(?:error\b|failed\b)|forbidden|not found|notfound|unauthorized|access denied|"
    r"the user denied|no tool named|there is no tool|cancelled\.?$|did not finish within",
    re.IGNORECASE,
)
_CRASH_RE = re.compile(
    r"crashloopbackoff|back-off restarting|oomkilled|\berror\b|exit code:? [1-9]|"
    r"\bfailed\b|imagepullbackoff|errimagepull|createcontainer\w*error",
    re.IGNORECASE,
)
_DIAGNOSE_RE = re.compile(
    r"\bwhy\b|what'?s wrong|what is wrong|wrong with|unhealthy|diagnos|\bhealth|broken|crash|"
    r"failing|\bfail|problem|issue|troubleshoot|investigat|debug|not working|\bdown\b|"
    r"\berrors?\b|restarting|\boom"
)
_SELECTOR_RE = re.compile(
    r"\b([a-z0-9./-]+(?:!=|==|=)[a-z0-9._-]+(?:,[a-z0-9./-]+(?:!=|==|=)[a-z0-9._-]+)*)"
)
_GREP_RE = re.compile(
    r"\bgrep\s+['\"`]?([^'\"`\s]+)|"
    r"\b(?:containing|matching|mentioning)\s+['\"`]([^'\"`]+)['\"`]",
    re.IGNORECASE,
)
_RESTART_RE = re.compile(
    r"^(?:please\s+|pls\s+|(?:can|could|would) you\s+|now\s+)?(?:rollout\s+)?"
    r"(?:restart|bounce|redeploy)\b|"
    r"\b(?:restart|bounce|redeploy)\s+(?:the\s+)?(?:deployment|deploy)\b|\brollout restart\b"
)
_CACHE_NOTE_RE = re.compile(r"^\(Same call as earlier in this turn[^\n]*\)\n")
_HEADER_KEYS = ("NAME", "NAMESPACE", "STATUS", "TYPE", "REASON", "POD", "KIND")
_NOTE_PREFIXES = ("(", "…", "...", "#", "Note")
_HEALTHY_STATUS_RE = re.compile(r"^(?:Running|Completed|Succeeded|Active|Ready|Bound|True)$")
_HEADER_TOKEN_RE = re.compile(r"^[A-Z][A-Z0-9_()%/-]*(?: [A-Z][A-Z0-9_()%/-]*)?$")

_STREAM_BLOCKS: tuple[str, ...] = (
    "## Streaming check\n\nThis answer arrives in many small pieces, so the relay between the "
    "model and the browser can be measured end to end.\n\n",
    "```python\nfor pod in pods:\n    print(pod.metadata.name, pod.status.phase)\n```\n\n",
    "| Namespace | Pod | Status | Restarts |\n|---|---|---|---|\n"
    "| payments | payments-api-7c9f8 | CrashLoopBackOff | 7 |\n"
    "| web | frontend-5d4b9 | Running | 0 |\n\n",
    "- **payments-api** keeps restarting\n- `kube-system` looks healthy\n- nodes have headroom\n\n",
    "```yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments-api\n"
    "spec:\n  replicas: 3\n```\n\n",
    "> Tip: ask *why is payments-api crashlooping?* to see a multi-step diagnosis.\n\n",
)
_CHUNK_SIZES = (3, 4, 5, 2, 6, 4, 3)


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model makes; ``raw_arguments`` overrides the JSON text when set."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None

    def arguments_json(self) -> str:
        """The ``function.arguments`` string as it goes on the wire."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Decision:
    """The next assistant message: text and/or tool calls (``chunks`` fixes the streaming)."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    chunks: tuple[str, ...] | None = None

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def text_chunks(self) -> list[str]:
        """The content deltas to stream; they always join to ``text``."""
        if self.chunks is not None:
            return list(self.chunks)
        return split_text(self.text)


def split_text(text: str) -> list[str]:
    """Word-ish streaming pieces (a word with its trailing space; long words in slices)."""
    pieces: list[str] = []
    for match in re.finditer(r"\S+\s*|\s+", text):
        piece = match.group()
        while len(piece) > 12:
            pieces.append(piece[:8])
            piece = piece[8:]
        pieces.append(piece)
    return pieces


def split_arguments(arguments: str) -> list[str]:
    """Cut a JSON argument string into small fragments, deliberately mid-token."""
    sizes = (8, 13, 5, 9, 11, 6)
    fragments: list[str] = []
    position = 0
    index = 0
    while position < len(arguments):
        size = sizes[index % len(sizes)]
        fragments.append(arguments[position : position + size])
        position += size
        index += 1
    return fragments or [""]


def _chunk_block(block: str) -> tuple[str, ...]:
    pieces: list[str] = []
    position = 0
    index = 0
    while position < len(block):
        size = _CHUNK_SIZES[index % len(_CHUNK_SIZES)]
        pieces.append(block[position : position + size])
        position += size
        index += 1
    return tuple(pieces)


def _even_split(block: str, count: int) -> list[str]:
    """Exactly ``count`` non-empty pieces of ``block`` (needs ``len(block) >= count``)."""
    size, extra = divmod(len(block), count)
    pieces = []
    position = 0
    for index in range(count):
        length = size + (1 if index < extra else 0)
        pieces.append(block[position : position + length])
        position += length
    return pieces


_CHUNKED_BLOCKS = tuple(_chunk_block(block) for block in _STREAM_BLOCKS)


@lru_cache(maxsize=8)
def stream_chunks(count: int) -> tuple[str, ...]:
    """Exactly ``count`` small content chunks of well-formed Markdown (every block is closed)."""
    chunks: list[str] = []
    block = 0
    while len(chunks) < count:
        pieces = _CHUNKED_BLOCKS[block % len(_CHUNKED_BLOCKS)]
        remaining = count - len(chunks)
        if len(pieces) <= remaining:
            chunks.extend(pieces)
        else:
            chunks.extend(_even_split(_STREAM_BLOCKS[block % len(_STREAM_BLOCKS)], remaining))
        block += 1
    return tuple(chunks)


@dataclass
class _Step:
    """A tool call made earlier in this turn, with the result the engine sent back."""

    name: str
    arguments: dict[str, Any]
    result: str | None


@dataclass
class _Turn:
    """What the model reads from a request: the question, this turn's steps, the offered tools."""

    user_text: str
    raw_text: str
    steps: list[_Step]
    rounds: int
    last_role: str
    offered: dict[str, dict[str, Any]]
    namespaces: set[str]

    def offers(self, name: str) -> bool:
        return name in self.offered

    def called(self, name: str) -> bool:
        return any(step.name == name for step in self.steps)


def decide(messages: list[Message], tools: list[dict[str, Any]] | None) -> Decision:
    """The next assistant message for this conversation, given the tools offered."""
    turn = _read_turn(messages, tools or [])
    scripted = _scripted(turn)
    if scripted is not None:
        return scripted
    if turn.last_role == "user":
        return _first_step(turn)
    if turn.steps:
        follow_up = _follow_up(turn)
        if follow_up is not None:
            return follow_up
        return Decision(text=_answer(turn))
    return Decision(text=_help_text(turn))


def _content_text(content: Any) -> str:
    """Message content as text: a string or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        )
    return ""


def _read_turn(messages: list[Message], tools: list[dict[str, Any]]) -> _Turn:
    offered: dict[str, dict[str, Any]] = {}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            offered[function["name"]] = parameters if isinstance(parameters, dict) else {}
    start = 0
    user_text = ""
    for index, message in enumerate(messages):
        if message.get("role") == "user":
            start = index + 1
            user_text = _content_text(message.get("content"))
    raw_text = user_text.split(_CELL_CONTEXT, 1)[0]
    steps: list[_Step] = []
    by_id: dict[str, _Step] = {}
    rounds = 0
    for message in messages[start:]:
        if message.get("role") == "assistant" and message.get("tool_calls"):
            rounds += 1
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                step = _Step(
                    str(function.get("name", "")),
                    arguments if isinstance(arguments, dict) else {},
                    None,
                )
                steps.append(step)
                by_id[str(call.get("id"))] = step
        elif message.get("role") == "tool":
            step = by_id.get(str(message.get("tool_call_id")))
            if step is not None:
                step.result = _CACHE_NOTE_RE.sub("", unfence(_content_text(message.get("content"))))
    last_role = ""
    for message in reversed(messages):
        if message.get("role") not in ("system", "developer"):
            last_role = str(message.get("role"))
            break
    return _Turn(
        raw_text.strip(), raw_text, steps, rounds, last_role, offered, _known_namespaces(messages)
    )


def _known_namespaces(messages: list[Message]) -> set[str]:
    """Common namespaces plus every one the conversation's tool results have shown."""
    found = set(DEFAULT_NAMESPACES)
    tool_names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                tool_names[str(call.get("id"))] = str((call.get("function") or {}).get("name"))
        if message.get("role") == "tool":
            name = tool_names.get(str(message.get("tool_call_id")), "")
            found |= _namespaces_in(name, unfence(_content_text(message.get("content"))))
    return found


def _scripted(turn: _Turn) -> Decision | None:
    """The test/benchmark/demo scenarios documented in the module docstring."""
    text = turn.raw_text.lstrip()
    match = re.match(r"stream\s+(\d+)\s+chunks?\b", text, re.IGNORECASE)
    if match and turn.last_role == "user":
        count = min(int(match.group(1)), MAX_STREAM_CHUNKS)
        chunks = stream_chunks(count)
        return Decision(text="".join(chunks), chunks=chunks)
    match = re.match(r"say\s+(.*)\Z", text, re.IGNORECASE | re.DOTALL)
    if match and turn.last_role == "user":
        return Decision(text=match.group(1))
    match = re.match(
        r"call\s+tool\s+([A-Za-z0-9_.-]+)(?:\s+with\s+(.*))?\Z",
        text.rstrip(),
        re.IGNORECASE | re.DOTALL,
    )
    if not match:
        return None
    if turn.last_role != "user":
        return Decision(text=_scripted_answer(turn))
    if not turn.offered:
        return Decision(text="No tools were offered with this request, so I cannot call any.")
    name, raw = match.group(1), (match.group(2) or "").strip()
    if not raw:
        return Decision(tool_calls=(ToolCall(name, {}),))
    try:
        arguments = json.loads(raw)
    except ValueError:
        return Decision(tool_calls=(ToolCall(name, {}, raw_arguments=raw),))
    if isinstance(arguments, dict):
        return Decision(tool_calls=(ToolCall(name, arguments),))
    return Decision(tool_calls=(ToolCall(name, {}, raw_arguments=raw),))


def _scripted_answer(turn: _Turn) -> str:
    step = turn.steps[-1] if turn.steps else None
    if step is None or step.result is None:
        return "The tool call did not return a result."
    result = step.result.strip()
    first = _first_line(result)
    if _is_failure(result):
        return f"The `{step.name}` call failed: `{first}`"
    lines = len(result.splitlines())
    plural = "s" if lines != 1 else ""
    return f"The `{step.name}` call returned {lines} line{plural}; the first is `{first}`."


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = re.sub(r"\s+", " ", line).replace("`", "'")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _is_failure(result: str) -> bool:
    """A tool result that reports a failure: ``Error...`` first, or a short forbidden/not found."""
    lines = [line for line in result.strip().splitlines() if line.strip()]
    if not lines:
        return False
    if _FAILURE_RE.search(lines[0]):
        return True
    return len(lines) <= 3 and re.search(r"forbidden|not found", result, re.IGNORECASE) is not None


def _looks_like_pod(name: str) -> bool:
    """A generated pod name: ``<workload>-<hash>-<5 chars>`` or a StatefulSet's ``<name>-<n>``."""
    if "-" not in name or not _NAME_RE.match(name) or name in _NOT_NAMES:
        return False
    suffix = name.rsplit("-", 1)[1]
    if suffix.isdigit():
        return True
    return len(suffix) == 5 and (
        any(ch.isdigit() for ch in suffix) or set(suffix) <= _POD_SUFFIX_ALPHABET
    )


def _has(text: str, pattern: str) -> bool:
    return re.search(pattern, text) is not None


def _tokens(text: str) -> list[str]:
    return [token.strip(".:,;!?'\"`()").lower() for token in _TOKEN_RE.findall(text)]


def _namespaces_in(tool: str, result: str) -> set[str]:
    """Namespaces a tool result names: a namespace listing, a NAMESPACE column, ``namespace X``."""
    found: set[str] = set()
    table = _parse_table(result)
    if table is not None:
        column = "NAME" if tool == "list_namespaces" else "NAMESPACE"
        found |= {row.get(column, "") for row in table.rows}
    elif tool == "list_namespaces":
        found |= {line.split()[0].strip("-*•`") for line in result.splitlines() if line.split()}
    found |= {m.group(1) for m in re.finditer(r"\bnamespace[:= ]+['\"`]?([a-z][-a-z0-9]*)", result)}
    return {name for name in found if _NAME_RE.match(name)}


_EXPLICIT_NS = (
    re.compile(r"(?:\bnamespace|\bns|(?<!\w)-n|--namespace)[\s=:]+['\"`]?([a-z][-a-z0-9]*)"),
    re.compile(r"\bin\s+(?:the\s+)?['\"`]?([a-z][-a-z0-9]*)['\"`]?\s+(?:namespace|ns)\b"),
)
_IN_NS = re.compile(r"\b(?:in|from|within|inside)\s+(?:the\s+)?['\"`]?([a-z][-a-z0-9]*)")


def _namespace(turn: _Turn, *, from_prefixes: bool = True) -> str | None:
    """The namespace the user means: ``namespace NS``, ``-n NS``, ``in NS``, a known name, or
    (``from_prefixes``, to scope a listing) a known namespace a name starts with."""
    lowered = turn.user_text.lower()
    for pattern in _EXPLICIT_NS:
        for match in pattern.finditer(lowered):
            if match.group(1) not in _STOPWORDS:
                return match.group(1)
    for match in _IN_NS.finditer(lowered):
        candidate = match.group(1)
        if candidate in turn.namespaces:
            return candidate
        if candidate in _STOPWORDS or candidate in _VAGUE:
            continue
        if "-" not in candidate or candidate.split("-", 1)[0] not in turn.namespaces:
            return candidate
    tokens = _tokens(turn.user_text)
    for token in tokens:
        if token in turn.namespaces and token != "default":
            return token
    for token in tokens if from_prefixes else ():
        prefix = token.split("-", 1)[0]
        if "-" in token and prefix in turn.namespaces and prefix not in ("kube", "default"):
            return prefix
    return None


def _all_namespaces(text: str) -> bool:
    return _has(
        text,
        r"\ball\b|\bevery\b|across|cluster-wide|whole cluster|entire cluster|everywhere|"
        r"all[- ]namespaces|\bany namespace|\b(?:in|on) (?:the|my|this) cluster",
    )


def _name(turn: _Turn, *keywords: str) -> str | None:
    """The object name in the user's text: after a keyword, else the first dashed token.

    After a strong keyword (``pod X``, ``restart X``) any word is a name; after a weak one
    (``is X``, ``of X``) only a Kubernetes-looking name with a dash is.
    """
    lowered = turn.user_text.lower()
    namespace = _namespace(turn)
    for keyword in keywords:
        pattern = (
            rf"\b{keyword}\s+(?:(?:of|for|from|named|called|the|a|pod|deployment|deploy)\s+)*"
            r"['\"`]?([a-z0-9][-a-z0-9.]*[a-z0-9]|[a-z0-9])"
        )
        for match in re.finditer(pattern, lowered):
            candidate = match.group(1)
            if (
                candidate in _STOPWORDS
                or candidate in _NOT_NAMES
                or candidate in _VAGUE
                or candidate.isdigit()
                or candidate == namespace
                or (keyword not in _STRONG and "-" not in candidate)
            ):
                continue
            return candidate
    for token in _tokens(turn.user_text):
        if (
            "-" in token
            and _NAME_RE.match(token)
            and token not in _NOT_NAMES
            and token not in turn.namespaces
            and not token.startswith("-")
        ):
            return token
    return None


def _fit(turn: _Turn, name: str, arguments: dict[str, Any]) -> ToolCall:
    """Keep only arguments the offered schema declares; match enums case-insensitively."""
    schema = turn.offered.get(name, {})
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return ToolCall(name, arguments)
    fitted: dict[str, Any] = {}
    for key, value in arguments.items():
        spec = properties.get(key)
        if not isinstance(spec, dict):
            continue
        enum = spec.get("enum")
        if isinstance(enum, list) and value not in enum:
            wanted = str(value).lower().rstrip("s")
            matches = [v for v in enum if str(v).lower().rstrip("s") == wanted]
            if not matches:
                continue
            value = matches[0]
        fitted[key] = value
    return ToolCall(name, fitted)


def _scope(turn: _Turn, namespace: str | None) -> dict[str, Any]:
    if namespace:
        return {"namespace": namespace}
    if _all_namespaces(turn.user_text.lower()):
        return {"all_namespaces": True}
    return {}


def _first_step(turn: _Turn) -> Decision:
    """The first move for a fresh user message: tools by intent, or a text answer."""
    text = turn.user_text.lower()
    if not text:
        return Decision(text=_help_text(turn))
    namespace = _namespace(turn)
    named = _namespace(turn, from_prefixes=False)
    write = _write_intent(turn, text, named)
    if write is not None:
        return write
    if _has(text, r"\blogs?\b"):
        return _logs_step(turn, text, namespace, named)
    kinds = _kinds_step(turn, text)
    if kinds is not None:
        return kinds
    if _has(text, r"\b(?:describe|details?|inspect)\b") or _has(text, r"\bget pod\b"):
        name = _name(turn, "pod", "describe", "inspect", "about", "of")
        if name and turn.offers("get_pod"):
            return _calls(turn, [("get_pod", _in(named or _located_ns(turn, name), name=name))])
    nodes = _has(text, r"\bnodes?\b|memory pressure|disk pressure|pid pressure|capacity")
    if nodes and turn.offers("list_nodes") and (_DIAGNOSE_RE.search(text) or "pressure" in text):
        return _calls(turn, [("list_nodes", {})])
    if _DIAGNOSE_RE.search(text):
        return _diagnose_step(turn, text, namespace)
    calls = _read_calls(turn, text, namespace)
    if calls:
        return _calls(turn, calls)
    return Decision(text=_help_text(turn))


_KINDS: tuple[tuple[str, str], ...] = (
    (r"persistent ?volume ?claims?|\bpvcs?\b|volume claims?", "pvc"),
    (r"persistent ?volumes?|\bpvs?\b", "pv"),
    (r"\bingress(?:es)?\b", "ingress"),
    (r"\bcron ?jobs?\b", "cronjobs"),
    (r"\bjobs?\b", "jobs"),
    (r"\bconfig ?maps?\b", "configmaps"),
    (r"(?:\bcert-manager\s+)?\b(?:certificates?|certs?)\b", "certificates.cert-manager.io"),
    (r"\bhpas?\b|\bautoscalers?\b", "hpa"),
    (r"\bpdbs?\b|disruption budgets?", "pdb"),
    (r"storage ?class(?:es)?", "storageclasses"),
    (r"network ?polic(?:y|ies)", "networkpolicies"),
    (r"\bcrds?\b|custom resource definitions?", "crd"),
    (r"service ?accounts?", "serviceaccounts"),
)
"""Words for kinds without a tool of their own, and the kind argument list_resources takes."""
_KIND_TOOLS = frozenset(
    {"list_resources", "get_resource", "rollout_history", "top", "list_helm_releases",
     "list_contexts"}
)
_TOP_RE = re.compile(
    r"\btop\b|\bmost (?:memory|cpu|ram)\b|\b(?:memory|cpu|ram) (?:usage|use|hogs?)\b|"
    r"\b(?:uses?|using|consum\w*) (?:the )?most\b|\bresource usage\b|\bheaviest\b"
)
_ROLLOUT_RE = re.compile(r"\brollouts?\b|\brevisions?\b|\bwhat changed\b")
_NOT_OBJECT_NAMES = frozenset(
    {
        "ready", "pending", "failing", "failed", "fail", "status", "healthy", "installed",
        "exist", "exists", "working", "broken", "bound", "lost", "stuck", "did", "do", "does",
        "has", "have", "show", "list", "get", "describe", "about", "yaml", "summary",
    }
)


def _explicit_namespace(turn: _Turn, text: str) -> str | None:
    """A namespace the user names (``in NS``, ``namespace NS``, ``for NS`` of a known one)."""
    trimmed = replace(turn, user_text=text)
    for pattern in _EXPLICIT_NS:
        for match in pattern.finditer(text):
            if match.group(1) not in _STOPWORDS:
                return match.group(1)
    for match in re.finditer(r"\b(?:in|for|from)\s+(?:the\s+)?['\"`]?([a-z][-a-z0-9]*)", text):
        if match.group(1) in trimmed.namespaces:
            return match.group(1)
    return None


def _kinds_step(turn: _Turn, text: str) -> Decision | None:
    """Tools for any other kind: top, Helm releases, contexts, rollouts, list/get of a kind."""
    if _TOP_RE.search(text) and turn.offers("top"):
        args: dict[str, Any] = {"kind": "nodes" if _has(text, r"\bnodes?\b") else "pods"}
        if _has(text, r"\bcpu\b") and not _has(text, r"\bmemory|\bram\b"):
            args["sort_by"] = "cpu"
        namespace = _explicit_namespace(turn, text)
        if args["kind"] == "pods":
            args.update({"namespace": namespace} if namespace else {"all_namespaces": True})
        return _calls(turn, [("top", args)])
    helm = _has(text, r"\bhelm\b|\bcharts?\b") or (
        _has(text, r"\breleases?\b") and not _ROLLOUT_RE.search(text)
    )
    if helm and turn.offers("list_helm_releases"):
        namespace = _explicit_namespace(turn, text)
        return _calls(turn, [("list_helm_releases", {"namespace": namespace} if namespace else {})])
    if _has(text, r"\b(?:kube)?contexts?\b|\bkubeconfig\b") and turn.offers("list_contexts"):
        return _calls(turn, [("list_contexts", {})])
    if _ROLLOUT_RE.search(text) and turn.offers("rollout_history"):
        namespace = _explicit_namespace(turn, text)
        triggers = {"of", "for", "deployment", "deploy", "statefulset", "daemonset", "rollout"}
        skip = _STOPWORDS | _VAGUE | _NOT_OBJECT_NAMES | triggers | {"history", "revisions"}
        tokens = [t for t in _tokens(turn.user_text) if t != "the"]
        name = next(
            (
                after
                for before, after in zip(tokens, tokens[1:], strict=False)
                if before in triggers and after not in skip and after != namespace
                and _NAME_RE.match(after)
            ),
            None,
        )
        if name:
            args = {"name": name}
            for kind in ("statefulset", "daemonset"):
                if kind in text:
                    args["kind"] = kind
            if namespace:
                args["namespace"] = namespace
            return _calls(turn, [("rollout_history", args)])
    if not turn.offers("list_resources"):
        return None
    for pattern, kind in _KINDS:
        match = re.search(pattern, text)
        if match is None:
            continue
        rest = text[: match.start()] + " " + text[match.end() :]
        namespace = _explicit_namespace(turn, rest)
        named = re.match(
            r"\s+(?:named\s+|called\s+)?['\"`]?([a-z0-9][-a-z0-9.]*[a-z0-9])", text[match.end() :]
        )
        name = named.group(1) if named else None
        if name in _STOPWORDS or name in _VAGUE or name in _NOT_OBJECT_NAMES:
            name = None
        if name and turn.offers("get_resource"):
            args = {"kind": kind, "name": name}
            if namespace:
                args["namespace"] = namespace
            if _has(text, r"\byaml\b"):
                args["output"] = "yaml"
            return _calls(turn, [("get_resource", args)])
        scope: dict[str, Any] = {"namespace": namespace} if namespace else {"all_namespaces": True}
        return _calls(turn, [("list_resources", {"kind": kind, **scope})])
    return None


def _kinds_follow_up(turn: _Turn) -> Decision | None:
    """After a kind listing: describe a lone ingress; a failed Job's pods, then one's logs."""
    if turn.rounds >= MAX_TOOL_ROUNDS or turn.last_role != "tool":
        return None
    last = turn.steps[-1]
    if last.result is None or _is_failure(last.result):
        return None
    table = _parse_table(last.result)
    rows = table.rows if table is not None else []
    kind = str(last.arguments.get("kind", ""))
    if last.name == "list_resources" and kind == "ingress" and rows:
        wanted = last.arguments.get("namespace")
        lone = rows[0] if len(rows) == 1 else None
        row = next((r for r in rows if r.get("NAME") == wanted), lone)
        if row is not None and turn.offers("get_resource"):
            namespace = row.get("NAMESPACE") or last.arguments.get("namespace")
            args = {"kind": "ingress", "name": row.get("NAME", "")}
            if namespace:
                args["namespace"] = namespace
            return _calls(turn, [("get_resource", args)])
    if last.name == "list_resources" and kind == "jobs" and turn.offers("list_pods"):
        failed = next((r for r in rows if r.get("REASON")), None)
        if failed is not None:
            namespace = failed.get("NAMESPACE") or last.arguments.get("namespace") or "default"
            selector = f"job-name={failed.get('NAME')}"
            return _calls(
                turn, [("list_pods", {"namespace": namespace, "label_selector": selector})]
            )
    job_pods = "job-name=" in str(last.arguments.get("label_selector", ""))
    if last.name == "list_pods" and job_pods and rows and turn.offers("get_pod_logs"):
        pod = next((r for r in rows if _row_problem(r)), rows[0])
        args = {
            "name": pod.get("NAME", ""),
            "namespace": last.arguments.get("namespace", "default"),
            "tail_lines": 20,
        }
        return _calls(turn, [("get_pod_logs", args)])
    return None


def _calls(turn: _Turn, calls: list[tuple[str, dict[str, Any]]]) -> Decision:
    fitted = tuple(_fit(turn, name, args) for name, args in calls if turn.offers(name))
    if not fitted:
        return Decision(text=_help_text(turn))
    return Decision(tool_calls=fitted)


def _read_calls(
    turn: _Turn, text: str, namespace: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """Listing tools for every resource the message names (several run in parallel)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    scope = _scope(turn, namespace)
    if _has(text, r"\bnodes?\b|capacity"):
        calls.append(("list_nodes", {}))
    if _has(text, r"\b(?:pods?|containers?|running|workloads? running)\b"):
        args: dict[str, Any] = dict(scope)
        selector = _SELECTOR_RE.search(text)
        if selector:
            args["label_selector"] = selector.group(1)
        for phase in ("pending", "failed", "succeeded", "running"):
            if _has(text, rf"\b{phase}\b") and not (phase == "running" and "pods" not in text):
                args["field_selector"] = f"status.phase={phase.capitalize()}"
                break
        calls.append(("list_pods", args))
    if _has(text, r"\bevents?\b|\bwarnings?\b"):
        args = dict(scope)
        if _has(text, r"warning|problem|error|bad"):
            args["warnings_only"] = True
        calls.append(("list_events", args))
    if _has(text, r"\bdeploy|statefulsets?\b|daemonsets?\b|replicasets?\b|\bworkloads?\b"):
        args = dict(scope)
        for kind in ("StatefulSet", "DaemonSet"):
            if kind.lower() in text:
                args["kind"] = kind
                break
        calls.append(("list_deployments", args))
    if _has(text, r"\bservices?\b|\bsvcs?\b|endpoints?\b|ingress|load ?balancer"):
        calls.append(("list_services", dict(scope)))
    if _has(text, r"\bsecrets?\b"):
        calls.append(("list_secrets", {"namespace": namespace} if namespace else {}))
    if not calls and _has(text, r"\bnamespaces?\b|\bprojects?\b"):
        calls.append(("list_namespaces", {}))
    return [call for call in calls if turn.offers(call[0])][:3]


def _write_intent(turn: _Turn, text: str, namespace: str | None) -> Decision | None:
    """Restart, scale and delete: call the write tool, ask for a name, or explain read-only."""
    tool: str | None = None
    args: dict[str, Any] = {}
    if _RESTART_RE.search(text):
        tool = "restart_deployment"
        name = _name(turn, "deployment", "deploy", "restart", "bounce", "redeploy")
    elif _has(text, r"\bscale\b"):
        tool = "scale_deployment"
        name = _name(turn, "deployment", "deploy", "scale")
        count = re.search(r"\bto\s+(\d+)\b|\b(\d+)\s+replicas?\b", text) or re.search(
            r"\b(\d+)\b", text
        )
        if count is None:
            return Decision(
                text="How many replicas should it have? For example: *scale payments-api to 3*."
            )
        args["replicas"] = int(next(group for group in count.groups() if group is not None))
    elif _has(text, r"\b(?:delete|kill|remove|evict)\b") and _has(
        text, r"\bpods?\b|-[a-z0-9]{5}\b"
    ):
        tool = "delete_pod"
        name = _name(turn, "pod", "delete", "kill", "remove", "evict")
    else:
        return None
    what = {"restart_deployment": "deployment", "scale_deployment": "deployment"}.get(tool, "pod")
    if not turn.offers(tool):
        target = f" `{name}`" if name else ""
        return Decision(
            text=f"I can't do that: changing the {what}{target} needs the `{tool}` tool.\n\n"
            f"{READ_ONLY_HINT}\n\nUntil then I can show its current state, recent events and logs."
        )
    if not name:
        return Decision(
            text=f"Which {what} do you mean? Name it, e.g. *{_example(tool)}*, and I'll do it "
            "(you'll be asked to approve the change)."
        )
    return _calls(turn, [(tool, _in(namespace or _located_ns(turn, name), name=name, **args))])


def _example(tool: str) -> str:
    return {
        "restart_deployment": "restart deployment payments-api in payments",
        "scale_deployment": "scale payments-api in payments to 3",
        "delete_pod": "delete pod payments-api-7c9f8-x2x9k in payments",
    }.get(tool, tool)


def _located_ns(turn: _Turn, name: str) -> str | None:
    """Where earlier tool results listed ``name``; else None: the call then names no namespace
    and the tool looks the name up where the user can read (and says where it found it)."""
    for step in reversed(turn.steps):
        located = _locate(step.result or "", name)
        if located is not None and located[1]:
            return located[1]
    return None


def _in(namespace: str | None, **args: Any) -> dict[str, Any]:
    """A named object's arguments, with its namespace when one is known."""
    return {**args, "namespace": namespace} if namespace else args


def _logs_step(turn: _Turn, text: str, namespace: str | None, named: str | None) -> Decision:
    """Logs of a named pod; a listing first for a name that is no pod's (a workload's)."""
    name = _name(turn, "logs?", "pod", "of", "for", "from")
    if not turn.offers("get_pod_logs"):
        return Decision(text=_help_text(turn))
    if not name:
        if turn.offers("list_pods"):
            return _calls(turn, [("list_pods", _scope(turn, namespace))])
        return Decision(text="Whose logs? Name the pod, e.g. *logs of payments-api in payments*.")
    if not _looks_like_pod(name) and turn.offers("list_pods"):
        return _calls(turn, [("list_pods", _scope(turn, namespace))])
    args = _logs_args(turn, text, name, named or _located_ns(turn, name))
    return _calls(turn, [("get_pod_logs", args)])


def _logs_args(turn: _Turn, text: str, pod: str, namespace: str | None) -> dict[str, Any]:
    args: dict[str, Any] = _in(namespace, name=pod)
    tail = re.search(r"\b(?:last|tail)\s+(\d+)", text)
    args["tail_lines"] = int(tail.group(1)) if tail else 100
    if _has(text, r"previous|crash|last run|before (?:it|the) restart|crashed|died|oom"):
        args["previous"] = True
    container = re.search(r"\bcontainer\s+['\"`]?([a-z0-9][-a-z0-9]*)", text)
    if container:
        args["container"] = container.group(1)
    grep = _GREP_RE.search(turn.user_text)
    if grep:
        args["grep"] = grep.group(1) or grep.group(2)
    return args


def _diagnose_step(turn: _Turn, text: str, namespace: str | None) -> Decision:
    if turn.offers("diagnose_cluster"):
        return _calls(turn, [("diagnose_cluster", {"namespace": namespace} if namespace else {})])
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_pods", _scope(turn, namespace)),
        ("list_events", {**_scope(turn, namespace), "warnings_only": True}),
    ]
    return _calls(turn, calls)


def _follow_up(turn: _Turn) -> Decision | None:
    """A next tool after results came back: logs of a crashlooping pod, or of a resolved name."""
    if turn.steps and turn.steps[0].name in _KIND_TOOLS:
        return _kinds_follow_up(turn)
    if (
        turn.rounds >= MAX_TOOL_ROUNDS
        or turn.last_role != "tool"
        or not turn.offers("get_pod_logs")
        or turn.called("get_pod_logs")
    ):
        return None
    text = turn.user_text.lower()
    namespace = _namespace(turn)
    if _has(text, r"\blogs?\b"):
        wanted = _name(turn, "logs?", "pod", "of", "for", "from")
        for step in turn.steps:
            if step.name == "list_pods" and step.result and not _is_failure(step.result):
                pod = _find_pod(step.result, wanted, crashing=wanted is None)
                if pod is not None:
                    ns = _pod_namespace(turn, step, pod, namespace)
                    return _calls(turn, [("get_pod_logs", _logs_args(turn, text, pod[0], ns))])
        return None
    if not _DIAGNOSE_RE.search(text) or any(step.name in _WRITES for step in turn.steps):
        return None
    wanted = _name(turn, "pod", "is", "why")
    for step in turn.steps:
        if step.result and not _is_failure(step.result):
            pod = _find_pod(step.result, wanted, crashing=True) or _find_pod(
                step.result, None, crashing=True
            )
            if pod is not None:
                ns = _pod_namespace(turn, step, pod, namespace)
                args = _logs_args(turn, text, pod[0], ns)
                args["previous"] = True
                args["tail_lines"] = 50
                return _calls(turn, [("get_pod_logs", args)])
    return None


def _pod_namespace(
    turn: _Turn, step: _Step, pod: tuple[str, str | None], namespace: str | None
) -> str | None:
    """Where a pod found in a result lives: the result, the call, the question, earlier
    results; None leaves it to the tool's lookup."""
    return pod[1] or step.arguments.get("namespace") or namespace or _located_ns(turn, pod[0])


def _find_pod(result: str, wanted: str | None, *, crashing: bool) -> tuple[str, str | None] | None:
    """``(pod, namespace)`` of the first pod in a result that matches ``wanted`` / is crashing."""
    table = _parse_table(result)
    if table is not None and "NAME" in table.columns:
        for row in table.rows:
            line = " ".join(row.values())
            name = row.get("NAME", "").split("/")[-1]
            if wanted and not name.startswith(wanted):
                continue
            if crashing and not _CRASH_RE.search(line):
                continue
            if _NAME_RE.match(name):
                return name, row.get("NAMESPACE") or None
    for line in result.splitlines():
        if crashing and not _CRASH_RE.search(line):
            continue
        for raw in _TOKEN_RE.findall(line):
            token = raw.strip(".:,;'\"`()")
            namespace: str | None = None
            if token.lower().startswith("pod/"):
                token = token[4:]
            if token.count("/") == 1:
                namespace, token = token.split("/")
            if wanted and not token.startswith(wanted):
                continue
            prefixed = bool(wanted and token.startswith(wanted) and _NAME_RE.match(token))
            if prefixed or _looks_like_pod(token):
                return token, namespace
    return None


def _locate(result: str, name: str) -> tuple[str, str | None] | None:
    table = _parse_table(result)
    if table is not None and "NAME" in table.columns:
        for row in table.rows:
            if row.get("NAME", "").split("/")[-1] == name:
                return name, row.get("NAMESPACE") or None
    match = re.search(rf"\b([a-z0-9][-a-z0-9]*)/{re.escape(name)}\b", result)
    if match:
        return name, match.group(1)
    return None


@dataclass
class _Table:
    """A tool result read as a table: kubectl-style columns or a Markdown table."""

    columns: list[str]
    rows: list[dict[str, str]]
    preamble: list[str]
    notes: list[str]


def _split_cells(line: str, count: int, starts: list[int] | None = None) -> list[str]:
    """A row's cells: split on runs of spaces, or, when a cell is empty, at the header's column
    positions (kubectl-style tables are aligned)."""
    cells = [cell for cell in re.split(r"\s{2,}|\t", line.strip()) if cell != ""]
    if len(cells) == count:
        return cells
    if starts and len(starts) == count:
        bounds = [*starts[1:], len(line)]
        return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]
    if len(cells) > count:
        return [*cells[: count - 1], " ".join(cells[count - 1 :])]
    return line.split(None, count - 1)


def _column_starts(header: str, columns: list[str]) -> list[int] | None:
    """Where each column of an aligned header starts (None when the header is not aligned)."""
    starts, at = [], 0
    for column in columns:
        found = header.find(column, at)
        if found < 0:
            return None
        starts.append(found)
        at = found + len(column)
    return starts


def _parse_table(text: str) -> _Table | None:
    """Columns and rows of a tabular tool result, or None when it is not a table."""
    lines = [line.rstrip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        stripped = line.strip()
        divider = lines[index + 1] if index + 1 < len(lines) else ""
        if stripped.startswith("|") and re.match(r"^\s*\|[\s:|-]+\|\s*$", divider):
            columns = [cell.strip().upper() for cell in stripped.strip("|").split("|")]
            rows, notes = [], []
            for row_line in lines[index + 2 :]:
                if row_line.strip().startswith("|"):
                    cells = [
                        cell.strip().strip("`") for cell in row_line.strip().strip("|").split("|")
                    ]
                    rows.append(dict(zip(columns, cells)))
                elif row_line.strip():
                    notes.append(row_line.strip())
            return _Table(columns, rows, [l for l in lines[:index] if l.strip()], notes)
        tokens = re.split(r"\s{2,}|\t", stripped)
        if len(tokens) < 2 or len(tokens) == 1:
            tokens = stripped.split()
        if len(tokens) >= 2 and all(_HEADER_TOKEN_RE.match(token) for token in tokens) and any(
            key in tokens for key in _HEADER_KEYS
        ):
            columns = tokens
            starts = _column_starts(line, columns)
            rows, notes = [], []
            for row_line in lines[index + 1 :]:
                if not row_line.strip():
                    continue
                cells = _split_cells(row_line, len(columns), starts)
                if len(cells) < min(2, len(columns)) or row_line.strip().startswith(_NOTE_PREFIXES):
                    notes.append(row_line.strip())
                    continue
                rows.append(dict(zip(columns, cells)))
            return _Table(columns, rows, [l.strip() for l in lines[:index] if l.strip()], notes)
    return None


def _flags(line: str) -> bool:
    """A line that reports a problem (``0 NotReady`` and ``0 errors`` are not problems)."""
    return _PROBLEM_RE.search(re.sub(r"\b0\s+[\w-]+", "", line)) is not None


def _row_problem(row: dict[str, str], *, with_reason: bool = False) -> str | None:
    """Why a table row needs attention (status, readiness, restarts, warnings), if it does.

    ``with_reason``: the table's REASON column says it (kchat's listings of any kind).
    """
    if with_reason:
        return row.get("REASON") or None
    status = row.get("STATUS", "") or row.get("PHASE", "")
    reasons: list[str] = []
    if status and not _HEALTHY_STATUS_RE.match(status):
        reasons.append(status)
    ready = row.get("READY", "")
    if "/" in ready and status in ("Running", ""):
        have, _, want = ready.partition("/")
        if have.isdigit() and want.isdigit() and int(have) < int(want):
            reasons.append(f"{ready} ready")
    restarts = re.match(r"\d+", row.get("RESTARTS", ""))
    if restarts and int(restarts.group()) >= 3:
        reasons.append(f"{restarts.group()} restarts")
    if row.get("TYPE") == "Warning":
        reasons.append(f"Warning {row.get('REASON', '')}".strip())
    for key in ("CONDITIONS", "PRESSURE", "MESSAGE", "REASON"):
        value = row.get(key, "")
        if re.search(r"(?:Memory|Disk|PID)Pressure(?!\s*[=:]\s*False)", value):
            reasons.append(value)
    if not reasons and not status and not ready and _PROBLEM_RE.search(" ".join(row.values())):
        reasons.append("flagged")
    return ", ".join(dict.fromkeys(reasons)) or None


def _analyse_described(step: _Step, result: str, findings: _Findings) -> None:
    """One object described (or a rollout history): its problem lines, then the text itself."""
    lines = [line for line in result.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Needs attention:", "Changed from")) or "<error:" in line:
            findings.bullets.append(_code(line.strip(), 300))
            findings.evidence.append(line)
            findings.problems += line.startswith("Needs attention:") or "<error:" in line
    _, marker, tail = result.partition("\nChanged from")
    changes = tail.splitlines()[1:] if marker else []
    findings.bullets.extend(_code(line.strip(), 300) for line in changes[:8])
    shown = lines[:40]
    body = "\n".join(line.replace("```", "'''")[:240] for line in shown)
    more = f"\n\n…and {len(lines) - len(shown)} more lines." if len(lines) > len(shown) else ""
    findings.quotes.append(f"```text\n{body}\n```{more}")


def _code(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text.strip()).replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def _row_label(row: dict[str, str]) -> str:
    name = row.get("NAME") or row.get("OBJECT") or row.get("POD") or next(iter(row.values()), "")
    namespace = row.get("NAMESPACE")
    return f"{namespace}/{name}" if namespace else name


def _markdown_table(table: _Table, rows: list[dict[str, str]]) -> str:
    columns = table.columns[:7]
    header = "| " + " | ".join(column.title() for column in columns) + " |"
    divider = "|" + "---|" * len(columns)
    body = [
        "| " + " | ".join(row.get(column, "").replace("|", "\\|") for column in columns) + " |"
        for row in rows
    ]
    return "\n".join([header, divider, *body])


@dataclass
class _Findings:
    """What the answer says: bullets quoting the results, an optional table and a suggestion."""

    bullets: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    log_evidence: list[str] = field(default_factory=list)
    """Log lines read this turn: the most direct evidence, so advice looks at them first."""
    problems: int = 0


_TITLES = {
    "list_pods": "Pods",
    "get_pod": "Pod details",
    "get_pod_logs": "Pod logs",
    "list_events": "Events",
    "list_nodes": "Nodes",
    "list_deployments": "Workloads",
    "list_services": "Services",
    "list_namespaces": "Namespaces",
    "list_secrets": "Secrets",
    "diagnose_cluster": "Cluster health",
    "rollout_history": "Rollout history",
    "top": "Resource usage",
    "list_helm_releases": "Helm releases",
    "list_contexts": "Kubeconfig contexts",
    "delete_pod": "Delete pod",
    "scale_deployment": "Scale deployment",
    "restart_deployment": "Restart deployment",
}
_WRITES = ("delete_pod", "scale_deployment", "restart_deployment")


def _title(turn: _Turn) -> str:
    text = turn.user_text.lower()
    names = [step.name for step in turn.steps]
    scope_ns = turn.steps[0].arguments.get("namespace") if turn.steps else None
    where = f" in `{scope_ns}`" if scope_ns else ""
    if any(name in _WRITES for name in names):
        return _TITLES[next(name for name in names if name in _WRITES)]
    if names and names[0] in ("list_resources", "get_resource"):
        first_step = turn.steps[0]
        subject = first_step.arguments.get("name") or first_step.arguments.get("kind", "")
        return f"`{subject}`{where}" if subject else f"Resources{where}"
    if names and names[0] in _KIND_TOOLS:
        subject = turn.steps[0].arguments.get("name")
        return _TITLES[names[0]] + (f" of `{subject}`" if subject else where)
    if _DIAGNOSE_RE.search(text):
        subject = _name(turn, "is", "pod", "why")
        if subject and _has(text, r"crash|restart|fail|oom|down|error"):
            return f"Why `{subject}` is failing"
        return f"Cluster health{where}"
    first = names[0] if names else ""
    if "get_pod_logs" in names:
        pod = next(step.arguments.get("name") for step in turn.steps if step.name == "get_pod_logs")
        return f"Logs of `{pod}`" if pod else "Pod logs"
    if first in ("list_pods", "list_deployments", "list_services", "list_events", "list_secrets"):
        everywhere = any(step.arguments.get("all_namespaces") for step in turn.steps)
        scope = where or (" in all namespaces" if everywhere else "")
        return f"{_TITLES[first]}{scope}"
    return _TITLES.get(first, "Results")


_FINDING = re.compile(r"^\d+\. (.+)$")
_NAMED_ONLY = re.compile(r"^([A-Z][\w ]+) \(\d+\): (.+)$")


def _with_cause(header: str, evidence: list[str]) -> str:
    """A full finding's header with the line that says why: the crash log, else the event."""
    logs = [line.split("): ", 1)[1] for line in evidence if line.startswith("Log of ")]
    events = [line.split("): ", 1)[1] for line in evidence if line.startswith("Event on ")]
    said = [line.removeprefix("Evidence: ") for line in evidence if line.startswith("Evidence: ")]
    cause = (logs[-1:] or events[:1] or said[:1] or [""])[0]
    return f"{header}: {cause}" if cause else header


def _diagnosis(result: str, findings: _Findings) -> bool:
    """Each finding of a diagnosis as one bullet (its first line, the cause on short ones),
    then those the tool could only name: a person reads every broken object in the answer."""
    lines = result.splitlines()
    numbered: list[str] = []
    evidence: list[list[str]] = []
    for line in lines:
        if match := _FINDING.match(line):
            numbered.append(match.group(1))
            evidence.append([])
        elif evidence and line.startswith("   "):
            evidence[-1].append(line.strip())
    named = [m.groups() for line in lines if (m := _NAMED_ONLY.match(line))]
    if not numbered:
        return False
    numbered = [_with_cause(line, said) for line, said in zip(numbered, evidence, strict=True)]
    findings.bullets.append(_code(lines[1] if lines[0].startswith("Context:") else lines[0], 400))
    problems = [line for line in numbered if not line.startswith("Warning events:")]
    findings.problems += len(problems) + len(named)
    findings.evidence.extend(problems)
    findings.bullets.extend(_code(line, 600) for line in problems[:30])
    findings.bullets.extend(
        f"{category}: {_code(keys, 300)}"
        for category, keys in named
        if category != "Warning events"
    )
    return True


def _analyse(step: _Step, findings: _Findings, *, show_tables: bool) -> None:
    """Add one tool result's key facts to ``findings``."""
    result = (step.result or "").strip()
    if step.result is None:
        findings.failures.append(f"`{step.name}` returned no result.")
        return
    if _is_failure(result):
        findings.failures.append(f"`{step.name}` failed: {_code(_first_line(result, 300), 300)}")
        findings.evidence.append(result)
        return
    if step.name in _WRITES:
        findings.bullets.append(f"`{step.name}`: {_code(_first_line(result, 300), 300)}")
        return
    if step.name in ("get_resource", "rollout_history"):
        _analyse_described(step, result, findings)
        return
    if step.name == "get_pod_logs":
        lines = [line for line in result.splitlines() if line.strip()]
        flagged = [line for line in lines if _flags(line)]
        which = "previous container's" if step.arguments.get("previous") else "container's"
        target = step.arguments.get("name", "the pod")
        shown = (flagged[-6:] if flagged else lines[-6:])
        if shown:
            label = "error lines" if flagged else "last lines"
            findings.quotes.append(
                f"The {which} logs of `{target}` ({len(lines)} lines), {label}:\n\n```text\n"
                + "\n".join(line.replace("```", "'''")[:240] for line in shown)
                + "\n```"
            )
        else:
            findings.bullets.append(f"The {which} logs of `{target}` are empty.")
        findings.evidence.extend(flagged or shown)
        findings.log_evidence.extend(flagged or shown)
        findings.problems += len(flagged)
        return
    table = _parse_table(result)
    if table is not None and table.rows:
        with_reason = step.name in _KIND_TOOLS
        problems = [
            (row, why) for row in table.rows if (why := _row_problem(row, with_reason=with_reason))
        ]
        findings.problems += len(problems)
        noun = _TITLES.get(step.name, "rows").lower().rstrip("s")
        if not step.name.startswith("list_"):
            noun = "row"
        count = len(table.rows)
        summary = f"**{count} {noun}{'s' if count != 1 else ''}**"
        if "NAMESPACE" in table.columns:
            spaces = len({row.get("NAMESPACE") for row in table.rows})
            summary += f" in {spaces} namespace{'s' if spaces != 1 else ''}"
        status_column = next((c for c in ("STATUS", "PHASE", "TYPE") if c in table.columns), None)
        if status_column:
            counts = Counter(
                row[status_column] for row in table.rows if row.get(status_column)
            )
            summary += ": " + ", ".join(f"{n} {status}" for status, n in counts.most_common(6))
        findings.bullets.append(summary + ".")
        for row, why in problems[:8]:
            detail = row.get("MESSAGE")
            extra = f" ({_code(detail, 120)})" if detail and detail != why else ""
            findings.bullets.append(f"`{_row_label(row)}`: **{why}**{extra}")
            findings.evidence.append(" ".join(row.values()))
        if len(problems) > 8:
            findings.bullets.append(f"…and {len(problems) - 8} more that need attention.")
        if show_tables:
            flagged_rows = [row for row, _ in problems]
            ordered = flagged_rows + [row for row in table.rows if row not in flagged_rows]
            shown = ordered[:12]
            rendered = _markdown_table(table, shown)
            if len(table.rows) > len(shown):
                rendered += f"\n\n…and {len(table.rows) - len(shown)} more."
            findings.tables.append(rendered)
        for note in (table.preamble + table.notes)[:2]:
            if re.search(r"truncat|more|narrow|showing", note, re.IGNORECASE):
                findings.bullets.append(f"Note: {note}")
        return
    if step.name == "diagnose_cluster" and _diagnosis(result, findings):
        return
    lines = [line.strip() for line in result.splitlines() if line.strip()]
    flagged = [line for line in lines if _flags(line)]
    findings.problems += len(flagged)
    findings.evidence.extend(flagged)
    for line in flagged[:8]:
        findings.bullets.append(_code(line.lstrip("-*• "), 200))
    if len(flagged) > 8:
        findings.bullets.append(f"…and {len(flagged) - 8} more lines like these.")
    if not flagged:
        head = lines[:6]
        for line in head:
            findings.bullets.append(_code(line.lstrip("-*• "), 200))
        if len(lines) > len(head):
            findings.bullets.append(f"…{len(lines) - len(head)} more lines.")


_FAILURE_ADVICE: tuple[tuple[str, str], ...] = (
    (r"the user denied|denied this change",
     "Nothing was changed, as you declined. Ask again if you change your mind."),
    (r"read-only mode|changes to the cluster are disabled", READ_ONLY_HINT),
    (r"forbidden|unauthorized|access denied|cannot (?:list|get)",
     "Your Kubernetes credentials are not allowed to read this (RBAC). Ask a cluster admin for "
     "access, or try a namespace you can read."),
    (r"not found|notfound",
     "Check the spelling: ask me to *list namespaces* or *list pods* to see what exists."),
    (r"did not finish within|timed? ?out|unreachable",
     "The cluster answered slowly or not at all; try a narrower question (one namespace)."),
)
"""Advice for a tool call that failed, matched against the failures only (an ACME
``unauthorized`` inside a certificate's message is not an RBAC problem)."""

_KIND_SUGGESTIONS: tuple[tuple[str, str], ...] = (
    (r'storageclass[^"]*"[^"]+" not found',
     ("The claim asks for a StorageClass that does not exist: create it, or set the claim's "
     "storageClassName to one of `list_resources kind=storageclasses`.")),
    (r"lost its persistentvolume|claimlost",
     "The claim's volume is gone and its data with it: restore from a backup into a new claim."),
    (r"password authentication failed|authentication failed for user",
     ("The job's database login is rejected: fix the password in the Secret it uses, then run "
     "the job again.")),
    (r"acme|order is in \"invalid\"",
     ("The ACME order failed (the CA refused the challenge): check the domain's DNS or HTTP-01 "
     "challenge and the issuer; cert-manager retries by itself.")),
    (r'endpoints "[^"]+" not found',
     "The ingress routes to a Service that does not exist: create it or fix the backend."),
    (r"does not serve the metrics api",
     ("Install metrics-server to see live usage; until then requests and limits show what pods "
     "reserve.")),
    (r"(?:memory|cpu) \d+% of its limit",
     ("A pod runs close to its limit: at the memory limit it is OOM-killed, at the CPU limit "
     "throttled. Raise the limit, or find out why its use grows.")),
    (r"revision \d+ (?:failed|pending)",
     ("The last Helm upgrade did not finish: `helm history` shows why, `helm rollback` returns to "
     "the last deployed revision.")),
)
"""Advice for causes in objects other than pods (claims, jobs, certificates, ingresses, Helm):
first when the question was about such a kind, after the pod causes otherwise."""

_SUGGESTIONS: tuple[tuple[str, str], ...] = (
    (r"oomkilled|out of memory",
     "The container runs out of memory: raise its memory limit or fix the leak, then restart "
     "the deployment."),
    (r"imagepullbackoff|errimagepull|manifest unknown|pull access denied",
     "The image can't be pulled: check the image name and tag, and the image pull secret."),
    (r"connection refused|econnrefused|no such host|could not connect|dial tcp|"
     r"name or service not known",
     "The app can't reach a dependency at startup: check that the service it connects to exists "
     "and is running, and that its host/port settings are right."),
    (r"(?:env|environment|variable|config|setting|key)\b.*(?:missing|not set|required|undefined)|"
     r"keyerror|missing required",
     "The app is missing configuration: compare its environment, ConfigMap and Secret with what "
     "it expects."),
    (r"permission denied|read-only file system",
     "The container lacks file permissions: check its securityContext and volume mounts."),
    (r"crashloopbackoff|back-?off|exit code|exception|fatal|panic",
     "The container keeps exiting: read its previous logs, fix the cause, then restart the "
     "deployment (needs `--KChat.read_only=False`)."),
    (r"insufficient|unschedulable|failedscheduling|didn't match|pending",
     "Pods can't be scheduled: the nodes lack free CPU/memory or don't match the pod's selectors; "
     "free capacity or add nodes."),
    (r"(?:memory|disk|pid)pressure",
     "A node is under resource pressure: move or shrink workloads on it, or add capacity."),
    (r"notready|not ready",
     "Check why the node or pod is not ready: its conditions and recent events tell."),
    (r"\berror\b|\bfailed\b|restarts",
     "Look at the failing items first; ask me for their logs or events to dig deeper."),
)


def _suggestion(findings: _Findings, turn: _Turn) -> str:
    """Advice for the most specific cause the results show (failures first, then causes)."""
    failures = "\n".join(findings.failures)
    for pattern, advice in _FAILURE_ADVICE:
        if re.search(pattern, failures, re.IGNORECASE):
            return advice
    haystack = "\n".join(findings.failures + findings.evidence)
    about_kinds = bool(turn.steps) and turn.steps[0].name in _KIND_TOOLS
    ordered = (
        _KIND_SUGGESTIONS + _SUGGESTIONS if about_kinds else _SUGGESTIONS + _KIND_SUGGESTIONS
    )
    for text in ("\n".join(findings.log_evidence), haystack):
        for pattern, advice in ordered:
            if text and re.search(pattern, text, re.IGNORECASE):
                return advice
    if any(step.name in _WRITES for step in turn.steps):
        return "Ask me for the pods in a moment to check that the change rolled out."
    if findings.problems:
        return "Look at the flagged items first; ask me for their logs or events to dig deeper."
    names = {step.name for step in turn.steps}
    if "list_pods" in names and turn.offers("diagnose_cluster"):
        return (
            "Nothing looks wrong here. Ask *what's wrong in the cluster?* for a full health check."
        )
    return "Nothing here needs attention. Ask a follow-up to dig into any of it."


def _answer(turn: _Turn) -> str:
    """The final Markdown answer built from this turn's tool results."""
    findings = _Findings()
    text = turn.user_text.lower()
    listing = not _DIAGNOSE_RE.search(text) or bool(
        turn.steps and turn.steps[0].name in _KIND_TOOLS
    )
    read_logs = turn.called("get_pod_logs")
    for step in turn.steps:
        if read_logs and step.name == "list_pods" and not _DIAGNOSE_RE.search(text):
            continue
        _analyse(step, findings, show_tables=listing and step.name != "list_events")
    if _has(text, r"\blogs?\b") and not turn.called("get_pod_logs"):
        wanted = _name(turn, "logs?", "pod", "of", "for", "from")
        what = f"a pod matching `{wanted}`" if wanted else "a pod to read logs from"
        findings.failures.append(f"I could not find {what} in the listing; pick one from it.")
    parts = [f"### {_title(turn)}"]
    if findings.failures and not (findings.bullets or findings.quotes or findings.tables):
        parts.append("I couldn't get the information:")
    for failure in findings.failures:
        parts.append(f"- {failure}")
    if any(step.name in _WRITES for step in turn.steps) and not findings.failures:
        parts.append("Done. The change was applied after your approval:")
    if findings.bullets:
        label = "**Key findings**" if findings.problems else None
        if label:
            parts.append(label)
        parts.append("\n".join(f"- {bullet}" for bullet in findings.bullets))
    parts.extend(findings.tables)
    parts.extend(findings.quotes)
    parts.append(f"**Suggestion:** {_suggestion(findings, turn)}")
    if turn.rounds >= MAX_TOOL_ROUNDS and findings.problems:
        parts.append("_I stopped after a few tool calls; ask me to look further._")
    return "\n\n".join(part for part in parts if part)


def _help_text(turn: _Turn) -> str:
    """What the demo model can answer, given the tools this request offers."""
    if not turn.offered:
        if turn.steps:
            return _answer(turn)
        return (
            "I'm the kchat demo model. No cluster tools were offered with this request, so I can "
            "only chat. Ask me about pods, logs, events, nodes or deployments when tools are "
            "enabled."
        )
    examples = [
        ("list_pods", "*list all pods* or *pods in payments*"),
        ("diagnose_cluster",
         "*what's wrong in the cluster?* or *why is payments-api crashlooping?*"),
        ("get_pod_logs", "*logs of payments-api in payments*"),
        ("list_events", "*show warning events*"),
        ("list_nodes", "*any nodes with memory pressure?*"),
        ("list_deployments", "*list deployments in payments*"),
        ("list_services", "*services in web*"),
        ("list_namespaces", "*which namespaces exist?*"),
        ("list_resources", "*which PVCs are pending and why?* or *is my certificate ready?*"),
        ("get_resource", "*what's in configmap app-config?*"),
        ("rollout_history", "*what changed in the last rollout of checkout?*"),
        ("top", "*which pods use the most memory?*"),
        ("list_helm_releases", "*what Helm releases are installed?*"),
        ("restart_deployment", "*restart deployment payments-api in payments*"),
    ]
    lines = [f"- {example}" for name, example in examples if turn.offers(name)]
    body = "\n".join(lines) if lines else "- " + ", ".join(f"`{name}`" for name in turn.offered)
    text = (
        "Hi! I'm the kchat demo model: I answer questions about your Kubernetes cluster by "
        f"calling read-only tools and summarising what they return. Try:\n\n{body}"
    )
    if not any(turn.offers(name) for name in _WRITES):
        text += "\n\nChanges (restart, scale, delete) are disabled in read-only mode."
    return text
