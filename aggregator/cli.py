"""Command line: ``aggregator serve | migrate | check-config``. Flags override settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from aggregator.app import Role, build_app, configure_logging, runner_options
from aggregator.channels import configure
from aggregator.config.service import Settings, is_loopback, load_settings
from aggregator.errors import ConfigError
from aggregator.sources import SOURCES
from aggregator.store import migrate
from aggregator.store.db import make_engine

log = logging.getLogger("aggregator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aggregator", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="YAML settings file (or AGGREGATOR_CONFIG)")
    common.add_argument("--database-url", help="sqlite+aiosqlite:///file.db or "
                        "postgresql+asyncpg://user:pw@host/db (or AGGREGATOR_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", parents=[common], help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--insecure", action="store_true", default=None,
                       help="allow a non-loopback address without tokens for every route")
    serve.add_argument("--processes", type=int,
                       help="serve processes sharing the port (default 1; or "
                       "AGGREGATOR_PROCESSES)")
    worker = sub.add_parser("worker", parents=[common],
                            help="run only the outbox worker (health and metrics on --port)")
    worker.add_argument("--host", help="address for /healthz and /metrics (default 127.0.0.1)")
    worker.add_argument("--port", type=int, help="port for /healthz and /metrics (default 8081)")
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    sub.add_parser("check-config", parents=[common], help="validate the settings and exit")
    return parser


def _missing_tokens(settings: Settings) -> list[str]:
    auth = settings.auth
    named: dict[str, object] = {
        f"auth.{source.value}_tokens": auth.tokens_for(source) for source in SOURCES}
    named["auth.api_read_tokens or auth.api_write_tokens"] = (auth.api_read_tokens
                                                              or auth.api_write_tokens)
    return [name for name, tokens in named.items() if not tokens]


def check_exposure(settings: Settings) -> None:
    """Refuse a non-loopback address while any route group is open, unless ``insecure``."""
    missing = _missing_tokens(settings)
    if settings.insecure or is_loopback(settings.host) or not missing:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} with no token for: {', '.join(missing)}. "
        "Set them (see README, Authentication) or start with --insecure"
    )


def _serve(settings: Settings, role: Role = Role.SERVE) -> None:
    if role is not Role.WORKER:
        check_exposure(settings)
    app = build_app(settings, role)
    log.info("listening on http://%s:%d (database %s)", settings.host, settings.port,
             settings.database_url.split("://")[0])
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                shutdown_timeout=20.0, reuse_port=settings.processes > 1 or None,
                **runner_options())


def _serve_processes(settings: Settings) -> int:
    """``processes`` copies of ``serve`` on one port; the exit code of the group.

    The schema is migrated once here, so the copies never race on it. SIGTERM or SIGINT
    is passed on to every copy (each shuts down gracefully); if one dies by itself, the
    others are stopped too and the group exits 1, for the supervisor to restart it whole.
    """
    check_exposure(settings)
    if settings.migrate_on_start:
        log.info("database schema at %s", asyncio.run(_migrate(settings)))
    copies = settings.model_copy(update={"migrate_on_start": False})
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_serve,
                                args=(copies, Role.SERVE if index == 0 else Role.SERVE_COPY),
                                name=f"aggregator-serve-{index}")
                for index in range(settings.processes)]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    for child in children:
        child.start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sentinels = {child.sentinel: child for child in children}
    failed = False
    while sentinels:
        for ready in multiprocessing.connection.wait(list(sentinels)):
            child = sentinels.pop(ready)  # type: ignore[arg-type]
            child.join()
            if not stopping:
                log.error("%s exited with %s; stopping the others", child.name, child.exitcode)
                failed = True
                stop(signal.SIGTERM, None)
            elif child.exitcode not in (0, -signal.SIGTERM):
                failed = True
    return 1 if failed else 0


async def _migrate(settings: Settings) -> str | None:
    engine = make_engine(settings)
    try:
        await migrate.upgrade(engine)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {"database_url": args.database_url}
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port, insecure=args.insecure,
                         processes=args.processes)
    elif args.command == "worker":
        overrides.update(host=args.host, port=args.port or 8081)
    try:
        settings = load_settings(args.config, **overrides)
        configure(settings)  # the channel entries, checked against their types
        configure_logging(settings)
        if args.command == "check-config":
            check_exposure(settings)
            print(f"configuration is valid (database {settings.database_url.split('://')[0]}, "
                  f"listen {settings.host}:{settings.port})")
        elif args.command == "migrate":
            revision = asyncio.run(_migrate(settings))
            print(f"database schema at {revision}")
        elif args.command == "worker":
            _serve(settings, Role.WORKER)
        elif settings.processes > 1:
            return _serve_processes(settings)
        else:
            _serve(settings)
    except ConfigError as exc:
        print(f"aggregator: {exc}", file=sys.stderr)
        return 2
    return 0
