#!/bin/bash
# tests/bench/cluster_bench.sh [MQTTBENCH] [STARLING] - what crossing a cluster link costs
# (issue 14). One worker per node (`worker_threads 1`), mqttbench fan-in (PUBS publishers -> 1
# subscriber on bench/#, closed loop), for each QoS in QOS:
#   single   one Starling node without a cluster (the reference)
#   same     publishers and subscriber on node A of a 2-node Starling cluster
#   cross    publishers on node A, subscriber on node B
#   bridge   two mosquitto brokers joined by a bridge (`topic bench/# out 1`), publishers on
#            the one that bridges, subscriber on the other
# Each run twice: closed loop (64 messages outstanding per publisher: the rate follows the
# latency of the path) and open loop at OFFER msg/s, more than any of them carries (the rate is
# what the path can carry: its capacity). The issue's ratios are of capacities; the closed-loop
# table shows what the added hop costs a publisher that waits for its messages.
# then route convergence on the cluster: CONV_TRIALS times a client on A subscribes to a fresh
# topic while a client on B publishes to it in a tight loop from the SUBACK on (cluster_bench.py
# converge). Prints msg/s, p50/p99 latency and the ratios cross/same and cross/bridge.
#   DURATION=5 WARMUP=1 PUBS=4 SIZE=64 QOS="0 1" OFFER=4000000 CONV_TRIALS=200 \
#     tests/bench/cluster_bench.sh
# About 130 s with the defaults; raw RESULT lines go to $OUT (default /tmp/starling-cluster.txt).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pick() { for f in "$@"; do [ -x "$f" ] && { echo "$f"; return; }; done; echo "$1"; }
bench=${1:-$(pick "$root/build-dev/tests/bench/mqttbench" "$root/build/tests/bench/mqttbench")}
starling=${2:-$(pick "$root/build-dev/broker/starling" "$root/build/broker/starling")}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
PUBS=${PUBS:-4}
SIZE=${SIZE:-64}
QOS=${QOS:-0 1}
CONV_TRIALS=${CONV_TRIALS:-200}
OFFER=${OFFER:-4000000}
OUT=${OUT:-${TMPDIR:-/tmp}/starling-cluster.txt}
helper=$here/cluster_bench.py
py=/usr/bin/python3
[ -x $py ] || py=python3

for f in "$bench" "$starling" "$mosquitto"; do
	[ -x "$f" ] || { echo "cluster_bench: $f is not executable" >&2; exit 2; }
done
dir=$(mktemp -d)
pids=()
cleanup_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup_all EXIT
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

# conf NAME PORT LINES... : writes $dir/NAME.conf, the settings compare.sh uses plus LINES.
conf() {
	local name=$1 port=$2
	shift 2
	{
		printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port"
		printf 'max_queued_messages 1000000\nmax_inflight_messages 0\npersistence false\n'
		printf '%s\n' "$@"
	} >"$dir/$name.conf"
}
# launch NAME BINARY PORT: starts BINARY -c NAME.conf, sets pid_NAME and port_NAME.
launch() {
	local name=$1 bin=$2 port=$3 pid
	"$bin" -c "$dir/$name.conf" >"$dir/$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	if ! wait_port "$port" "$pid"; then
		echo "cluster_bench: $name did not start" >&2
		cat "$dir/$name.log" >&2
		exit 1
	fi
	printf -v "pid_$name" %s "$pid"
	printf -v "port_$name" %s "$port"
}
# stop_all: stops every broker started so far.
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	pids=()
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
ratio() {
	awk -v a="${1:-}" -v b="${2:-0}" \
		'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "-" }'
}

declare -A res
# run ROW QOS PUB_NAME SUB_NAME CPU_NAME: mqttbench fan-in, closed loop then open loop at
# OFFER, publishers on PUB_NAME's port, subscriber on SUB_NAME's; broker CPU of CPU_NAME (the
# one the publishers use). Results in res[ROW|QOS] and res[ROW|QOS|cap].
run() {
	local row=$1 qos=$2 pp=port_$3 sp=port_$4 cp=pid_$5 line rate key
	for rate in 0 "$OFFER"; do
		key="$row|$qos"
		[ "$rate" = 0 ] || key="$key|cap"
		line=$(timeout 90 "$bench" --host 127.0.0.1 --port "${!pp}" --sub-port "${!sp}" \
			--broker-pid "${!cp}" --scenario fanin --pubs "$PUBS" --qos "$qos" --size "$SIZE" \
			--rate "$rate" --duration "$DURATION" --warmup "$WARMUP" 2>>"$dir/bench.err" |
			grep '^RESULT')
		line=${line:-RESULT failed}
		echo "row=$row $line" >>"$OUT"
		res["$key"]=$line
		printf '  %-7s qos %s rate %-7s %s\n' "$row" "$qos" "$rate" "$line" >&2
	done
}

: >"$OUT"
t0=$SECONDS
echo "cluster_bench: $PUBS publishers -> 1 subscriber, ${SIZE} B, ${DURATION} s (+${WARMUP} s)," \
	"one worker per node; $starling" >&2

# single: one Starling node, no cluster.
ps=$(free_port)
conf single "$ps" "worker_threads 1"
launch single "$starling" "$ps"
for q in $QOS; do run single "$q" single single single; done
stop_all

# same / cross: a 2-node cluster.
pa=$(free_port) pb=$(free_port) ca=$(free_port) cb=$(free_port)
peers="cluster_peers 127.0.0.1:$ca,127.0.0.1:$cb"
conf a "$pa" "worker_threads 1" "sys_interval 1" "cluster_node_id a" \
	"cluster_bind 127.0.0.1:$ca" "$peers" "cluster_secret bench-secret"
conf b "$pb" "worker_threads 1" "sys_interval 1" "cluster_node_id b" \
	"cluster_bind 127.0.0.1:$cb" "$peers" "cluster_secret bench-secret"
launch a "$starling" "$pa"
launch b "$starling" "$pb"
cluster_ok=1
if ! $py "$helper" flows "$pa" "$pb" 20 || ! $py "$helper" flows "$pb" "$pa" 5; then
	echo "cluster_bench: no traffic crosses the 2-node cluster; its logs:" >&2
	tail -n 5 "$dir/a.log" "$dir/b.log" >&2
	cluster_ok=0
fi
for q in $QOS; do
	run same "$q" a a a
	[ $cluster_ok = 1 ] && run cross "$q" a b a
done
conv=""
if [ $cluster_ok = 1 ]; then
	conv=$(timeout 120 $py "$helper" converge "$pa" "$pb" "$CONV_TRIALS" | grep '^RESULT')
	echo "row=converge ${conv:-RESULT failed}" >>"$OUT"
fi
grep -E 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error: ' \
	"$dir/a.log" "$dir/b.log" >&2 && cluster_ok=0
stop_all

# bridge: mosquitto ma bridges bench/# out to mb.
ma=$(free_port) mb=$(free_port)
conf mb "$mb"
conf ma "$ma" "connection b" "address 127.0.0.1:$mb" "topic bench/# out 1" \
	"bridge_protocol_version mqttv311" "cleansession true" "notifications false" \
	"try_private false"
launch mb "$mosquitto" "$mb"
launch ma "$mosquitto" "$ma"
bridge_ok=1
$py "$helper" flows "$ma" "$mb" 20 || { echo "cluster_bench: the bridge carries nothing" >&2
	bridge_ok=0; }
if [ $bridge_ok = 1 ]; then
	for q in $QOS; do run bridge "$q" ma mb ma; done
fi
stop_all

cell() {
	local l=${res["$1|$2$3"]:-}
	[ -z "$l" ] && { echo "-"; return; }
	[ "$l" = "RESULT failed" ] && { echo "failed"; return; }
	echo "$(field "$l" msgs_per_s) $(field "$l" p50_us)/$(field "$l" p99_us) $(field "$l" lost)/$(field "$l" dup)"
}
rate() { field "${res["$1|$2$3"]:-}" msgs_per_s; }
# table SUFFIX TITLE: one table of the runs under res[ROW|QOS SUFFIX].
table() {
	printf '\n%s, fan-in, %d publishers -> 1 subscriber, %d B, worker_threads 1\n' "$2" "$PUBS" \
		"$SIZE"
	printf '(msg/s delivered, p50/p99 latency us, lost/dup)\n'
	printf '%-4s %-28s %-28s %-28s %-28s %-10s %-11s\n' QoS "single node" \
		"same node (cluster)" "cross node" "mosquitto bridge" cross/same cross/bridge
	for q in $QOS; do
		printf '%-4s %-28s %-28s %-28s %-28s %-10s %-11s\n' "$q" "$(cell single "$q" "$1")" \
			"$(cell same "$q" "$1")" "$(cell cross "$q" "$1")" "$(cell bridge "$q" "$1")" \
			"$(ratio "$(rate cross "$q" "$1")" "$(rate same "$q" "$1")")" \
			"$(ratio "$(rate cross "$q" "$1")" "$(rate bridge "$q" "$1")")"
	done
}
table "|cap" "capacity (open loop, $OFFER msg/s offered)"
table "" "closed loop (64 outstanding per publisher)"
if [ -n "$conv" ]; then
	printf '\nroute convergence, %s trials (subscribe on A, publish on B in a tight loop from the SUBACK):\n' \
		"$(field "$conv" trials)"
	printf '  SUBSCRIBE->SUBACK     median %s us  p99 %s us  max %s us\n' "$(field "$conv" suback_p50_us)" \
		"$(field "$conv" suback_p99_us)" "$(field "$conv" suback_max_us)"
	printf '  SUBACK->first message median %s us  p99 %s us  max %s us\n' \
		"$(field "$conv" deliver_p50_us)" "$(field "$conv" deliver_p99_us)" \
		"$(field "$conv" deliver_max_us)"
	printf '  publishes after a SUBACK that missed the new route: %s (failed trials %s)\n' \
		"$(field "$conv" missed)" "$(field "$conv" failed)"
fi
echo "($((SECONDS - t0)) s; RESULT lines in $OUT)"
[ $cluster_ok = 1 ] && [ $bridge_ok = 1 ]
