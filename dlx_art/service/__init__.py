"""`dlx-art serve`: the art API over HTTP for the suite's other studios (FastAPI, no Qt).

`create_app(context)` builds the application (tests run it in-process with uvicorn on a free
port); `server.serve` runs it for the command line.
"""

from __future__ import annotations

from dlx_art.service.app import create_app

__all__ = ["create_app"]
