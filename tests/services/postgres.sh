#!/bin/sh
# tests/services/postgres.sh - a throwaway PostgreSQL 15 server for tests.
#
#   postgres.sh start DIR PORT   initdb DIR if it holds no cluster, start postgres on
#                                127.0.0.1:PORT (unix socket in DIR, fsync on), wait until it
#                                accepts connections, create database `starling`, print the DSN
#   postgres.sh stop DIR         fast shutdown (pg_ctl -m fast), waits for it
#   postgres.sh kill DIR         SIGKILL the postmaster and its children (a crash), waits
#
# Only the DSN goes to stdout; progress and errors go to stderr, the server log to
# DIR/server.log. Exit status 0 on success. Run as root, the server runs as user `postgres`
# (DIR is chowned to it). PG_BIN overrides /usr/lib/postgresql/15/bin. With PG_OWNER_PID set,
# a detached watcher kills the server once that process is gone, so a test killed on a
# timeout does not leave a server behind.
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

usage() {
	echo "usage: $0 start DIR PORT | stop DIR | kill DIR" >&2
	exit 2
}

# Runs a server binary as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

alive() {
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
}

running_pid() {
	[ -f "$1/postmaster.pid" ] || return 1
	pid=$(head -n 1 "$1/postmaster.pid")
	[ -n "$pid" ] && alive "$pid" && echo "$pid"
}

start() {
	dir=$1 port=$2
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	if [ ! -f "$dir/PG_VERSION" ]; then
		# --no-sync only for initdb's own files; the server below runs with fsync on.
		out=$(as_owner "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 \
			--locale=C --no-sync 2>&1) || {
			echo "$out" >&2
			exit 1
		}
	fi
	if ! running_pid "$dir" >/dev/null; then
		as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -s \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir" \
			-o "-c fsync=on -c synchronous_commit=on -c max_connections=50" \
			-o "-c shared_buffers=16MB -c logging_collector=off" start >&2 || {
			tail -n 20 "$dir/server.log" >&2
			exit 1
		}
	fi
	psql="$PG_BIN/psql -X -q -h $dir -p $port -U postgres"
	if [ "$($psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'starling'")" != 1 ]; then
		$psql -d postgres -c "CREATE DATABASE starling" >&2
	fi
	if [ -n "${PG_OWNER_PID:-}" ]; then
		self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
		setsid sh -c 'while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done
			[ -d "$3" ] && "$2" kill "$3"' watcher "$PG_OWNER_PID" "$self" "$dir" \
			</dev/null >/dev/null 2>&1 &
	fi
	echo "host=127.0.0.1 port=$port dbname=starling user=postgres"
}

stop() {
	dir=$1
	running_pid "$dir" >/dev/null || return 0
	as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 60 -s stop >&2
}

kill9() {
	dir=$1
	pid=$(running_pid "$dir") || return 0
	# Children first listed, then all killed at once: orphaned backends would keep the
	# shared memory and stop the next start.
	kids=$(pgrep -P "$pid" || true)
	kill -9 "$pid" $kids 2>/dev/null || true
	# Bounded wait; a zombie (no reaper in a container) counts as gone.
	for p in $pid $kids; do
		n=0
		while [ $n -lt 200 ] && alive "$p"; do
			sleep 0.05
			n=$((n + 1))
		done
	done
	# A zombie postmaster (nobody reaps in some containers) still answers kill(pid, 0), so
	# the next postmaster would take the lock files for live: remove them, and the shared
	# memory segment they name, now that nothing of the old server runs.
	shm=$(sed -n 7p "$dir/postmaster.pid" | awk '{print $2}')
	[ -n "$shm" ] && ipcrm -m "$shm" 2>/dev/null || true
	rm -f "$dir/postmaster.pid" "$dir"/.s.PGSQL.*.lock
}

[ $# -ge 2 ] || usage
case $1 in
start)
	[ $# -eq 3 ] || usage
	start "$2" "$3"
	;;
stop) stop "$2" ;;
kill) kill9 "$2" ;;
*) usage ;;
esac
