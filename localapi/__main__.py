"""``python -m localapi --host 127.0.0.1 --port 3000 [--template template.yaml]
[--example protected-api]``, and ``python -m localapi invoke FUNCTION -e EVENT``
(``sam local invoke`` without Docker: localapi/invoke.py)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from localapi.examples import example_template
from localapi.server import LocalApi, StartupError
from localapi.template import TemplateError

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
    parser.add_argument(
        "--example",
        action="append",
        default=[],
        metavar="NAME",
        help=(
            "also serve an example stack beside it: examples/NAME/template.yaml (or a "
            "template's path); its !ImportValue of the main stack's exports resolves"
        ),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["invoke"]:
        from localapi.invoke import main as invoke

        return invoke(argv[1:])
    arguments = parse_arguments(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    try:
        base_dir = Path(arguments.template).resolve().parent
        examples = [example_template(name, base_dir) for name in arguments.example]
    except TemplateError as exc:
        sys.stderr.write(f"localapi: cannot start: {exc}\n")
        return 1
    api = LocalApi(arguments.template, host=arguments.host, port=arguments.port, examples=examples)
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
