"""Load Lambda handlers in this process and invoke them with a Lambda-like context."""

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
from types import ModuleType
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
    tenant_id: str | None = None

    def __init__(
        self,
        *,
        function_name: str = "stateless-auth-local-function",
        invoked_function_arn: str | None = None,
        memory_limit_in_mb: str = "256",
        log_group_name: str | None = None,
        log_stream_name: str = "local",
        timeout_seconds: float = 30.0,
        aws_request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.invoked_function_arn = (
            invoked_function_arn
            or f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name or f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


@contextlib.contextmanager
def applied_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` for the block, then restore it (under a lock)."""
    with ENVIRON_LOCK:
        saved = dict(os.environ)
        os.environ.update(variables)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


class LoadedFunction:
    """One function's handler, imported once (its cold start)."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.spec = spec
        self.region = region
        self.account_id = account_id
        self.module_name = "localapi_fn_" + re.sub(r"\W", "_", spec.logical_id)
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.module: ModuleType | None = None
        self.handler: Callable[[Any, Any], Any] | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.spec.function_name}"

    def load(self, environment: Mapping[str, str]) -> None:
        """Import the handler module with ``environment`` applied to ``os.environ``."""
        path = self.spec.module_file
        spec = importlib.util.spec_from_file_location(self.module_name, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"{self.spec.logical_id}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        added_path = self._code_dir_needed_on_path()
        with applied_environment(environment):
            sys.modules[self.module_name] = module
            if added_path:
                sys.path.insert(0, str(self.spec.code_dir))
            try:
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
        self.module = module
        self.handler = handler

    def _code_dir_needed_on_path(self) -> bool:
        """Only when the handler has sibling modules it may import by plain name."""
        code_dir = self.spec.code_dir
        if str(code_dir) in sys.path:
            return False
        module_file = self.spec.module_file.resolve()
        for entry in code_dir.iterdir():
            if entry.resolve() == module_file or entry.name.startswith((".", "_")):
                continue
            if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").is_file()):
                return True
        return False

    def new_context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.spec.function_name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=str(self.spec.memory_mb),
            log_group_name=f"/aws/lambda/{self.spec.function_name}",
            log_stream_name=self.log_stream_name,
            timeout_seconds=self.spec.timeout_seconds,
        )

    def invoke(self, event: Mapping[str, Any]) -> tuple[Any, float]:
        """Call the handler; return its result and the seconds it took. Exceptions propagate."""
        if self.handler is None:
            raise FunctionLoadError(f"{self.spec.logical_id} is not loaded")
        context = self.new_context()
        started = time.monotonic()
        result = self.handler(event, context)
        return result, time.monotonic() - started
