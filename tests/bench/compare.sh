#!/bin/bash
# tests/bench/compare.sh [MQTTBENCH] [STARLING] - Starling (default worker count, and
# `worker_threads 1`) vs Debian's mosquitto, same config, same load, brokers taking turns.
# Prints tables; raw RESULT lines go to $OUT (default /tmp/starling-compare.txt).
# Sections (SECTIONS, default all four, each can be left out):
#   full   closed loop, each scenario once per FULL_RUNS against all three brokers (~2.5 min)
#   rate   fan-in and pairs at QoS 0 and 1 at RATE msg/s, RATE_RUNS runs of each row, a fresh
#          broker per run; broker CPU and p50/p99/p99.9 (~7.5 min)
#   mixed  MIXED_CONNS connections, publishers at 1 msg/s each, MIXED_SUBS wildcard
#          subscribers, MIXED_RUNS runs, a fresh broker per run (~2 min)
#   idle   IDLE_CONNS idle connections, IDLE_RUNS runs on fresh brokers (~0.5-1 min)
# About 12 minutes in all on 2 cores with the defaults (708 and 746 s measured).
#   SECTIONS="full rate mixed idle" DURATION=5 WARMUP=1 PUBS=4 SUBS=8 SHARE_SUBS=4 SIZE=64 \
#   FULL_RUNS=1 RATE=10000 RATE_DURATION=10 RATE_RUNS=3 MIXED_CONNS=1000 MIXED_SUBS=4 \
#   MIXED_QOS=1 MIXED_DURATION=10 MIXED_RUNS=3 IDLE_CONNS=10000 IDLE_RUNS=3 IDLE_SRC_IPS=8 \
#   V5=0 tests/bench/compare.sh  (the defaults)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/build-dev/tests/bench/mqttbench}
starling=${2:-$root/build-dev/broker/starling}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
SECTIONS=${SECTIONS:-full rate mixed idle}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
FULL_RUNS=${FULL_RUNS:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_RUNS=${IDLE_RUNS:-3}
IDLE_SRC_IPS=${IDLE_SRC_IPS:-8}
PUBS=${PUBS:-4}
SUBS=${SUBS:-8}
SHARE_SUBS=${SHARE_SUBS:-4}
SIZE=${SIZE:-64}
RATE=${RATE:-10000}
RATE_DURATION=${RATE_DURATION:-10}
RATE_RUNS=${RATE_RUNS:-3}
MIXED_CONNS=${MIXED_CONNS:-1000}
MIXED_SUBS=${MIXED_SUBS:-4}
MIXED_QOS=${MIXED_QOS:-1}
MIXED_DURATION=${MIXED_DURATION:-10}
MIXED_RUNS=${MIXED_RUNS:-3}
V5=${V5:-0}	# 1: MQTT 5.0 clients instead of 3.1.1
proto=()
[ "$V5" = 1 ] && proto=(--v5)
OUT=${OUT:-${TMPDIR:-/tmp}/starling-compare.txt}
# The issue 13 targets for the default worker count at a fixed rate, against mosquitto.
CPU_TARGET=0.75
LAT_TARGET=1.00

dir=$(mktemp -d)
if [ ! -x "$bench" ] && [ $# -lt 1 ]; then	# not built by CMake yet: compile it here
	bench=$dir/mqttbench
	cc -O2 -Wall -Wextra -Werror -Wvla -std=c11 -D_POSIX_C_SOURCE=200809L -o "$bench" \
		"$here/mqttbench.c" || exit 2
fi
for f in "$bench" "$starling" "$mosquitto"; do
	[ -x "$f" ] || { echo "compare: $f is not executable" >&2; exit 2; }
done
pids=()
# Several brokers at a time here, so not lib.sh's cleanup (one $pid).
cleanup_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup_all EXIT
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

# The three brokers, in the order they take turns. S = Starling with its default worker count
# (one per core), S1 = Starling with `worker_threads 1`, M = mosquitto.
brokers=(starling mosquitto starling1)
declare -A label=([starling]=S [starling1]=S1 [mosquitto]=M)
declare -A binary=([starling]=$starling [starling1]=$starling [mosquitto]=$mosquitto)

# has SECTION: whether SECTIONS names it.
has() { [[ " $SECTIONS " == *" $1 "* ]]; }

# start NAME: writes the shared config (starling1 adds worker_threads 1), starts the broker,
# sets port_NAME and pid_NAME.
start() {
	local name=$1 port
	port=$(free_port)
	cat >"$dir/$name.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 1000000
max_inflight_messages 0
persistence false
sys_interval 1
CONF
	[ "$name" = starling1 ] && echo "worker_threads 1" >>"$dir/$name.conf"
	# STARLING_CONF: extra lines for both Starling columns (e.g. "worker_placement hash").
	[ "$name" != mosquitto ] && [ -n "${STARLING_CONF:-}" ] &&
		printf '%s\n' "$STARLING_CONF" >>"$dir/$name.conf"
	ulimit -n "$(ulimit -Hn)" 2>/dev/null	# IDLE_CONNS descriptors, and then some
	"${binary[$name]}" -c "$dir/$name.conf" >"$dir/$name.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	if ! wait_port "$port" "$pid"; then
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
	awk -v a="${1:-}" -v b="${2:-0}" \
		'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "-" }'
}
# numbers V... -> the arguments that are numbers, one a line, sorted
numbers() { printf '%s\n' "$@" | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g; }
# med V... -> the median (the lower of the middle two), or "" if none is a number
med() { numbers "$@" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
# spread V... -> "median (min-max)", or the value alone if all are equal, or "-"
spread() {
	numbers "$@" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = v[int((NR + 1) / 2)]
		if (v[1] == v[NR]) print m; else printf "%s (%s-%s)", m, v[1], v[NR] }'
}
# sum V... -> the sum of the numbers among them
sum() { numbers "$@" | awk '{ s += $1 } END { print s + 0 }'; }
# mark RATIO TARGET -> "ok" if RATIO <= TARGET, "over" if above, "" if no ratio
mark() {
	awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-") print ""; else if (r + 0 <= t + 0) print "ok";
		else print "over" }'
}
# run NAME ARGS... -> the RESULT line (or "RESULT failed")
run() {
	local name=$1 port pid line
	shift
	port=port_$name pid=pid_$name
	line=$(timeout 90 "$bench" --host 127.0.0.1 --port "${!port}" --broker-pid "${!pid}" "$@" \
		2>>"$dir/bench.err" | grep '^RESULT')
	echo "broker=$name ${line:-RESULT failed}" >>"$OUT"
	echo "${line:-RESULT failed}"
}

# Results by "ROW|BROKER|KEY": the values of KEY in each run, space separated.
declare -A res
# keep ROW BROKER LINE: files the RESULT line's figures under ROW and BROKER.
keep() {
	local k
	if [ "$3" = "RESULT failed" ]; then
		res["$1|$2|failed"]+="1 "
		return
	fi
	for k in msgs_per_s p50_us p99_us p999_us cpu_pct cpu_s_per_mmsg lost dup skipped; do
		res["$1|$2|$k"]+="$(field "$3" "$k") "
	done
}
# vals ROW BROKER KEY -> the values filed, split into words by the caller
vals() { echo "${res["$1|$2|$3"]:-}"; }
# losses ROW BROKER -> "lost/dup" summed over the runs, "/skipped" if any skipped, or "failed N"
losses() {
	local f s
	# shellcheck disable=SC2046 # the values are words on purpose
	f=$(sum $(vals "$1" "$2" failed))
	[ "$f" != 0 ] && { echo "failed $f"; return; }
	# shellcheck disable=SC2046
	s="$(sum $(vals "$1" "$2" lost))/$(sum $(vals "$1" "$2" dup))"
	# shellcheck disable=SC2046
	[ "$(sum $(vals "$1" "$2" skipped))" != 0 ] && s+="/$(sum $(vals "$1" "$2" skipped))"
	echo "$s"
}
# m ROW BROKER KEY -> the median of KEY over the runs
# shellcheck disable=SC2046
m() { med $(vals "$1" "$2" "$3"); }
# sp ROW BROKER KEY -> median (min-max) of KEY over the runs
# shellcheck disable=SC2046
sp() { spread $(vals "$1" "$2" "$3"); }
# turn K -> the brokers in the order of turn K: each turn starts one later than the last
turn() {
	local j
	for j in 0 1 2; do echo "${brokers[($1 + j) % 3]}"; done
}

: >"$OUT"
t_start=$SECONDS

# Idle first, each run on a fresh pair of brokers, so the RSS delta is not hidden by heap left
# from an earlier run; the connections leave from IDLE_SRC_IPS loopback addresses.
# took SECTION T0: notes that SECTION ran from T0 until now.
took=()
took() { took+=("$1 $((SECONDS - $2)) s"); }

t=$SECONDS
if has idle; then
	for _ in $(seq "$IDLE_RUNS"); do
		start starling
		start mosquitto
		sleep 0.5	# both idle before the first RSS reading
		args=(--scenario idle --conns "$IDLE_CONNS" --src-ips "$IDLE_SRC_IPS" "${proto[@]}")
		for b in starling mosquitto; do
			line=$(run "$b" "${args[@]}")
			res["idle|$b|conn"]+="$(field "$line" connect_per_s) "
			res["idle|$b|bytes"]+="$(field "$line" bytes_per_conn) "
		done
		stop starling
		stop mosquitto
	done
	took idle "$t"
fi

# Full speed: the three brokers stay up for every row; each row runs against each in turn.
full_rows=()
t=$SECONDS
if has full; then
	for b in "${brokers[@]}"; do start "$b"; done
	for r in $(seq "$FULL_RUNS"); do
		i=$r
		for qos in 0 1 2; do
			for sc in fanin shared pairs fanout; do
				# q2 only for pairs, shared only at q1: the cost of each, in little time
				[ "$qos" = 2 ] && [ "$sc" != pairs ] && continue
				[ "$sc" = shared ] && [ "$qos" != 1 ] && continue
				subs=$SUBS
				[ "$sc" = shared ] && subs=$SHARE_SUBS
				args=(--scenario "$sc" --qos "$qos" --pubs "$PUBS" --subs "$subs"
					--size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" "${proto[@]}")
				row="$sc q$qos"
				[ "$r" = 1 ] && full_rows+=("$row")
				for b in $(turn $((i++))); do keep "full $row" "$b" "$(run "$b" "${args[@]}")"; done
			done
		done
	done
	# The longest any Starling worker loop went without polling, over every row ($SYS).
	# shellcheck disable=SC2154,SC2016 # port_starling is set by start; $SYS is a topic
	stall=$(mosquitto_sub -p "$port_starling" -t '$SYS/broker/loop/stall_max_us' -C 1 -W 5 \
		2>/dev/null || echo "-")
	for b in "${brokers[@]}"; do stop "$b"; done
	took full "$t"
fi

# fresh_run ROW TURN ARGS...: one run of ROW against each broker in the order of TURN, each on
# a broker started for it and stopped after it.
fresh_run() {
	local row=$1 k=$2 b
	shift 2
	for b in $(turn "$k"); do
		start "$b"
		sleep 0.3	# let it settle: its start is not the measured window's
		keep "$row" "$b" "$(run "$b" "$@")"
		stop "$b"
	done
}

# Fixed rate, well under every broker's capacity: latency and broker CPU, not throughput. The
# rate is split evenly over PUBS publishers; fan-in ends at one subscriber of bench/#, pairs at
# PUBS subscribers of one topic each. A fresh broker for each run of each row.
rate_rows=("fanin q0" "fanin q1" "pairs q0" "pairs q1")
t=$SECONDS
if has rate; then
	k=0
	for _ in $(seq "$RATE_RUNS"); do
		for row in "${rate_rows[@]}"; do
			args=(--scenario "${row% *}" --qos "${row#*q}" --pubs "$PUBS" --rate "$RATE"
				--size "$SIZE" --duration "$RATE_DURATION" --warmup "$WARMUP" "${proto[@]}")
			fresh_run "rate $row" $((k++)) "${args[@]}"
		done
	done
	took rate "$t"
fi

# Mixed: MIXED_CONNS connections, MIXED_SUBS of them wildcard subscribers that each get every
# message, the others publishers at 1 msg/s each on site/<i/10>/sensor/<i%10>.
mixed_row="mixed $MIXED_CONNS"
t=$SECONDS
if has mixed; then
	args=(--scenario mixed --conns "$MIXED_CONNS" --subs "$MIXED_SUBS" --qos "$MIXED_QOS"
		--size "$SIZE" --duration "$MIXED_DURATION" --warmup "$WARMUP" "${proto[@]}")
	for k in $(seq "$MIXED_RUNS"); do fresh_run "$mixed_row" "$k" "${args[@]}"; done
	took mixed "$t"
fi

# lat_line and full_line: one line of a table, header or row.
lat_line() { printf '%-10s %-4s %7s  %-20s %-18s %-20s %-22s %s\n' "$@"; }
full_line() { printf '%-10s %9s %9s %9s %6s %5s %7s %7s %7s %6s %6s %6s %5s  %s\n' "$@"; }
# lat_table PREFIX ROW...: per row (its results filed as PREFIX ROW) and broker, the medians (min-max) over the runs, then the ratios to
# mosquitto of the medians, marked against the issue's targets for S.
lat_table() {
	local pre=$1 row b k
	shift
	lat_line row broker msg/s "cpu %" "p50 us" "p99 us" "p99.9 us" "l/d"
	for row in "$@"; do
		k="$pre$row"
		for b in starling starling1 mosquitto; do
			lat_line "$([ "$b" = starling ] && echo "$row")" "${label[$b]}" \
				"$(m "$k" "$b" msgs_per_s)" "$(sp "$k" "$b" cpu_pct)" \
				"$(sp "$k" "$b" p50_us)" "$(sp "$k" "$b" p99_us)" \
				"$(sp "$k" "$b" p999_us)" "$(losses "$k" "$b")"
		done
		for b in starling starling1; do
			local c p99 p999
			c=$(ratio "$(m "$k" "$b" cpu_pct)" "$(m "$k" mosquitto cpu_pct)")
			p99=$(ratio "$(m "$k" "$b" p99_us)" "$(m "$k" mosquitto p99_us)")
			p999=$(ratio "$(m "$k" "$b" p999_us)" "$(m "$k" mosquitto p999_us)")
			if [ "$b" = starling ]; then
				c+=" $(mark "$c" $CPU_TARGET)" p99+=" $(mark "$p99" $LAT_TARGET)"
				p999+=" $(mark "$p999" $LAT_TARGET)"
			fi
			lat_line "" "${label[$b]}/M" "" "$c" "" "$p99" "$p999" ""
		done
	done
}

echo "cores: $(nproc); MQTT $([ "$V5" = 1 ] && echo 5.0 || echo 3.1.1); S = Starling, default" \
	"worker count ($(nproc)), S1 = Starling worker_threads 1, M = mosquitto"
echo "TCP_NODELAY: Starling on (its default), mosquitto off (its default)"
if has full; then
	echo
	echo "full speed: closed loop (64 outstanding per publisher), pubs=$PUBS" \
		"subs(fanout)=$SUBS subs(shared)=$SHARE_SUBS size=$SIZE ${DURATION}s after" \
		"${WARMUP}s warm-up; $FULL_RUNS run(s), median"
	full_line scenario "S msg/s" "S1 msg/s" "M msg/s" "S/M" "S/S1" "S p99" "S1 p99" \
		"M p99" "S cpu" "S1 cpu" "M cpu" "S/S1" "l/d S S1 M"
	for row in "${full_rows[@]}"; do
		k="full $row"
		s=$(m "$k" starling msgs_per_s) s1=$(m "$k" starling1 msgs_per_s)
		c=$(m "$k" starling cpu_s_per_mmsg) c1=$(m "$k" starling1 cpu_s_per_mmsg)
		full_line "$row" "${s:--}" "${s1:--}" "$(m "$k" mosquitto msgs_per_s)" \
			"$(ratio "$s" "$(m "$k" mosquitto msgs_per_s)")" "$(ratio "$s" "$s1")" \
			"$(m "$k" starling p99_us)" "$(m "$k" starling1 p99_us)" \
			"$(m "$k" mosquitto p99_us)" "${c:--}" "${c1:--}" \
			"$(m "$k" mosquitto cpu_s_per_mmsg)" "$(ratio "$c" "$c1")" \
			"$(losses "$k" starling) $(losses "$k" starling1) $(losses "$k" mosquitto)"
	done
	echo "(msg/s = messages received by subscribers; p99 in us; cpu = broker CPU us per message"
	echo " received (= CPU s per million); S/S1: msg/s, then cpu; l/d = lost/duplicated)"
	echo "worst loop stall (S, longest turn of a worker loop outside its poll, all rows):" \
		"${stall} us"
fi
if has rate; then
	echo
	echo "fixed rate $RATE msg/s over $PUBS publishers, ${RATE_DURATION}s after ${WARMUP}s" \
		"warm-up, QoS as named; $RATE_RUNS runs, a fresh broker each; median (min-max)"
	lat_table "rate " "${rate_rows[@]}"
fi
if has mixed; then
	echo
	echo "mixed: $MIXED_CONNS connections, $((MIXED_CONNS - MIXED_SUBS)) publishers at 1 msg/s" \
		"each, $MIXED_SUBS wildcard subscribers (each gets every message), QoS $MIXED_QOS," \
		"${MIXED_DURATION}s after ${WARMUP}s warm-up; $MIXED_RUNS runs, a fresh broker each"
	lat_table "" "$mixed_row"
fi
if has rate || has mixed; then
	echo "(cpu % = broker utime+stime over the measured window, % of one core; msg/s = messages"
	echo " received; ratios are of the medians; ok/over: against the issue's targets for S,"
	echo " cpu <= $CPU_TARGET and latency <= $LAT_TARGET x mosquitto's; l/d = lost/duplicated"
	echo " over all runs, /N = N sends skipped over a full window)"
fi
if has idle; then
	echo
	echo "idle $IDLE_CONNS: $IDLE_RUNS runs on fresh brokers, $IDLE_SRC_IPS source addresses;" \
		"median (min-max)"
	printf '%-12s %-22s %s\n' "" S M
	for k in conn bytes; do
		# shellcheck disable=SC2046
		printf '%-12s %-22s %s\n' "  $([ $k = conn ] && echo conn/s || echo bytes/conn)" \
			"$(spread $(vals idle starling $k))" "$(spread $(vals idle mosquitto $k))"
	done
	echo "(bytes/conn = broker VmRSS after all connected and 1 s idle, minus before, / conns)"
fi
echo
printf -v parts '%s, ' "${took[@]}"
echo "took $((SECONDS - t_start)) s (${parts%, }); raw RESULT lines: $OUT"
