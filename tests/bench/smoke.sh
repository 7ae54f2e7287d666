#!/bin/sh
# tests/bench/smoke.sh STARLING MQTTBENCH - 2 s fan-in at QoS 1 against a fresh broker.
# Passes if messages flowed and none were lost; never fails on a timing number.
set -u
starling=$1
bench=$2
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# A free port: ask the kernel for one, then hand it to the broker (small race, retried).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

for attempt in 1 2 3; do
	port=$(free_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$dir/starling.conf"
	"$starling" -c "$dir/starling.conf" >"$dir/broker.log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 50 ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" \
			2>/dev/null; then
			break 2
		fi
		sleep 0.1
		i=$((i + 1))
	done
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
echo "smoke: OK"
