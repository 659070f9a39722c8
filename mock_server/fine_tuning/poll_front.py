"""A response cache in front of the app for the one request clients repeat most: polling a job
(``GET /v1/fine-tunes/{id}``).

A job's answer changes only at moments its plan knows in advance, so the fine-tuning service
keeps its rendered body until then (``FineTuning.kept_view``; ended jobs keep theirs for good).
This ASGI middleware answers such a poll with those bytes before FastAPI's routing and
dependency machinery run, which is most of the cost of a cheap request. Authentication is the
same function the routes use; anything it is not sure about (no cached body, a bad key, another
path or method) goes on to the app unchanged, so the answers are identical either way.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.core.errors import Unauthorized
from mock_server.core.tenancy import Tenancy
from mock_server.core.wire import wants_upper_case_events
from mock_server.fine_tuning.service import FineTuning

__all__ = ["KeptJobViews"]

_JOB_PATH = re.compile(r"/v1/fine-tunes/(ft-[A-Za-z0-9-]+)")


class KeptJobViews:
    def __init__(self, app: ASGIApp, *, fine_tuning: FineTuning, tenancy: Tenancy) -> None:
        self.app = app
        self.fine_tuning = fine_tuning
        self.tenancy = tenancy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = _JOB_PATH.fullmatch(scope["path"])
            if match is not None and (body := self._cached(scope, match[1])) is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _cached(self, scope: Scope, job_id: str) -> bytes | None:
        headers = dict(scope["headers"])
        try:
            tenant = self.tenancy.authenticate(headers.get(b"authorization", b"").decode("latin-1"))
        except Unauthorized:
            return None
        upper = wants_upper_case_events(headers.get(b"user-agent", b"").decode("latin-1"))
        return self.fine_tuning.kept_view(tenant, job_id, upper)
