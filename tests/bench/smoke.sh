#!/bin/sh
# tests/bench/smoke.sh STARLING MQTTBENCH - 2 s fan-in at QoS 1 against a fresh broker.
# Passes if messages flowed and none were lost; never fails on a timing number.
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

out=$(timeout 30 "$bench" --host 127.0.0.1 --port "$port" --scenario fanin --pubs 4 --qos 1 \
	--duration 2 --warmup 0.5 --broker-pid "$pid")
echo "$out"
line=$(echo "$out" | grep '^RESULT ')
rate=$(echo "$line" | sed -n 's/.* msgs_per_s=\([0-9]*\).*/\1/p')
lost=$(echo "$line" | sed -n 's/.* lost=\([0-9]*\).*/\1/p')
if [ -z "$line" ] || [ -z "$rate" ] || [ "$rate" -le 0 ] || [ "$lost" != 0 ]; then
	echo "smoke: FAIL (want msgs_per_s > 0 and lost=0)"; tail -20 "$dir/broker.log"; exit 1
fi
# A sanitizer build (scripts/test.sh) reports into the broker's output; the load here is the
# most concurrent of the suite, so a report fails the smoke even if no message was lost.
if grep -Eq 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error: ' "$dir/broker.log"; then
	echo "smoke: FAIL (sanitizer report)"; grep -E -A30 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error: ' "$dir/broker.log" | head -80; exit 1
fi
echo "smoke: OK"
