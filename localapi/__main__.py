"""``python -m localapi --host 127.0.0.1 --port 3000 [--template template.yaml]``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from localapi.server import LocalApi, StartupError

READY_MESSAGE = "Stateless Auth local API listening on {url}"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localapi",
        description=(
            "Serve the SAM template's HTTP API locally: API Gateway HTTP API behaviour, the "
            "functions in this process (SQS event source mappings polled in it too), DynamoDB/"
            "Secrets Manager/SSM/SQS/SES in an embedded moto, sent mails at /_localapi/mail."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port to bind; 0 picks a free one")
    parser.add_argument("--template", default="template.yaml", help="SAM template to serve")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    api = LocalApi(arguments.template, host=arguments.host, port=arguments.port)
    try:
        api.start()
    except StartupError as exc:
        sys.stderr.write(f"localapi: cannot start: {exc}\n")
        return 1
    try:
        sys.stdout.write(READY_MESSAGE.format(url=api.url) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            if not api.serving:
                sys.stderr.write("localapi: the HTTP server stopped unexpectedly\n")
                return 1
    finally:
        api.close()
    sys.stderr.write("[localapi] stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
