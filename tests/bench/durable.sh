#!/bin/bash
# tests/bench/durable.sh [MQTTBENCH] [STARLING] - what durability costs: QoS 1 with persistent
# subscriber sessions against Starling in memory (persistence false) and with the embedded store
# at each persistence_sync policy in SYNCS, same load, one right after the other. Each shape runs
# with few and with many connections; each row prints msgs/s, p99 and the ratio to the
# in-memory run of the same shape (the storage issue's target: batch >= 0.5 on every row).
# About 80 s per run with the defaults.
#   RUNS=1 DURATION=4 WARMUP=1 SIZE=64 SYNCS=batch tests/bench/durable.sh   (the defaults)
#   SYNCS="none batch always"     the other policies too
#   SYNCS="batch postgres"        postgres: sessions in a PostgreSQL this script starts on
#                                 loopback (tests/services/postgres.sh; fsync off unless
#                                 PG_FSYNC=on), the issue 15 baseline
#   SHAPES="fanin:4 fanin:16 pairs:4 pairs:8 fanout:8 fanout:20"   (the default set)
# A shape is SCENARIO:N: fanin N publishers -> 1 subscriber, pairs N publisher/subscriber
# pairs, fanout 1 publisher -> N subscribers. RUNS=N repeats the whole set, one table per run,
# then prints every batch ratio side by side with the lowest. Raw RESULT lines: $OUT if set.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${1:-$root/build-dev/tests/bench/mqttbench}
starling=${2:-$root/build-dev/broker/starling}
RUNS=${RUNS:-1}
DURATION=${DURATION:-4}
WARMUP=${WARMUP:-1}
SIZE=${SIZE:-64}
SYNCS=${SYNCS:-batch}
SHAPES=${SHAPES:-fanin:4 fanin:16 pairs:4 pairs:8 fanout:8 fanout:20}
for f in "$bench" "$starling"; do
	[ -x "$f" ] || { echo "durable: $f is not executable" >&2; exit 2; }
done
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
dir=$(mktemp -d)
pid=
pg_dir=''
pg_dsn=''
trap 'cleanup; [ -n "$pg_dir" ] && "$root/tests/services/postgres.sh" kill "$pg_dir" >/dev/null 2>&1;
	[ -n "$pg_dir" ] && rm -rf "$pg_dir"' EXIT
# pg_start: the PostgreSQL of SYNCS=postgres, once.
pg_start() {
	local psql
	[ -n "$pg_dsn" ] && return 0
	pg_dir=$(mktemp -d)
	chmod 755 "$pg_dir"
	pg_dsn=$(PG_OWNER_PID=$$ "$root/tests/services/postgres.sh" start "$pg_dir/pg" "$(free_port)") ||
		{ echo "durable: PostgreSQL did not start" >&2; exit 1; }
	psql="${PG_BIN:-/usr/lib/postgresql/15/bin}/psql -X -qAt"
	$psql "$pg_dsn" -c "ALTER SYSTEM SET fsync = ${PG_FSYNC:-off}" -c "SELECT pg_reload_conf()" \
		>/dev/null
}
# run SYNC SCENARIO N: one broker, one load; prints its RESULT line. SYNC "" = in memory.
run() {
	local sync=$1 scen=$2 n=$3 port res
	[ "$sync" = postgres ] && pg_start
	port=$(free_port)
	rm -rf "$dir/data"
	{
		echo "listener $port 127.0.0.1"
		echo "allow_anonymous true"
		echo "max_queued_messages 1000000"
		echo "max_inflight_messages 0"
		if [ "$sync" = postgres ]; then
			echo "persistence true"
			echo "persistence_location $dir/data"
			echo "session_store postgres"
			echo "postgres_dsn $pg_dsn"
		elif [ -n "$sync" ]; then
			echo "persistence true"
			echo "persistence_location $dir/data"
			echo "persistence_sync $sync"
		else
			echo "persistence false"
		fi
	} >"$dir/b.conf"
	"$starling" -c "$dir/b.conf" >"$dir/b.log" 2>&1 &
	pid=$!
	wait_port "$port" "$pid" ||
		{ echo "durable: broker did not start" >&2; cat "$dir/b.log" >&2; exit 1; }
	# fanout has one publisher and N subscribers; fanin and pairs take N publishers.
	res=$("$bench" --port "$port" --scenario "$scen" --qos 1 --persistent --pubs "$n" \
		--subs "$n" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
		--broker-pid "$pid" | grep '^RESULT')
	kill "$pid"
	wait "$pid" 2>/dev/null
	pid=
	[ -n "${OUT:-}" ] && echo "${sync:-memory} $scen $n $res" >>"$OUT"
	echo "$res"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
label() {
	case $1 in
	fanin) echo "fanin $2->1" ;;
	pairs) echo "pairs $2" ;;
	*) echo "fanout 1->$2" ;;
	esac
}
echo "QoS 1, persistent subscriber sessions, size=$SIZE duration=${DURATION}s" \
	"warmup=${WARMUP}s; cores: $(nproc); runs: $RUNS"
declare -A ratio
for r in $(seq "$RUNS"); do
	echo
	echo "run $r/$RUNS ($(date -u +%H:%M:%S) UTC)"
	printf '%-14s %-7s %10s %7s %8s %8s %6s\n' shape store msg/s ratio p99us cpu/M l/d
	for shape in $SHAPES; do
		scen=${shape%%:*}
		n=${shape##*:}
		base=
		for sync in "" $SYNCS; do
			res=$(run "$sync" "$scen" "$n")
			rate=$(field msgs_per_s "$res")
			if [ -z "$rate" ]; then # no RESULT line: the broker or the load failed
				printf '%-14s %-7s %10s\n' "$(label "$scen" "$n")" "${sync:-memory}" failed
				[ -z "$base" ] && break
				continue
			fi
			[ -z "$base" ] && base=$rate
			q=$(python3 -c "print('%.2f' % ($rate / $base if $base else 0))")
			[ "$sync" = batch ] && ratio[$shape,$r]=$q
			printf '%-14s %-7s %10.0f %7s %8s %8s %6s\n' "$(label "$scen" "$n")" \
				"${sync:-memory}" "$rate" "$q" "$(field p99_us "$res")" \
				"$(field cpu_s_per_mmsg "$res")" "$(field lost "$res")/$(field dup "$res")"
		done
	done
done
[ "$RUNS" -gt 1 ] && [[ " $SYNCS " == *" batch "* ]] || exit 0
echo
echo "batch / memory, every run"
printf '%-14s' shape
for r in $(seq "$RUNS"); do printf ' %6s' "run$r"; done
printf ' %6s\n' min
for shape in $SHAPES; do
	printf '%-14s' "$(label "${shape%%:*}" "${shape##*:}")"
	min=
	for r in $(seq "$RUNS"); do
		printf ' %6s' "${ratio[$shape,$r]:--}"
		min=$(python3 -c "print('%.2f' % min(float(x) for x in '$min ${ratio[$shape,$r]:-0}'.split()))")
	done
	printf ' %6s\n' "$min"
done
