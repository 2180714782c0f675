"""Real servers for end-to-end tests: a throw-away PostgreSQL cluster and `dagster dev`.

Nothing here is mocked. Each helper is a context manager that starts the real program on a loopback
address and a free port, waits until it answers, and on exit stops it and checks it is gone, so a
failing test never leaves a server behind for the next one. Failures carry the tail of the server's
log, because "did not start" alone is not something anyone can fix.
"""

from __future__ import annotations

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

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent if Path(sys.executable).with_name("dagster").exists() else REPO_ROOT / ".venv" / "bin"
PG_BIN = Path(os.environ.get("SMART_MAINTENANCE_PG_BIN", "/usr/lib/postgresql/15/bin"))
LOOPBACK = "127.0.0.1"

DAGSTER_MODULE = "smart_maintenance.definitions"
DAGSTER_HOME_YAML = "telemetry:\n  enabled: false\n"
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
        leftovers = _stop_group(process)
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


def _stop_group(process: subprocess.Popen) -> list[str]:
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
        print(f"dagster dev did not stop within {STOP_GRACE_S:.0f} s of SIGTERM: sending SIGKILL", file=sys.stderr)
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
