"""Real servers for end-to-end tests: a throw-away PostgreSQL cluster, `dagster dev`, Redis and Celery workers.

Nothing here is mocked. Each helper is a context manager that starts the real program on a loopback
address and a free port, waits until it answers, and on exit stops it and checks it is gone, so a
failing test never leaves a server behind for the next one. Failures carry the tail of the server's
log, because "did not start" alone is not something anyone can fix.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smart_maintenance.runner import EMBEDDED_INSTANCE_YAML

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent if Path(sys.executable).with_name("dagster").exists() else REPO_ROOT / ".venv" / "bin"
PG_BIN = Path(os.environ.get("SMART_MAINTENANCE_PG_BIN", "/usr/lib/postgresql/15/bin"))
LOOPBACK = "127.0.0.1"

DAGSTER_MODULE = "smart_maintenance.definitions"
DAGSTER_HOME_YAML = EMBEDDED_INSTANCE_YAML  # what `smart-maintenance ui` gives users (SQLite, tuned for latency)
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 15.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it; tiny race until the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return f"--- last {min(lines, len(text))} lines of {path} ---\n" + "\n".join(text[-lines:])


# --- PostgreSQL -------------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server(tmp_dir: Path | str) -> Iterator[dict[str, Any]]:
    """A fresh PostgreSQL cluster on 127.0.0.1 and a free port, with one database owned by one user.

    Yields the connection settings: host, port, db, user, password (password auth over TCP; only the
    cluster's own unix socket, in its private folder, trusts the local superuser). The cluster runs as
    the unprivileged user `postgres` when we are root (PostgreSQL refuses to run as root), else as us.
    """
    for tool in ("initdb", "pg_ctl", "psql"):
        if not (PG_BIN / tool).exists():
            raise RuntimeError(
                f"PostgreSQL server binaries not found ({PG_BIN / tool} is missing). The end-to-end tests start a "
                f"real PostgreSQL: install it with `apt-get install -y postgresql` (CI does), or point "
                f"SMART_MAINTENANCE_PG_BIN at the folder holding initdb and pg_ctl.")
    cluster, cleanup = _cluster_dir(Path(tmp_dir))
    data = cluster / "data"
    settings = {"host": LOOPBACK, "port": free_port(), "db": "smart_maintenance", "user": "smart_maintenance",
                # token_urlsafe has no quote characters, so it can go into SQL as a literal.
                "password": "pw-" + secrets.token_urlsafe(18)}
    try:
        _start_postgres(cluster, data, settings)
        try:
            yield settings
        finally:
            _stop_postgres(cluster, data)
    finally:
        if cleanup:
            shutil.rmtree(cluster, ignore_errors=True)


def _start_postgres(cluster: Path, data: Path, settings: dict[str, Any]) -> None:
    sockets, log, superuser = cluster / "sock", cluster / "postgres.log", "postgres"
    sockets.mkdir(exist_ok=True)
    _own(sockets)
    try:
        _pg(cluster, "initdb", "-D", str(data), "-U", superuser, "-E", "UTF8", "--locale=C")
        # Only what the tests use: the cluster's own socket for set-up, a password over TCP for clients.
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        options = (f"-c listen_addresses={LOOPBACK} -p {settings['port']} -k {sockets} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")  # a throw-away cluster
        _pg(cluster, "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"PostgreSQL did not start: {' '.join(exc.cmd)}\n{exc.stdout}\n{log_tail(log)}") from exc
    psql = ["psql", "-h", str(sockets), "-p", str(settings["port"]), "-U", superuser, "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-q"]
    try:
        _pg(cluster, *psql, "-c", f"CREATE ROLE {settings['user']} LOGIN PASSWORD '{settings['password']}'")
        _pg(cluster, *psql, "-c", f"CREATE DATABASE {settings['db']} OWNER {settings['user']}")
    except subprocess.CalledProcessError as exc:
        _stop_postgres(cluster, data)
        raise RuntimeError(f"creating the test database failed: {exc.stdout}\n{log_tail(log)}") from exc


def _as_cluster_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def _pg(cwd: Path, tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_as_cluster_owner([str(PG_BIN / tool), *args]), cwd=cwd, check=True, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)


def _cluster_dir(tmp_dir: Path) -> tuple[Path, bool]:
    """A folder the cluster owner can write, preferably inside `tmp_dir`; (path, remove it afterwards).

    pytest's temp folders are private to root (mode 0700), and a unix socket path must stay under ~100
    bytes: when either gets in the way, a fresh folder under the system temp dir is used instead.
    """
    cluster = tmp_dir / "postgres"
    if len(str(cluster / "sock" / ".s.PGSQL.65535.lock")) < 100:
        cluster.mkdir(parents=True, exist_ok=True)
        _own(cluster)
        if subprocess.run(_as_cluster_owner(["test", "-w", str(cluster)]), check=False).returncode == 0:
            return cluster, False
        cluster.rmdir()
    cluster = Path(tempfile.mkdtemp(prefix="sm-pg-"))
    _own(cluster)
    return cluster, True


def _stop_postgres(cluster: Path, data: Path) -> None:
    try:
        _pg(cluster, "pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
    except subprocess.CalledProcessError:
        pid_file = data / "postmaster.pid"
        if pid_file.exists():  # pg_ctl could not stop it: do not leave a server behind
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        raise


# --- dagster dev ------------------------------------------------------------------------------------


class GraphQLError(RuntimeError):
    """The Dagster GraphQL API answered with errors."""


def graphql(port: int, query: str, variables: dict[str, Any] | None = None, timeout: float = 30.0) -> dict:
    """POST a query to the Dagster webserver on 127.0.0.1:`port`; returns the `data` part of the answer.

    Raises GraphQLError when the answer carries errors (a wrong field name should fail loudly, not
    look like "nothing yet").
    """
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # the webserver answers 400 to queries the schema rejects
        raise GraphQLError(f"HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc
    if answer.get("errors"):
        raise GraphQLError(json.dumps(answer["errors"], indent=2))
    return answer["data"]


@dataclass
class DagsterDev:
    """A running `dagster dev` (webserver + daemon + code server)."""

    port: int
    process: subprocess.Popen
    log_path: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        return graphql(self.port, query, variables)

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)


LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


@contextlib.contextmanager
def dagster_dev(data_root: Path | str, dagster_home: Path | str, port: int, env: dict[str, str] | None = None,
                timeout: float = START_TIMEOUT_S) -> Iterator[DagsterDev]:
    """`dagster dev -m smart_maintenance.definitions` on 127.0.0.1:`port`, in its own process group.

    Waits until the webserver answers GraphQL and the code location has loaded (a location that fails
    to import fails here, with its error, rather than as a timeout later). On exit the whole process
    group is stopped (SIGTERM, then SIGKILL after 15 s) and no process of it may be left.
    """
    data_root, dagster_home = Path(data_root), Path(dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        (dagster_home / "dagster.yaml").write_text(DAGSTER_HOME_YAML)
    mpl = Path(tempfile.mkdtemp(prefix="mpl-", dir=dagster_home))
    log_path = dagster_home / "dagster-dev.log"
    full_env = {**os.environ, "SMART_MAINTENANCE_HOME": str(data_root), "DAGSTER_HOME": str(dagster_home),
                "MPLCONFIGDIR": str(mpl), "PYTHONUNBUFFERED": "1", **(env or {})}
    cmd = [str(VENV_BIN / "dagster"), "dev", "-m", DAGSTER_MODULE, "-h", LOOPBACK, "-p", str(port)]
    with open(log_path, "ab") as log:
        # cwd: dagster dev puts its working directory on sys.path; the temp home keeps the repository clean.
        process = subprocess.Popen(cmd, cwd=dagster_home, env=full_env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = DagsterDev(port, process, log_path)
    try:
        _wait_until_ready(server, timeout)
        yield server
    except BaseException:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        leftovers = _stop_group(process, "dagster dev")
    assert not leftovers, f"processes of dagster dev still running after SIGKILL: {leftovers}\n{server.log_tail()}"


def _wait_until_ready(server: DagsterDev, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with code {server.process.returncode} while starting")
        try:
            entries = server.graphql(LOCATIONS_QUERY)["workspaceOrError"].get("locationEntries") or []
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError, GraphQLError) as exc:
            last_problem = f"webserver not answering: {exc}"
        else:
            errors = [e["locationOrLoadError"]["message"] for e in entries
                      if (e.get("locationOrLoadError") or {}).get("__typename") == "PythonError"]
            if errors:
                raise RuntimeError("the code location failed to load:\n" + "\n".join(errors))
            if entries and all(e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries):
                return
            last_problem = f"code location not loaded yet: {entries}"
        time.sleep(0.5)
    raise TimeoutError(f"dagster dev did not become ready within {timeout:.0f} s ({last_problem})")


def _stop_group(process: subprocess.Popen, what: str = "dagster dev") -> list[str]:
    """Stop the process group led by `process`; returns the processes still alive afterwards (none, normally)."""
    pgid = process.pid  # start_new_session: the leader's pid is the group id
    family = _group(pgid) | _descendants(process.pid)  # descendants too, in case one left the group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and (_group(pgid) or _alive(family)):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)
    if _group(pgid) or _alive(family):
        print(f"{what} did not stop within {STOP_GRACE_S:.0f} s of SIGTERM: sending SIGKILL", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for pid in _alive(family):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        time.sleep(0.5)
    return [_describe(pid) for pid in sorted(_group(pgid) | _alive(family))]


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, ppid, pgid) of every process, from /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces and parentheses
        yield int(entry.name), fields[0], int(fields[1]), int(fields[2])


def _group(pgid: int) -> set[int]:
    """Live members of a process group (zombies are dead: nobody may be left to reap them in a container)."""
    return {pid for pid, state, _, group in _processes() if group == pgid and state != "Z"}


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, _, ppid, _ in _processes():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    states = {pid: state for pid, state, _, _ in _processes()}
    return {pid for pid in pids if pid in states and states[pid] != "Z"}


def _describe(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return str(pid)


# --- Redis (the Celery broker) ----------------------------------------------------------------------

REDIS_SERVER = Path(os.environ.get("SMART_MAINTENANCE_REDIS_SERVER", "/usr/bin/redis-server"))


@dataclass
class RedisServer:
    """A running redis-server on 127.0.0.1."""

    port: int
    process: subprocess.Popen
    log_path: Path

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def ping(self, timeout: float = 1.0) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


@contextlib.contextmanager
def redis_server(tmp_dir: Path | str, timeout: float = 30.0) -> Iterator[RedisServer]:
    """A throw-away redis-server on 127.0.0.1 and a free port, nothing persisted; stopped (and checked gone) on exit."""
    if not REDIS_SERVER.exists():
        raise RuntimeError(f"{REDIS_SERVER} is missing: the distributed tests use Redis as the Celery broker. Install "
                           "it with `apt-get install -y redis-server` (CI does), or point SMART_MAINTENANCE_REDIS_SERVER at it.")
    folder = Path(tmp_dir) / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    port, log_path = free_port(), folder / "redis.log"
    cmd = [str(REDIS_SERVER), "--bind", LOOPBACK, "--port", str(port), "--dir", str(folder), "--save", "",
           "--appendonly", "no", "--daemonize", "no", "--logfile", str(log_path)]
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = RedisServer(port, process, log_path)
    try:
        deadline = time.monotonic() + timeout
        while not server.ping():
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {process.returncode}\n{log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not answer PING within {timeout:.0f} s\n{log_tail(log_path)}")
            time.sleep(0.1)
        yield server
    finally:
        leftovers = _stop_group(process, "redis-server")
    assert not leftovers, f"redis-server still running after SIGKILL: {leftovers}"


# --- Celery workers ---------------------------------------------------------------------------------

CELERY_APP = "smart_maintenance.defs.executor"


@dataclass
class CeleryWorker:
    """A running Celery worker (`celery -A smart_maintenance.defs.executor worker`) and its process tree."""

    name: str  # the Celery node name, e.g. w1@host: what the step events record as "Celery worker"
    process: subprocess.Popen
    log_path: Path

    def pids(self) -> set[int]:
        """The worker's main process and its pool processes (which run the steps)."""
        return {self.process.pid} | _alive(_descendants(self.process.pid))

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)


def celery_env(broker_url: str, data_root: Path | str, dagster_home: Path | str, pg: dict[str, Any] | None = None,
               **extra: str) -> dict[str, str]:
    """The environment a worker and a run orchestrator share: broker, data root, instance (and its PG_* settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMART_MAINTENANCE_", "DAGSTER_"))}
    env |= {"SMART_MAINTENANCE_EXECUTOR": "celery", "SMART_MAINTENANCE_CELERY_BROKER": broker_url,
            "SMART_MAINTENANCE_HOME": str(data_root), "DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1",
            "MPLCONFIGDIR": str(Path(dagster_home) / "mpl")}
    if pg:
        env |= {"SMART_MAINTENANCE_PG_HOST": pg["host"], "SMART_MAINTENANCE_PG_PORT": str(pg["port"]),
                "SMART_MAINTENANCE_PG_DB": pg["db"], "SMART_MAINTENANCE_PG_USER": pg["user"],
                "SMART_MAINTENANCE_PG_PASSWORD": pg["password"]}
    return env | extra


@contextlib.contextmanager
def celery_workers(names: list[str], env: dict[str, str], log_dir: Path | str, concurrency: int = 1,
                   timeout: float = START_TIMEOUT_S) -> Iterator[list[CeleryWorker]]:
    """Celery worker processes, one per name, each with a prefork pool of `concurrency` processes.

    `env` is what the workers share with the runs (celery_env): the broker, DAGSTER_HOME and the data
    root. The definitions are imported before the pool forks, so a step does not pay for the import.
    All are started at once; each is ready when it answers a ping through the broker. On exit they are
    stopped (warm shutdown on SIGTERM, SIGKILL after 15 s) and none of their processes may be left.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    workers: list[CeleryWorker] = []
    try:
        for name in names:
            workers.append(_start_worker(name, env, log_dir / f"celery-{name}.log", concurrency))
        for worker in workers:
            _wait_for_worker(worker, env["SMART_MAINTENANCE_CELERY_BROKER"], timeout)
        yield workers
    except BaseException:
        for worker in workers:
            print(worker.log_tail(), file=sys.stderr)
        raise
    finally:
        # Stopped side by side: a warm shutdown takes a few seconds each.
        with concurrent.futures.ThreadPoolExecutor(max(1, len(workers))) as pool:
            stopped = pool.map(lambda w: _stop_group(w.process, f"celery worker {w.name}"), workers)
            leftovers = [p for found in stopped for p in found]
    assert not leftovers, f"processes of the celery workers still running after SIGKILL: {leftovers}"


def _start_worker(name: str, env: dict[str, str], log_path: Path, concurrency: int) -> CeleryWorker:
    node = f"{name}@{socket.gethostname()}"
    cmd = [str(VENV_BIN / "celery"), "-A", CELERY_APP, "worker", "--hostname", node, "--concurrency", str(concurrency),
           "--prefetch-multiplier", "1", "--include", DAGSTER_MODULE, "--loglevel", "INFO", "--without-gossip",
           "--without-mingle"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(cmd, cwd=log_path.parent, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return CeleryWorker(node, process, log_path)


def _wait_for_worker(worker: CeleryWorker, broker_url: str, timeout: float) -> None:
    from celery import Celery

    probe = Celery("probe", broker=broker_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise RuntimeError(f"celery worker {worker.name} exited with code {worker.process.returncode}")
            if probe.control.ping(destination=[worker.name], timeout=1.0):
                return
        raise TimeoutError(f"celery worker {worker.name} did not answer a ping within {timeout:.0f} s")
    finally:
        probe.close()
