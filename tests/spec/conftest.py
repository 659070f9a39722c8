"""The pinned spec's operation index, shared by the index's and the templates' tests."""

from __future__ import annotations

import pytest

from mock_server.spec.index import OperationIndex, operation_index
from openapi.locate import SpecNotFound


@pytest.fixture(scope="module")
def index() -> OperationIndex:
    try:
        return operation_index()
    except SpecNotFound as exc:
        pytest.skip(f"the pinned spec is not available here: {exc}")
