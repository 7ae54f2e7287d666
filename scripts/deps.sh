#!/usr/bin/env bash
# Installs every Debian package Starling builds, runs and tests with. Skips apt entirely when
# all are present, so a warm machine starts fast. For tests it also installs the browser test's
# npm packages (tests/browser, pinned by its package-lock.json) when they are absent, so a warm
# machine needs no registry. Usage: scripts/deps.sh [run|test]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
run_pkgs=(build-essential cmake pkg-config libuv1-dev libssl-dev libpq-dev libhiredis-dev
	libprotobuf-c-dev protobuf-c-compiler libhttp-parser-dev)
test_pkgs=(git clang-format check libsubunit-dev clang libclang-rt-14-dev mosquitto mosquitto-clients
	python3 python3-paho-mqtt libpaho-mqtt-dev postgresql redis-server haproxy openssl
	chromium nodejs npm procps)
pkgs=("${run_pkgs[@]}")
if [ "${1:-run}" = test ]; then
	pkgs+=("${test_pkgs[@]}")
fi
missing=()
for p in "${pkgs[@]}"; do
	# NodeSource's nodejs bundles npm and conflicts with Debian's npm package: an npm command
	# on the PATH is enough.
	if [ "$p" = npm ] && command -v npm >/dev/null; then
		continue
	fi
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	sudo_cmd=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo_cmd=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo_cmd[@]}" apt-get update -qq
	"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "${1:-run}" = test ] && [ ! -f "$root/tests/browser/node_modules/mqtt/dist/mqtt.min.js" ]; then
	echo "installing: tests/browser npm packages"
	npm ci --prefix "$root/tests/browser" --no-audit --no-fund
fi
