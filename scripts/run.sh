#!/usr/bin/env bash
# Installs what is missing, builds, and runs one Starling node on port 1883 with the embedded
# store in ./data (etc/local.conf). Arguments, if any, go to starling instead (e.g.
# -c /etc/mosquitto/mosquitto.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target starling
if [ "$#" -eq 0 ]; then
	set -- -c etc/local.conf # port 1883, embedded store in ./data
fi
exec build/broker/starling "$@"
