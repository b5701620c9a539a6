"""The model side: any OpenAI-compatible endpoint, streamed into text, reasoning and a completion.

``client`` (the ``ModelClient``), ``wire`` (SSE and msgspec chunk types), ``clock`` (read
deadlines), ``assemble`` (one response put together), ``reasoning`` (``<think>`` blocks),
``repetition`` (the runaway guard), ``window`` (context sizes endpoints report) and ``errors``
(``ModelError`` codes a user can act on).
"""

from .assemble import REPETITION, Completion, ToolCallRequest
from .client import ModelClient, TokenParameter
from .errors import ModelError
from .reasoning import Reasoning

__all__ = [
    "REPETITION",
    "Completion",
    "ModelClient",
    "ModelError",
    "Reasoning",
    "TokenParameter",
    "ToolCallRequest",
]
