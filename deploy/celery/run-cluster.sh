#!/usr/bin/env bash
# The distributed deployment on one machine (README, "Scale-out: Celery workers"):
#   PostgreSQL (the Dagster instance), Redis (the Celery broker), SM_WORKERS Celery workers,
#   dagster-daemon (sensors, schedules, automation, the run queue) and dagster-webserver (the UI).
# Every process gets the same DAGSTER_HOME (deploy/celery/dagster.yaml) and SMART_MAINTENANCE_HOME, and
# nothing else in common. Ctrl-C (or SIGTERM) stops all of them, each by its process id.
#
#   deploy/celery/run-cluster.sh                      # data root data/, UI on http://127.0.0.1:3000
#   SM_HOME=/srv/plant SM_WORKERS=4 SM_UI_PORT=3100 deploy/celery/run-cluster.sh
#
# PostgreSQL: an existing server when SMART_MAINTENANCE_PG_HOST (and _PORT, _DB, _USER, _PASSWORD) is
# set; otherwise a local cluster kept under $SM_CLUSTER_DIR/postgres (default: <data root>/.cluster),
# created on first use, listening on 127.0.0.1 only, its generated password in a file readable by you
# only. Run history therefore survives a restart; the broker's queue does not need to (a run's state
# is in PostgreSQL, and nothing is in flight once everything is stopped).
set -euo pipefail
set -m  # each background job in its own process group: Ctrl-C reaches only this script, which stops them in order

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$REPO/.venv/bin}
SM_HOME=$(realpath -m "${SM_HOME:-$REPO/data}")
STATE=$(realpath -m "${SM_CLUSTER_DIR:-$SM_HOME/.cluster}")
WORKERS=${SM_WORKERS:-2}
UI_PORT=${SM_UI_PORT:-3000}
HOST=127.0.0.1
PG_BIN=${SMART_MAINTENANCE_PG_BIN:-/usr/lib/postgresql/15/bin}
REDIS_SERVER=${SMART_MAINTENANCE_REDIS_SERVER:-/usr/bin/redis-server}
MODULE=smart_maintenance.definitions

say() { printf '[cluster] %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }
free_port() { "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_pg_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

[ -x "$BIN/celery" ] || die "no $BIN/celery: run 'make install' first"
[ -x "$REDIS_SERVER" ] || die "no $REDIS_SERVER: apt-get install -y redis-server"
mkdir -p "$STATE/logs" "$STATE/redis" "$STATE/dagster_home" "$SM_HOME"

# --- stopping: newest first, each process group by its leader's pid, then check they are gone -------
pids=()      # leaders of the background jobs, in start order
names=()
pg_started=""
stop_all() {
  trap - INT TERM EXIT
  set +e
  local i pid deadline
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -0 "$pid" 2>/dev/null || continue
    say "stopping ${names[i]} (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null
    deadline=$((SECONDS + 30))  # a worker finishes the step it is running (warm shutdown)
    while kill -0 -- "-$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 -- "-$pid" 2>/dev/null; then
      say "${names[i]} did not stop within 30 s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null
      sleep 0.5
    fi
    kill -0 -- "-$pid" 2>/dev/null && say "WARNING: processes of ${names[i]} still alive (process group $pid)"
  done
  if [ -n "$pg_started" ]; then
    say "stopping PostgreSQL"
    as_pg_owner "$PG_BIN/pg_ctl" -D "$pg_started" -m fast -w -t 30 stop >/dev/null
  fi
  say "stopped"
}
trap 'exit 130' INT
trap 'exit 143' TERM
trap stop_all EXIT

start() {  # start NAME LOG COMMAND...: a background job, its own process group
  local name=$1 log=$2
  shift 2
  "$@" >>"$log" 2>&1 </dev/null &
  pids+=("$!")
  names+=("$name")
  say "started $name (pid $!, log $log)"
}

# --- PostgreSQL ---------------------------------------------------------------------------------------
if [ -n "${SMART_MAINTENANCE_PG_HOST:-}" ]; then
  say "PostgreSQL: using $SMART_MAINTENANCE_PG_HOST:${SMART_MAINTENANCE_PG_PORT:-5432}"
else
  [ -x "$PG_BIN/initdb" ] || die "no PostgreSQL server binaries in $PG_BIN: apt-get install -y postgresql (or set SMART_MAINTENANCE_PG_HOST)"
  pg_dir=$STATE/postgres
  mkdir -p "$pg_dir/sock"
  [ "$(id -u)" = 0 ] && chown postgres: "$pg_dir" "$pg_dir/sock"
  as_pg_owner test -w "$pg_dir" ||
    die "the PostgreSQL server user cannot write $pg_dir (a private parent folder?): set SM_CLUSTER_DIR to a folder it can reach"
  export SMART_MAINTENANCE_PG_HOST=$HOST SMART_MAINTENANCE_PG_PORT=${SM_PG_PORT:-$(free_port)}
  export SMART_MAINTENANCE_PG_DB=smart_maintenance SMART_MAINTENANCE_PG_USER=smart_maintenance
  options="-c listen_addresses=$HOST -p $SMART_MAINTENANCE_PG_PORT -k $pg_dir/sock"
  psql=("$PG_BIN/psql" -h "$pg_dir/sock" -p "$SMART_MAINTENANCE_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q)
  if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    say "creating the PostgreSQL cluster in $pg_dir/data"
    (umask 077 && "$BIN/python" -c 'import secrets; print("pw-" + secrets.token_urlsafe(18))' >"$pg_dir/password")
    as_pg_owner "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres -E UTF8 --locale=C --auth-local=trust \
      --auth-host=scram-sha-256 >"$STATE/logs/initdb.log"
    printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' | as_pg_owner tee "$pg_dir/data/pg_hba.conf" >/dev/null
    as_pg_owner "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 -o "$options" start >/dev/null
    pg_started=$pg_dir/data
    as_pg_owner "${psql[@]}" -c "CREATE ROLE $SMART_MAINTENANCE_PG_USER LOGIN PASSWORD '$(cat "$pg_dir/password")'"
    as_pg_owner "${psql[@]}" -c "CREATE DATABASE $SMART_MAINTENANCE_PG_DB OWNER $SMART_MAINTENANCE_PG_USER"
  else
    as_pg_owner "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 -o "$options" start >/dev/null
    pg_started=$pg_dir/data
  fi
  SMART_MAINTENANCE_PG_PASSWORD=$(cat "$pg_dir/password")
  export SMART_MAINTENANCE_PG_PASSWORD
  say "PostgreSQL on $HOST:$SMART_MAINTENANCE_PG_PORT (data in $pg_dir/data, log $pg_dir/postgres.log)"
fi

# --- Redis: the broker --------------------------------------------------------------------------------
REDIS_PORT=${SM_REDIS_PORT:-$(free_port)}
start redis "$STATE/logs/redis.log" "$REDIS_SERVER" --bind "$HOST" --port "$REDIS_PORT" --dir "$STATE/redis" \
  --save "" --appendonly no --daemonize no
for _ in $(seq 100); do
  "$BIN/python" -c "import redis, sys; redis.Redis(port=$REDIS_PORT).ping()" 2>/dev/null && break
  sleep 0.1
done

# --- what every process shares ------------------------------------------------------------------------
cp "$REPO/deploy/celery/dagster.yaml" "$STATE/dagster_home/dagster.yaml"
export DAGSTER_HOME=$STATE/dagster_home
export SMART_MAINTENANCE_HOME=$SM_HOME
export SMART_MAINTENANCE_EXECUTOR=celery
export SMART_MAINTENANCE_CELERY_BROKER=redis://$HOST:$REDIS_PORT/0
# Partition locks in PostgreSQL, as workers on several machines need them (lake.py).
export SMART_MAINTENANCE_LOCK_URL="postgresql://$SMART_MAINTENANCE_PG_USER:$SMART_MAINTENANCE_PG_PASSWORD@$SMART_MAINTENANCE_PG_HOST:${SMART_MAINTENANCE_PG_PORT:-5432}/$SMART_MAINTENANCE_PG_DB"
export MPLCONFIGDIR=$STATE/mpl PYTHONUNBUFFERED=1

# --- Celery workers, daemon, webserver ---------------------------------------------------------------
cd "$STATE"
for i in $(seq "$WORKERS"); do
  start "worker w$i" "$STATE/logs/worker-w$i.log" "$BIN/celery" -A smart_maintenance.defs.executor worker \
    --hostname "w$i@%h" --concurrency 1 --prefetch-multiplier 1 --include "$MODULE" --loglevel INFO
done
start dagster-daemon "$STATE/logs/daemon.log" "$BIN/dagster-daemon" run -m "$MODULE"
start dagster-webserver "$STATE/logs/webserver.log" "$BIN/dagster-webserver" -m "$MODULE" -h "$HOST" -p "$UI_PORT"

for _ in $(seq 240); do
  "$BIN/python" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$UI_PORT/server_info', timeout=2)" 2>/dev/null && break
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "a process exited while starting: see $STATE/logs"; done
  sleep 0.5
done
say "UI: http://$HOST:$UI_PORT   data root: $SM_HOME   Dagster home: $DAGSTER_HOME"
say "broker: $SMART_MAINTENANCE_CELERY_BROKER   workers: $WORKERS (one step at a time each)   logs: $STATE/logs"
say "Ctrl-C stops everything"

# Until Ctrl-C, or until one of them dies (then the others are stopped too: a half cluster only confuses).
set +e
wait -n
status=$?
for i in "${!pids[@]}"; do
  kill -0 "${pids[i]}" 2>/dev/null || say "${names[i]} exited (status $status): see its log in $STATE/logs"
done
exit 1
