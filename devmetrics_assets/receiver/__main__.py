"""`python -m devmetrics_assets.receiver --sources sources.yaml --port 8787`: serve the webhook receiver.

Listens on 127.0.0.1 by default: put it behind a TLS-terminating reverse proxy (or pass --host 0.0.0.0
on a trusted network). Landing files go to DEVMETRICS_LANDING / <DEVMETRICS_HOME>/landing, where the
Bronze assets read them.

Slow or stalled clients are cut off: the request head (request line and headers) must arrive within
--header-timeout seconds of connecting (or of the first byte of the next request on a keep-alive
connection), else the connection is closed; the body within --body-timeout seconds of the head, else
the answer is 408 and the connection is closed. Idle keep-alive connections close after 5 s (uvicorn).
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from devmetrics_assets.config import ConfigError, Settings
from devmetrics_assets.receiver.app import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    ReceiverConfigError,
    create_app,
)
from devmetrics_assets.receiver.server import DEFAULT_HEADER_TIMEOUT, server_config
from devmetrics_assets.sources.registry import load_sources


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devmetrics_assets.receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", help="sources.yaml (default: $DEVMETRICS_SOURCES or "
                                          "<DEVMETRICS_HOME>/sources.yaml)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="default body limit per delivery (a source's options.max_body_bytes wins)")
    parser.add_argument("--header-timeout", type=_seconds, default=DEFAULT_HEADER_TIMEOUT,
                        help="seconds for a client to send the request line and headers; the connection "
                             f"is closed otherwise (default {DEFAULT_HEADER_TIMEOUT:g})")
    parser.add_argument("--body-timeout", type=_seconds, default=DEFAULT_BODY_TIMEOUT,
                        help="seconds for the whole body to arrive after the headers; answered 408 "
                             f"otherwise (default {DEFAULT_BODY_TIMEOUT:g})")
    parser.add_argument("--access-log", action="store_true", help="log every request (off: refusals only)")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    try:
        app = create_app(load_sources(args.sources, settings), settings=settings,
                         max_body_bytes=args.max_body_bytes, body_timeout=args.body_timeout)
    except (ConfigError, ReceiverConfigError) as exc:
        print(f"receiver: {exc}", file=sys.stderr)
        return 2
    for name, endpoint in app.state.endpoints.items():
        logging.getLogger("devmetrics.receiver").info(
            "POST /webhooks/%s/%s -> %s", endpoint.spec.provider, name, endpoint.spec.landing_dir)
    config = server_config(app, host=args.host, port=args.port, header_timeout=args.header_timeout,
                           access_log=args.access_log, log_level=args.log_level, timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 3  # 3: what uvicorn.run exits with when it cannot start (port taken)


if __name__ == "__main__":
    sys.exit(main())
