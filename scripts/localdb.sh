#!/usr/bin/env bash
# The project-local PostgreSQL 15 + PostGIS cluster: `localdb.sh start|stop|status|dir`.
#
# Data directory and socket live in .pg/ inside the repository (git-ignored). initdb and pg_ctl
# refuse to run as root, so as root they run as the postgres user, which must be able to reach
# the directory; where it cannot (a clone under /root, say), .pg becomes a symlink to a directory
# under /var/tmp, and we say so.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${GRIDMAP_PG_PORT:-54329}
bin=/usr/lib/postgresql/15/bin
link="$root/.pg"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

prepare_dir() {
  [ -e "$link" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    mkdir -p "$link"
    return 0
  fi
  if runuser -u postgres -- test -x "$root" 2>/dev/null; then
    mkdir -p "$link"
  else
    local fallback="/var/tmp/gridmap-pg-$(printf %s "$root" | md5sum | cut -c1-10)"
    echo "localdb: the postgres user cannot enter $root; keeping the cluster in $fallback (.pg links there)"
    mkdir -p "$fallback"
    ln -s "$fallback" "$link"
  fi
  chown postgres:postgres "$(readlink -f "$link")"
  chmod 700 "$(readlink -f "$link")"
}

init_cluster() {
  local dir
  dir=$(readlink -f "$link")
  [ -f "$dir/data/PG_VERSION" ] && return 0
  echo "localdb: initialising a PostgreSQL cluster in $dir/data (port $port)"
  as_owner mkdir -p "$dir/data" "$dir/run"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >/dev/null
  # Local development cluster: trust auth on loopback and the private socket only.
  as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
# A local demo and test cluster: losing the last commits on a crash is acceptable here.
synchronous_commit = off
jit = off
CONF
}

start() {
  prepare_dir
  init_cluster
  local dir
  dir=$(readlink -f "$link")
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null; then
      echo "localdb: PostgreSQL did not start; the end of $dir/postgres.log says:" >&2
      tail -n 4 "$dir/postgres.log" >&2
      echo "localdb: another server on port $port? Set GRIDMAP_PG_PORT to a free port." >&2
      exit 1
    fi
    echo "localdb: started on $dir/run port $port (log: $dir/postgres.log)"
  fi
  if ! psql -h "$dir/run" -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'gridmap'" | grep -q 1; then
    psql -h "$dir/run" -p "$port" -U postgres -d postgres -qc "CREATE DATABASE gridmap"
    echo "localdb: created database gridmap"
  fi
}

stop() {
  [ -e "$link/data/PG_VERSION" ] || { echo "localdb: no cluster"; return 0; }
  as_owner "$bin/pg_ctl" -D "$(readlink -f "$link")/data" -m fast -w stop || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) as_owner "$bin/pg_ctl" -D "$(readlink -f "$link")/data" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
