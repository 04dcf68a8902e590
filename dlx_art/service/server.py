"""`dlx-art serve`: run the art API with uvicorn until SIGINT/SIGTERM.

On a stop signal the running job is cancelled on the backend server and recorded as cancelled
before the process exits; queued jobs stay queued for the next runner.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Any

from dlx_art.config import Context
from dlx_art.library.service import Library
from dlx_art.service.security import MAX_BODY, check_bind, load_token

log = logging.getLogger("dlx_art.service")
DEFAULT_PORT = 7870


def show_token(context: Context) -> int:
    print(load_token(context.paths.config_dir))
    return 0


def serve(context: Context, library: Library, *, host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, allow_remote: bool = False, cors_origins: Any = (),
          extra_hosts: Any = (), max_body: int = MAX_BODY,
          sock: socket.socket | None = None) -> int:
    """Serve `library` until a stop signal; returns the exit code."""
    import uvicorn

    from dlx_art.service.app import create_app

    check_bind(host, allow_remote)
    app = create_app(context, host=host, extra_hosts=extra_hosts, cors_origins=cors_origins,
                     max_body=max_body, library=library)
    _route_uvicorn_logs()
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=10, lifespan="on",
                            limit_concurrency=256)
    server = _Server(config, app.state.service)
    shown = f"[{host}]" if ":" in host else host
    print(f"dlx-art: serving the art API at http://{shown}:{port} (library {library.root}; "
          "token: `dlx-art serve --show-token`). Ctrl+C stops.", file=sys.stderr, flush=True)
    server.run(sockets=[sock] if sock is not None else None)
    return 0 if server.started else 1


class _Server:
    """uvicorn's server, cancelling the running job as soon as a stop signal arrives.

    uvicorn first waits for open requests (a `?wait=true` call, an event stream) to end and only
    then runs the application's shutdown; cancelling the job first lets those requests end now.
    """

    def __init__(self, config: Any, state: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                log.info("stop signal %s: cancelling the running job", sig)
                threading.Thread(target=state.stop_jobs, name="dlx-art-stop",
                                 daemon=True).start()
                super().handle_exit(sig, frame)
                # uvicorn re-raises the signal once stopped (the process would die by it); a
                # stop asked for is a clean stop here: exit code 0, after the job is recorded
                self._captured_signals.clear()

        self._server = Server(config)

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        self._server.run(sockets=sockets)


def _route_uvicorn_logs() -> None:
    """uvicorn's own messages go to the studio's log file, like everything else."""
    studio = logging.getLogger("dlx_art")
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = list(studio.handlers)
        logger.setLevel(logging.INFO)
        logger.propagate = False
