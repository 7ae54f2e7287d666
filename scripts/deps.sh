#!/usr/bin/env bash
# Installs every Debian package Starling builds, runs and tests with. Skips apt entirely when
# all are present, so a warm machine starts fast. Usage: scripts/deps.sh [run|test]
set -euo pipefail
run_pkgs=(build-essential cmake pkg-config libuv1-dev libssl-dev libpq-dev libhiredis-dev
	libprotobuf-c-dev protobuf-c-compiler libhttp-parser-dev)
test_pkgs=(git clang-format check libsubunit-dev clang libclang-rt-14-dev mosquitto mosquitto-clients
	python3 python3-paho-mqtt libpaho-mqtt-dev postgresql redis-server haproxy openssl)
pkgs=("${run_pkgs[@]}")
if [ "${1:-run}" = test ]; then
	pkgs+=("${test_pkgs[@]}")
fi
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
