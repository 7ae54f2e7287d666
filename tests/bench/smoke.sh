#!/bin/sh
# tests/bench/smoke.sh STARLING MQTTBENCH - against a fresh broker: 2 s fan-in at QoS 1, 1 s
# fan-in at a fixed rate, 2 s of the mixed load at 40 connections. Passes if messages flowed
# and none were lost in each; never fails on a timing number.
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
starling=$1
bench=$2
dir=$(mktemp -d)
pid=
trap cleanup EXIT

# free_port's race (another process takes the port first) is retried.
for _ in 1 2 3; do
	port=$(free_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$dir/starling.conf"
	"$starling" -c "$dir/starling.conf" >"$dir/broker.log" 2>&1 &
	pid=$!
	wait_port "$port" "$pid" && break
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
done
if [ -z "$pid" ]; then
	echo "smoke: starling did not start"; cat "$dir/broker.log"; exit 1
fi

# check NAME ARGS...: one mqttbench run; fails the smoke unless msgs_per_s > 0 and lost=0.
check() {
	name=$1
	shift
	out=$(timeout 30 "$bench" --host 127.0.0.1 --port "$port" --broker-pid "$pid" "$@")
	echo "$out"
	line=$(echo "$out" | grep '^RESULT ')
	rate=$(echo "$line" | sed -n 's/.* msgs_per_s=\([0-9]*\).*/\1/p')
	lost=$(echo "$line" | sed -n 's/.* lost=\([0-9]*\).*/\1/p')
	if [ -z "$line" ] || [ -z "$rate" ] || [ "$rate" -le 0 ] || [ "$lost" != 0 ]; then
		echo "smoke: $name FAIL (want msgs_per_s > 0 and lost=0)"; tail -20 "$dir/broker.log"
		exit 1
	fi
}
check fanin --scenario fanin --pubs 4 --qos 1 --duration 2 --warmup 0.5
# compare.sh's fixed-rate rows and its mixed row, tiny: 40 connections, 38 publishers at
# 1 msg/s each to 2 wildcard subscribers.
check "fanin at a rate" --scenario fanin --pubs 4 --qos 1 --rate 2000 --duration 1 --warmup 0.2
check mixed --scenario mixed --conns 40 --subs 2 --qos 1 --duration 2 --warmup 0.5
# A sanitizer build (scripts/test.sh) reports into the broker's output; the load here is the
# most concurrent of the suite, so a report fails the smoke even if no message was lost.
if grep -Eq 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error: ' "$dir/broker.log"; then
	echo "smoke: FAIL (sanitizer report)"; grep -E -A30 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error: ' "$dir/broker.log" | head -80; exit 1
fi
echo "smoke: OK"
