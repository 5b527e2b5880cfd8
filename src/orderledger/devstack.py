"""`orderledger run` (what `make run` calls): everything on one machine, for a first look.

Starts PostgreSQL and Redis (embedded, unless their URLs are set), migrates,
makes a development tenant and key, starts the API and one worker, and prints
the URL and the key. Ctrl-C stops what it started, servers last. The data
folder keeps the data, the dev key and the tag secret across runs.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import psycopg

from orderledger.infrastructure.database import ensure_database
from orderledger.infrastructure.embedded import EmbeddedServer, free_port, start_postgres, start_valkey
from orderledger.infrastructure.migrations import migrate
from orderledger.settings import Settings
from orderledger.tenancy import create_key, hash_key

DEV_TENANT = "dev"
DATABASE_NAME = "orderledger"


def _read_or_make(path: Path, make: callable) -> str:  # type: ignore[valid-type]
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def dev_key(settings: Settings, data_dir: Path) -> str:
    """The dev tenant's key: reused across runs while it is valid (only its hash is in the database)."""
    key_file = data_dir / "dev-api-key"
    with psycopg.connect(settings.database_url) as conn:
        if key_file.exists():
            key = key_file.read_text().strip()
            row = conn.execute("SELECT 1 FROM api_key WHERE key_hash = %s AND revoked_at IS NULL", (hash_key(key),)).fetchone()
            if row:
                return key
        _, key = create_key(conn, DEV_TENANT)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def _child_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "ORDERLEDGER_DATABASE_URL": settings.database_url,
        "ORDERLEDGER_REDIS_URL": settings.redis_url,
        "ORDERLEDGER_TAG_SECRETS": settings.tag_secrets,
        "ORDERLEDGER_QUEUE": settings.queue_name,
    }


def start_service(args: list[str], settings: Settings) -> subprocess.Popen:
    """An `orderledger` subcommand as a child that dies with us and ignores the terminal's Ctrl-C (we stop it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "orderledger", *args], env=_child_env(settings), start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with code {process.returncode} before answering")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the API did not answer {url} within {timeout:.0f}s")


def stop_all(processes: list[subprocess.Popen], timeout: float = 10.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(settings: Settings, *, port_chosen: bool) -> int:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    servers: list[EmbeddedServer] = []
    services: list[subprocess.Popen] = []
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        database_url, redis_url = settings.database_url, settings.redis_url
        if not database_url:
            servers.append(start_postgres(data_dir))
            database_url = ensure_database(servers[-1].url, DATABASE_NAME)
        if not redis_url:
            servers.append(start_valkey(data_dir, persist=True))
            redis_url = servers[-1].url
        tag_secret = _read_or_make(data_dir / "tag-secret", lambda: secrets.token_urlsafe(32))
        port = settings.port if port_chosen else _default_port(settings.port)
        settings = replace(settings, database_url=database_url, redis_url=redis_url, port=port,
                           tag_secrets=os.environ.get("ORDERLEDGER_TAG_SECRETS") or f"1:{tag_secret}")
        migrate(settings)
        key = dev_key(settings, data_dir)
        services.append(start_service(["serve", "--host", settings.host, "--port", str(port)], settings))
        services.append(start_service(["worker"], settings))
        url = f"http://{settings.host}:{port}"
        wait_for_http(f"{url}/health", services[0])
        print(f"orderledger is up at {url}", flush=True)
        print(f"API key: {key}", flush=True)
        print(f"(ready in {time.monotonic() - started:.1f}s; data in {data_dir}; Ctrl-C stops everything)", flush=True)
        while not stopping:
            for process in services:
                if process.poll() is not None:
                    print(f"a service exited with code {process.returncode}; stopping", file=sys.stderr, flush=True)
                    return 1
            for server in servers:
                if not server.is_running():
                    print(f"{server.name} stopped unexpectedly (log: {server.log_path}); stopping", file=sys.stderr, flush=True)
                    return 1
            time.sleep(0.2)
        return 0
    finally:
        stop_all(services)
        for server in reversed(servers):
            server.stop()
        print("orderledger stopped", flush=True)


def _default_port(preferred: int) -> int:
    """The default port if it is free, else any free one (the printed URL says which)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()
