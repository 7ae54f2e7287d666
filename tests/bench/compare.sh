#!/bin/bash
# tests/bench/compare.sh [MQTTBENCH] [STARLING] - Starling vs Debian's mosquitto, same config,
# same load, alternating brokers scenario by scenario. Prints a table; raw RESULT lines go to
# $OUT (default /tmp/starling-compare.txt). Takes about 2.5 minutes.
#   DURATION=5 WARMUP=1 IDLE_CONNS=2000 PUBS=4 SUBS=8 SIZE=64 tests/bench/compare.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/build-dev/tests/bench/mqttbench}
starling=${2:-$root/build-dev/broker/starling}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-2000}
PUBS=${PUBS:-4}
SUBS=${SUBS:-8}
SIZE=${SIZE:-64}
OUT=${OUT:-${TMPDIR:-/tmp}/starling-compare.txt}

dir=$(mktemp -d)
if [ ! -x "$bench" ] && [ $# -lt 1 ]; then	# not built by CMake yet: compile it here
	bench=$dir/mqttbench
	cc -O2 -Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L -o "$bench" \
		"$here/mqttbench.c" || exit 2
fi
for f in "$bench" "$starling" "$mosquitto"; do
	[ -x "$f" ] || { echo "compare: $f is not executable" >&2; exit 2; }
done
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
wait_port() {
	for _ in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# start NAME BINARY: writes the shared config, starts the broker, sets port_NAME and pid_NAME.
start() {
	local name=$1 bin=$2 port
	port=$(free_port)
	cat >"$dir/$name.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 1000000
max_inflight_messages 0
persistence false
CONF
	ulimit -n 20000 2>/dev/null
	"$bin" -c "$dir/$name.conf" >"$dir/$name.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	if ! wait_port "$port"; then
		echo "compare: $name did not start" >&2
		cat "$dir/$name.log"
		exit 1
	fi
	printf -v "port_$name" %s "$port"
	printf -v "pid_$name" %s "$pid"
}
start starling "$starling"
start mosquitto "$mosquitto"

# field LINE KEY -> value of KEY=... in a RESULT line
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# run NAME ARGS... -> the RESULT line (or "RESULT failed")
run() {
	local name=$1 port pid line
	shift
	port=port_$name pid=pid_$name
	line=$(timeout 60 "$bench" --host 127.0.0.1 --port "${!port}" --broker-pid "${!pid}" "$@" \
		2>>"$dir/bench.err" | grep '^RESULT')
	echo "broker=$name ${line:-RESULT failed}" >>"$OUT"
	echo "${line:-RESULT failed}"
}

: >"$OUT"
rows=()
# Idle first, on fresh brokers, so the RSS delta is not hidden by heap left from earlier load.
s=$(run starling --scenario idle --conns "$IDLE_CONNS")
m=$(run mosquitto --scenario idle --conns "$IDLE_CONNS")
idle_row=$(printf '%-12s %10s %10s conn/s   bytes/conn: starling %s, mosquitto %s' \
	"idle $IDLE_CONNS" "$(field "$s" connect_per_s)" "$(field "$m" connect_per_s)" \
	"$(field "$s" bytes_per_conn)" "$(field "$m" bytes_per_conn)")
sleep 1	# let the idle connections close

i=0
for qos in 0 1; do
	for sc in fanin pairs fanout; do
		args=(--scenario "$sc" --qos "$qos" --pubs "$PUBS" --subs "$SUBS" --size "$SIZE"
			--duration "$DURATION" --warmup "$WARMUP")
		if ((i++ % 2 == 0)); then	# alternate which broker goes first
			s=$(run starling "${args[@]}"); m=$(run mosquitto "${args[@]}")
		else
			m=$(run mosquitto "${args[@]}"); s=$(run starling "${args[@]}")
		fi
		sr=$(field "$s" msgs_per_s) mr=$(field "$m" msgs_per_s)
		ratio=$(awk -v a="${sr:-0}" -v b="${mr:-0}" \
			'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		rows+=("$(printf '%-12s %10s %10s %6s %8s %8s %8s %8s %5s %5s' "$sc q$qos" \
			"${sr:--}" "${mr:--}" "$ratio" \
			"$(field "$s" p99_us)" "$(field "$m" p99_us)" \
			"$(field "$s" cpu_s_per_mmsg)" "$(field "$m" cpu_s_per_mmsg)" \
			"$(field "$s" lost)/$(field "$s" dup)" \
			"$(field "$m" lost)/$(field "$m" dup)")")
	done
done

echo "pubs=$PUBS subs(fanout)=$SUBS size=$SIZE duration=${DURATION}s warmup=${WARMUP}s," \
	"closed loop (64 outstanding per publisher); cores: $(nproc)"
printf '%-12s %10s %10s %6s %8s %8s %8s %8s %5s %5s\n' scenario "S msg/s" "M msg/s" "S/M" \
	"S p99us" "M p99us" "S cpu/M" "M cpu/M" "S l/d" "M l/d"
printf '%s\n' "${rows[@]}"
printf '%-12s %10s %10s\n' "" "S" "M"
echo "$idle_row"
echo "(S = Starling, M = mosquitto; msg/s = messages received by subscribers; cpu/M = broker"
echo " CPU seconds (utime+stime) per million delivered messages; l/d = lost/duplicated)"
