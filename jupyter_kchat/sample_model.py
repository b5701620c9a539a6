"""``python -m jupyter_kchat.sample_model``: the scripted demo model on an OpenAI-compatible URL.

Prints ``kchat demo model: http://HOST:PORT/v1`` once it listens (``--port 0`` picks a free port,
so read the port from that line) and serves until SIGINT or SIGTERM. Point any OpenAI client at
the URL; see ``jupyter_kchat.sample.demo_model`` for what the model answers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .sample.lifecycle import serve_until_signalled
from .sample.model_server import DEFAULT_MODEL, ModelServer

BANNER = "kchat demo model: "


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_kchat.sample_model",
        description="Serve kchat's scripted demo model over the OpenAI chat-completions API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--api-key", default=None, help="require this Bearer key (default: none)")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model id listed by /v1/models")
    return parser.parse_args(argv)


async def serve(options: argparse.Namespace) -> None:
    """Serve until SIGINT/SIGTERM, then close connections cleanly."""
    server = ModelServer(options.api_key, options.chunk_delay, model=options.model)
    url = await server.start(host=options.host, port=options.port)
    print(f"{BANNER}{url}", flush=True)
    await serve_until_signalled(server.stop)


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
