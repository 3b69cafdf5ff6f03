"""Fixtures for the local API's own tests: a toy template and toy functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localapi.template import load_template
from tests.support.paths import TOY_TEMPLATE


@pytest.fixture
def toy_template() -> dict[str, Any]:
    return load_template(TOY_TEMPLATE)


@pytest.fixture
def moto_session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")
