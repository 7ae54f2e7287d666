# shellcheck shell=sh
# tests/bench/lib.sh - what the bench scripts share; sourced, not run. POSIX sh, because
# smoke.sh runs under /bin/sh. Scripts that run one broker at a time keep its pid in $pid and
# their files in $dir, and `trap cleanup EXIT`.

# cleanup: stops the broker $pid (if any) and removes $dir.
# shellcheck disable=SC2154 # pid and dir are the sourcing script's
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}

# free_port: a free port on 127.0.0.1: the kernel picks one, the caller hands it to a broker
# (a small race: another process may take it first).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_port PORT [PID]: waits up to about 5 s for 127.0.0.1:PORT to accept a connection.
# Returns 0 once it does, 1 if it does not, or 1 at once when process PID has exited.
wait_port() {
	for _ in $(seq 50); do
		[ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
		python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
