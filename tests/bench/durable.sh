#!/bin/bash
# tests/bench/durable.sh [MQTTBENCH] [STARLING] - what durability costs: QoS 1 with persistent
# subscriber sessions against Starling in memory (persistence false) and with the embedded store
# at each persistence_sync policy, same load, one after the other. Prints msgs/s, p99 and the
# ratio to the in-memory run (the storage issue's target: batch >= 0.5). About 1 minute.
#   DURATION=5 WARMUP=1 PUBS=4 SUBS=8 SIZE=64 tests/bench/durable.sh   (the defaults)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/build-dev/tests/bench/mqttbench}
starling=${2:-$root/build-dev/broker/starling}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
PUBS=${PUBS:-4}
SUBS=${SUBS:-8}
SIZE=${SIZE:-64}
for f in "$bench" "$starling"; do
	[ -x "$f" ] || { echo "durable: $f is not executable" >&2; exit 2; }
done
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
dir=$(mktemp -d)
pid=
trap cleanup EXIT
# run LABEL SYNC SCENARIO: one broker, one load; prints a row. SYNC "" = in memory.
run() {
	local label=$1 sync=$2 scen=$3 port res
	port=$(free_port)
	rm -rf "$dir/data"
	{
		echo "listener $port 127.0.0.1"
		echo "allow_anonymous true"
		echo "max_queued_messages 1000000"
		echo "max_inflight_messages 0"
		if [ -n "$sync" ]; then
			echo "persistence true"
			echo "persistence_location $dir/data"
			echo "persistence_sync $sync"
		else
			echo "persistence false"
		fi
	} >"$dir/b.conf"
	"$starling" -c "$dir/b.conf" >"$dir/b.log" 2>&1 &
	pid=$!
	wait_port "$port" || { echo "durable: broker did not start" >&2; cat "$dir/b.log"; exit 1; }
	res=$("$bench" --port "$port" --scenario "$scen" --qos 1 --persistent --pubs "$PUBS" \
		--subs "$SUBS" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
		--broker-pid "$pid" | grep '^RESULT')
	kill "$pid"
	wait "$pid" 2>/dev/null
	pid=
	echo "$label $scen $res" >>"$dir/raw"
	echo "$res"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
echo "QoS 1, persistent subscriber sessions, pubs=$PUBS subs(fanout)=$SUBS size=$SIZE" \
	"duration=${DURATION}s; cores: $(nproc)"
printf '%-10s %-7s %10s %7s %8s %8s %6s\n' scenario store msg/s ratio p99us cpu/M l/d
for scen in fanin pairs fanout; do
	base=
	for sync in "" none batch always; do
		r=$(run "${sync:-memory}" "$sync" "$scen")
		rate=$(field msgs_per_s "$r")
		[ -z "$base" ] && base=$rate
		printf '%-10s %-7s %10.0f %7.2f %8s %8s %6s\n' "$scen" "${sync:-memory}" "$rate" \
			"$(python3 -c "print($rate / $base if $base else 0)")" "$(field p99_us "$r")" \
			"$(field cpu_s_per_mmsg "$r")" "$(field lost "$r")/$(field dup "$r")"
	done
done
