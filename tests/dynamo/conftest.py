"""moto-backed DynamoDB, with the tables created from template.yaml's own declarations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localapi.aws import create_tables_from_template
from localapi.template import load_template
from tests.conftest import ROOT


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def tables(dynamodb: Any) -> dict[str, str]:
    return create_tables_from_template(load_template(ROOT / "template.yaml"), dynamodb)
