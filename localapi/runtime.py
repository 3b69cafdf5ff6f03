"""Load Lambda handlers in this process, each with its own environment, and invoke them."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from localapi.model import FunctionSpec
from localapi.template import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

ENVIRON_LOCK = threading.RLock()


class FunctionLoadError(Exception):
    """A handler module could not be imported or has no such handler."""


class LambdaContext:
    """The attributes of the Python runtime's context object (Powertools reads these)."""

    function_version = "$LATEST"
    identity: Any = None
    client_context: Any = None

    def __init__(
        self,
        *,
        function_name: str = "stateless-auth-local-function",
        invoked_function_arn: str | None = None,
        memory_limit_in_mb: str = "256",
        log_stream_name: str = "local",
        timeout_seconds: float = 30.0,
    ) -> None:
        self.function_name = function_name
        self.invoked_function_arn = invoked_function_arn or (
            f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def exact_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is exactly ``variables`` in the block, then what it was (under a lock)."""
    with ENVIRON_LOCK:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(variables)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


class LoadedFunction:
    """One function's handler, imported once (its cold start) with its own environment.

    As in Lambda, the module sees exactly ``environment`` while it is imported, which is
    when the handlers read their settings; the process's environment is restored
    afterwards, so one function never sees another's variables. Calls run with the
    process's environment.
    """

    def __init__(self, spec: FunctionSpec, *, region: str = DEFAULT_REGION) -> None:
        self.spec = spec
        self.arn = f"arn:aws:lambda:{region}:{DEFAULT_ACCOUNT_ID}:function:{spec.function_name}"
        self.module_name = "localapi_fn_" + re.sub(r"\W", "_", spec.logical_id)
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.handler: Callable[[Any, Any], Any] | None = None

    def load(self, environment: Mapping[str, str]) -> None:
        """Import the handler's module by its file path, with ``environment`` as os.environ."""
        path = self.spec.module_file
        spec = importlib.util.spec_from_file_location(self.module_name, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"{self.spec.logical_id}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.module_name] = module
        try:
            with exact_environment(environment):
                spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(self.module_name, None)
            raise FunctionLoadError(
                f"{self.spec.logical_id}: importing {path} failed: {type(exc).__name__}: {exc}"
            ) from exc
        handler = getattr(module, self.spec.function_attribute, None)
        if not callable(handler):
            raise FunctionLoadError(
                f"{self.spec.logical_id}: {path} has no callable {self.spec.function_attribute!r}"
                f" (Handler {self.spec.handler})"
            )
        self.handler = handler

    def invoke(self, event: Mapping[str, Any]) -> tuple[Any, float]:
        """Call the handler; return its result and the seconds it took. Exceptions propagate."""
        if self.handler is None:
            raise FunctionLoadError(f"{self.spec.logical_id} is not loaded")
        context = LambdaContext(
            function_name=self.spec.function_name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=str(self.spec.memory_mb),
            log_stream_name=self.log_stream_name,
            timeout_seconds=self.spec.timeout_seconds,
        )
        started = time.monotonic()
        result = self.handler(event, context)
        return result, time.monotonic() - started
