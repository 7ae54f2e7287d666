#!/bin/sh
# tests/services/redis.sh - a throwaway Redis server for tests.
#
#   redis.sh start DIR PORT [ARG...]  start redis-server on 127.0.0.1:PORT with its files in DIR
#                                     (appendonly yes, appendfsync always: a crash loses nothing
#                                     acknowledged; no RDB snapshots), daemonized with
#                                     DIR/redis.pid, wait until it answers PING (dataset
#                                     loaded), print the URL. ARGs go to redis-server
#                                     (e.g. --requirepass s3cret).
#   redis.sh stop DIR                 SIGTERM (Redis's SHUTDOWN: AOF flushed), waits for exit
#   redis.sh kill DIR                 SIGKILL (a crash), waits for exit
#
# Only the URL goes to stdout; errors go to stderr, the server log to DIR/redis.log. Exit status
# 0 on success. REDIS_SERVER / REDIS_CLI override the binaries. With REDIS_OWNER_PID set, a
# detached watcher kills the server once that process is gone, so a test killed on a timeout
# does not leave a server behind.
set -eu

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}

usage() {
	echo "usage: $0 start DIR PORT [ARG...] | stop DIR | kill DIR" >&2
	exit 2
}

alive() {
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
}

running_pid() {
	[ -f "$1/redis.pid" ] || return 1
	pid=$(head -n 1 "$1/redis.pid")
	[ -n "$pid" ] && alive "$pid" && echo "$pid"
}

# Waits (bounded, 10 s) until pid is gone; a zombie (no reaper in a container) counts as gone.
wait_gone() {
	n=0
	while [ $n -lt 200 ] && alive "$1"; do
		sleep 0.05
		n=$((n + 1))
	done
	if alive "$1"; then
		echo "redis.sh: pid $1 still running" >&2
		return 1
	fi
}

start() {
	dir=$1 port=$2
	shift 2
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if ! running_pid "$dir" >/dev/null; then
		rm -f "$dir/redis.pid"
		echo "$port" >"$dir/port"
		"$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --dir "$dir" \
			--daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
			--appendonly yes --appendfsync always --save '' "$@" || {
			tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
			exit 1
		}
	fi
	# PING answers PONG once the AOF is loaded (LOADING before); NOAUTH means up with a
	# password, and then loaded too only if we could AUTH, so that case waits for the port only.
	n=0
	while :; do
		out=$("$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>&1 || true)
		case $out in PONG* | NOAUTH*) break ;; esac
		n=$((n + 1))
		if [ $n -ge 600 ]; then
			echo "redis.sh: no PONG on port $port after 30 s: $out" >&2
			tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
			exit 1
		fi
		sleep 0.05
	done
	if [ -n "${REDIS_OWNER_PID:-}" ]; then
		self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
		setsid sh -c 'while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done
			[ -d "$3" ] && "$2" kill "$3"' watcher "$REDIS_OWNER_PID" "$self" "$dir" \
			</dev/null >/dev/null 2>&1 &
	fi
	echo "redis://127.0.0.1:$port"
}

stop() {
	pid=$(running_pid "$1") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_gone "$pid"
	rm -f "$1/redis.pid"
}

kill9() {
	pid=$(running_pid "$1") || return 0
	kill -9 "$pid" 2>/dev/null || true
	wait_gone "$pid"
	rm -f "$1/redis.pid"
}

[ $# -ge 2 ] || usage
case $1 in
start)
	[ $# -ge 3 ] || usage
	shift
	start "$@"
	;;
stop) stop "$2" ;;
kill) kill9 "$2" ;;
*) usage ;;
esac
