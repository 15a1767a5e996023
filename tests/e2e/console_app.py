"""The gateway with the console mounted, for the browser tests while app.py does not route /console yet.

``create_app`` is the production ``alfred.app.create_app`` with one dispatch in front: /console paths go to
the real ``ConsoleEndpoint``, everything else to the gateway. Once app.py routes /console itself the
tests use ``alfred serve`` and this module is unused.
"""

from __future__ import annotations

from typing import Any

from alfred.api.console import ConsoleEndpoint
from alfred.api.http import Receive, Scope, Send
from alfred.app import create_app as create_gateway


def create_app() -> Any:
    gateway = create_gateway()
    console = ConsoleEndpoint()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/console" or path.startswith("/console/")):
            await console(scope, receive, send)
            return
        await gateway(scope, receive, send)

    return app
