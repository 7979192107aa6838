"""`python -m tyler.testing`: run the fake model server as its own process.

Prints one line, the server's URL, then serves until SIGINT/SIGTERM. Script it with
`RemoteFakeServer(url)` or the `/_fake/` endpoints; `--chunks N --chunk-delay S` set a default
reply of N text events (for benchmarks that need long replies without a scripting round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .server import FakeModelServer
from .turns import Turn


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tyler.testing", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--chunks", type=int, default=None, help="default reply: this many text events")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between events of the default reply")
    parser.add_argument("--text", default=None, help="default reply text (split by words)")
    parser.add_argument("--max-recorded", type=int, default=10_000, help="keep only the last N requests")
    parser.add_argument("--api-key", default=None, help="require this API key")
    parser.add_argument("--uvloop", action="store_true",
                        help="serve on uvloop (the uvloop extra): less CPU per paced event, for benchmarks "
                        "that need tens of thousands of events/s on schedule")
    return parser.parse_args(argv)


def default_turn_from_args(args: argparse.Namespace) -> Turn | None:
    if args.chunks is not None:
        if args.chunks < 0:
            raise SystemExit("--chunks must be >= 0")
        return Turn(chunks=[f"tok{i} " for i in range(args.chunks)], delay=args.chunk_delay)
    if args.text is not None:
        return Turn(text=args.text, delay=args.chunk_delay)
    return None


async def serve(args: argparse.Namespace) -> None:
    server = FakeModelServer(
        args.host,
        args.port,
        api_key=args.api_key,
        max_recorded=args.max_recorded,
        default_turn=default_turn_from_args(args),
    )
    await server.start_async_in_loop()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(server.url, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close_async_in_loop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    factory = None
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            raise SystemExit("--uvloop needs uvloop: pip install 'tyler-stream[uvloop]'") from None
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(args))


if __name__ == "__main__":
    main()
