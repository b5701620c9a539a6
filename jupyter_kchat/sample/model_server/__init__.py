"""A local OpenAI-compatible chat-completions server that serves the scripted demo model.

kchat is tested, benchmarked and demonstrated offline: the real ``openai`` client (pointed at
``http://127.0.0.1:PORT/v1``) talks to this Tornado server, which speaks OpenAI's wire format
exactly (``chat.completion`` objects, ``chat.completion.chunk`` server-sent events, tool-call
argument fragments, the usage chunk, ``data: [DONE]``, error bodies) and answers with
``demo_model.decide``. Faults can be queued to rehearse what real endpoints do wrong, quirks set
to behave like a particular real server (``model_faults``), and every chat-completions request
is recorded so tests can assert on what the client sent.

Routes: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``, llama.cpp's
``GET /props`` and Ollama's ``POST /api/show`` and ``GET /api/ps`` (in those flavours), and for
out-of-process control ``POST /_control/faults`` (a JSON list of faults), ``GET /_control/faults``,
``GET``/``POST /_control/quirks``, ``GET /_control/requests`` (the recorded bodies; ``?detail=1``
adds status and disconnects) and ``POST /_control/reset``.

Like OpenAI, requests are validated: ``model`` and a non-empty ``messages`` list are required, and
every assistant ``tool_calls`` entry must be answered by ``tool`` messages right after it (turn
that off with ``strict=False`` for endpoints that are laxer).

Modules: ``server`` (the ``ModelServer``: routes, start/stop, records, waits), ``handlers``
(shared JSON base, unknown URLs, ``/v1/models``), ``completions`` (the chat-completions route,
faults applied), ``reply`` (what the demo answers, in tokens and limits), ``wire`` (the plain and
SSE bodies), ``errors`` (OpenAI's error bodies and request checks), ``recording``, ``endpoints``
(llama.cpp's and Ollama's), ``control`` (``/_control/*``).
"""

from ..model_faults import Fault, Quirks
from .recording import RecordedRequest
from .server import DEFAULT_MODEL, ModelServer

__all__ = ["DEFAULT_MODEL", "Fault", "ModelServer", "Quirks", "RecordedRequest"]
