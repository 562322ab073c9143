#!/usr/bin/env bash
# Starts a private PostgreSQL server for the catalogue tests and prints the
# URL they read:
#
#   XLGW_TEST_POSTGRES=postgres://xlgw:xlgw@127.0.0.1:55432/xlgw_test
#
# Run as root on Debian 12: installs Debian's `postgresql` if missing, makes a
# cluster in $XLGW_PG_DIR (default /var/tmp/xlgw-postgres) owned by the
# `postgres` user, listening on 127.0.0.1:$XLGW_PG_PORT (default 55432) only,
# and creates the role `xlgw` (password `xlgw`, may create databases: each
# test makes its own) and the database `xlgw_test`. As another user it runs
# the server as that user (PostgreSQL must then be installed already).
#
# Idempotent and safe to run concurrently: when the server already runs it
# only prints the URL. Everything but that line goes to stderr, so
#   eval "export $(bash scripts/postgres-test.sh)"
# sets the variable. `--stop` stops the server.
set -euo pipefail

PORT="${XLGW_PG_PORT:-55432}"
DIR="${XLGW_PG_DIR:-/var/tmp/xlgw-postgres}"
DATA="$DIR/data"
SOCK="$DIR/sock"
LOG="$DIR/server.log"
USER_NAME=xlgw
USER_PASS=xlgw
DB=xlgw_test
URL="postgres://$USER_NAME:$USER_PASS@127.0.0.1:$PORT/$DB"

say() { echo "postgres-test: $*" >&2; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

if [ "$(id -u)" -eq 0 ]; then
  AS=(runuser -u postgres --)
else
  AS=()
fi

BIN=$(bindir || true)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "PostgreSQL is not installed; run this script as root to install it"
    exit 1
  fi
  say "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN=$(bindir || true)
  if [ -z "$BIN" ]; then
    say "postgresql installed but no initdb under /usr/lib/postgresql"
    exit 1
  fi
fi

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$DATA/postmaster.pid" ]; then
    "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
  fi
  exit 0
fi

mkdir -p "$DIR"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$DIR"
fi

# One runner at a time (tests in several processes may call this at once).
exec 9>"$DIR.lock"
flock 9

psql_admin() {
  "${AS[@]}" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres "$@"
}

if [ ! -f "$DATA/PG_VERSION" ]; then
  say "creating cluster in $DATA"
  "${AS[@]}" mkdir -p "$DATA" "$SOCK"
  "${AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >&2
fi
"${AS[@]}" mkdir -p "$SOCK"

if ! "$BIN/pg_isready" -q -h "$SOCK" -p "$PORT"; then
  if ! "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "starting server on 127.0.0.1:$PORT"
    # 9>&-: the server must not inherit (and so hold) the lock.
    "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCK -c max_connections=200" start >&2 9>&- || {
      say "server did not start; last lines of $LOG:"
      tail -n 20 "$LOG" >&2 || true
      exit 1
    }
  fi
  for _ in $(seq 1 60); do
    "$BIN/pg_isready" -q -h "$SOCK" -p "$PORT" && break
    sleep 0.5
  done
fi

psql_admin <<SQL >&2
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN CREATEDB PASSWORD '$USER_PASS';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $DB OWNER $USER_NAME'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')
\gexec
SQL

echo "XLGW_TEST_POSTGRES=$URL"
