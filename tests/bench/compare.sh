#!/bin/bash
# tests/bench/compare.sh [MQTTBENCH] [STARLING] - Starling vs Debian's mosquitto, same config,
# same load, alternating brokers scenario by scenario. Prints a table; raw RESULT lines go to
# $OUT (default /tmp/starling-compare.txt). Takes about 2.5 minutes on 2 cores.
#   DURATION=5 WARMUP=1 PUBS=4 SUBS=8 SHARE_SUBS=4 SIZE=64 RATE=10000 RATE_DURATION=10 \
#   IDLE_CONNS=10000 IDLE_RUNS=3 IDLE_SRC_IPS=8 V5=0 tests/bench/compare.sh  (the defaults)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/build-dev/tests/bench/mqttbench}
starling=${2:-$root/build-dev/broker/starling}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_RUNS=${IDLE_RUNS:-3}
IDLE_SRC_IPS=${IDLE_SRC_IPS:-8}
PUBS=${PUBS:-4}
SUBS=${SUBS:-8}
SHARE_SUBS=${SHARE_SUBS:-4}
SIZE=${SIZE:-64}
RATE=${RATE:-10000}
RATE_DURATION=${RATE_DURATION:-10}
V5=${V5:-0}	# 1: MQTT 5.0 clients instead of 3.1.1
proto=()
[ "$V5" = 1 ] && proto=(--v5)
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
# Two brokers at a time here, so not lib.sh's cleanup (one $pid).
cleanup_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup_all EXIT
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

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
sys_interval 1
CONF
	ulimit -n "$(ulimit -Hn)" 2>/dev/null	# IDLE_CONNS descriptors, and then some
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
# stop NAME: stops the broker start NAME began, and forgets its pid.
stop() {
	local pid=pid_$1 p keep=()
	kill "${!pid}" 2>/dev/null
	wait "${!pid}" 2>/dev/null
	for p in "${pids[@]}"; do [ "$p" = "${!pid}" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}

# field LINE KEY -> value of KEY=... in a RESULT line
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# ratio A B -> A/B to two decimals, or "-"
ratio() {
	awk -v a="${1:-0}" -v b="${2:-0}" \
		'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}
# spread V... -> "median (min-max)" of integers
spread() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0 || v[1] == "") { print "-"; exit }
		printf "%s (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
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
# Idle first, each run on a fresh pair of brokers, so the RSS delta is not hidden by heap left
# from an earlier run; the connections leave from IDLE_SRC_IPS loopback addresses.
sc_=() mc_=() sb_=() mb_=()
for _ in $(seq "$IDLE_RUNS"); do
	start starling "$starling"
	start mosquitto "$mosquitto"
	sleep 0.5	# both idle before the first RSS reading
	args=(--scenario idle --conns "$IDLE_CONNS" --src-ips "$IDLE_SRC_IPS" "${proto[@]}")
	s=$(run starling "${args[@]}") m=$(run mosquitto "${args[@]}")
	sc_+=("$(field "$s" connect_per_s)") mc_+=("$(field "$m" connect_per_s)")
	sb_+=("$(field "$s" bytes_per_conn)") mb_+=("$(field "$m" bytes_per_conn)")
	stop starling
	stop mosquitto
done
idle_rows=("$(printf '%-12s %-22s %s' "idle $IDLE_CONNS" "S" "M")"
	"$(printf '%-12s %-22s %s' "  conn/s" "$(spread "${sc_[@]}")" "$(spread "${mc_[@]}")")"
	"$(printf '%-12s %-22s %s' "  bytes/conn" "$(spread "${sb_[@]}")" "$(spread "${mb_[@]}")")")

start starling "$starling"
start mosquitto "$mosquitto"
i=0
for qos in 0 1 2; do
	for sc in fanin shared pairs fanout; do
		# q2 only for pairs, shared only at q1: enough to see the cost of each, in < 3 min
		[ "$qos" = 2 ] && [ "$sc" != pairs ] && continue
		[ "$sc" = shared ] && [ "$qos" != 1 ] && continue
		subs=$SUBS
		[ "$sc" = shared ] && subs=$SHARE_SUBS
		args=(--scenario "$sc" --qos "$qos" --pubs "$PUBS" --subs "$subs" --size "$SIZE"
			--duration "$DURATION" --warmup "$WARMUP" "${proto[@]}")
		if ((i++ % 2 == 0)); then	# alternate which broker goes first
			s=$(run starling "${args[@]}"); m=$(run mosquitto "${args[@]}")
		else
			m=$(run mosquitto "${args[@]}"); s=$(run starling "${args[@]}")
		fi
		sr=$(field "$s" msgs_per_s) mr=$(field "$m" msgs_per_s)
		rows+=("$(printf '%-12s %10s %10s %6s %8s %8s %8s %8s %5s %5s' "$sc q$qos" \
			"${sr:--}" "${mr:--}" "$(ratio "$sr" "$mr")" \
			"$(field "$s" p99_us)" "$(field "$m" p99_us)" \
			"$(field "$s" cpu_s_per_mmsg)" "$(field "$m" cpu_s_per_mmsg)" \
			"$(field "$s" lost)/$(field "$s" dup)" \
			"$(field "$m" lost)/$(field "$m" dup)")")
	done
done

# Latency at a fixed rate well under both brokers' capacity: pairs, so each message has one
# publisher and one subscriber, and the rate is split evenly over PUBS connections.
args=(--scenario pairs --qos 1 --pubs "$PUBS" --rate "$RATE" --size "$SIZE"
	--duration "$RATE_DURATION" --warmup "$WARMUP" "${proto[@]}")
s=$(run starling "${args[@]}") m=$(run mosquitto "${args[@]}")
# The longest any Starling worker loop went without polling, over every row above ($SYS).
stall=$(mosquitto_sub -p "$port_starling" -t '$SYS/broker/loop/stall_max_us' -C 1 -W 5 \
	2>/dev/null || echo "-")
lat() { echo "$(field "$1" p50_us)/$(field "$1" p99_us)/$(field "$1" p999_us)"; }
rate_row=$(printf '%-12s %10s %10s %-17s %-17s %7s %5s %5s' "pairs q1" \
	"$(field "$s" msgs_per_s)" "$(field "$m" msgs_per_s)" "$(lat "$s")" "$(lat "$m")" \
	"$(ratio "$(field "$s" p99_us)" "$(field "$m" p99_us)")" \
	"$(field "$s" lost)/$(field "$s" dup)" "$(field "$m" lost)/$(field "$m" dup)")

echo "pubs=$PUBS subs(fanout)=$SUBS subs(shared)=$SHARE_SUBS size=$SIZE duration=${DURATION}s" \
	"warmup=${WARMUP}s, closed loop (64 outstanding per publisher); cores: $(nproc)"
echo "TCP_NODELAY: Starling on (its default), mosquitto off (its default);" \
	"MQTT $([ "$V5" = 1 ] && echo 5.0 || echo 3.1.1)"
printf '%-12s %10s %10s %6s %8s %8s %8s %8s %5s %5s\n' scenario "S msg/s" "M msg/s" "S/M" \
	"S p99us" "M p99us" "S cpu/M" "M cpu/M" "S l/d" "M l/d"
printf '%s\n' "${rows[@]}"
echo
echo "fixed rate $RATE msg/s, ${RATE_DURATION}s, $PUBS pairs; latency in us, p50/p99/p99.9"
printf '%-12s %10s %10s %-17s %-17s %7s %5s %5s\n' scenario "S msg/s" "M msg/s" "S lat" \
	"M lat" "S/M p99" "S l/d" "M l/d"
echo "$rate_row"
echo "worst loop stall (Starling, longest turn of a worker loop outside its poll, all rows):" \
	"${stall} us"
echo
echo "idle: $IDLE_RUNS runs on fresh brokers, $IDLE_SRC_IPS source addresses; median (min-max)"
printf '%s\n' "${idle_rows[@]}"
echo "(S = Starling, M = mosquitto; msg/s = messages received by subscribers; cpu/M = broker"
echo " CPU seconds (utime+stime) per million delivered messages; l/d = lost/duplicated;"
echo " bytes/conn = broker VmRSS after all connected and 1 s idle, minus before, / connections)"
