"""``headgate serve``: the hub, serving one project's API and web UI over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from headgate.cli.common import OPTIONS, err
from headgate.errors import HeadgateError


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8080,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    flight_port: Annotated[
        int | None,
        typer.Option(
            "--flight-port",
            min=0,
            max=65535,
            help="Also serve query results over Arrow Flight (gRPC) on this port, on --host.",
        ),
    ] = None,
) -> None:
    """Serve the project: the REST API (/api/v1), its docs (/api/docs) and the web UI.

    The hub owns the warehouse while it runs: every read goes through it and never
    waits for a write; runs, deploys and rollbacks are carried out one at a time.
    Every request signs in (a session, or an API token as Bearer): add the first admin
    with `headgate users add NAME --role admin` before serving. With --flight-port,
    large results are read fastest over Arrow Flight, signed in with the same tokens.
    """
    try:
        import uvicorn

        from headgate.server.app import create_app
    except ImportError as exc:
        raise HeadgateError(
            f"the hub needs its server packages ({exc.name} is missing)",
            hint="pip install 'headgate[server]'",
        ) from None
    from headgate.project.root import find_root

    root = find_root(OPTIONS.project)
    app = create_app(root)
    err.print(
        f"headgate hub for {app.state.hub.project.name} on http://{host}:{port} "
        f"(API docs: http://{host}:{port}/api/docs); Ctrl-C stops it",
        highlight=False,
    )
    if flight_port is not None:  # stopped when the hub closes, with the server
        served = app.state.hub.start_flight(host, flight_port)
        err.print(f"Arrow Flight on grpc://{host}:{served}", highlight=False)
    if not any(not u.disabled for u in app.state.hub.project.users()):
        err.print(  # every route asks who is there: with no user, nobody can get in
            "[yellow]no user can sign in yet[/]: add the first admin with "
            "`headgate users add NAME --role admin` (then sign in at /signin, or "
            "`headgate tokens create NAME --role admin --user NAME` for the API)",
            highlight=False,
        )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
