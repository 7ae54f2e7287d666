#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: unit, fuzz-corpus replay and
# integration tests with gcc; all of them again under AddressSanitizer + UBSan; and a bounded
# libFuzzer run of every fuzz target with clang.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== format (.clang-format)"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

echo "== build and test (gcc)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_TESTS=ON -DSL_SANITIZE=OFF >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest -j"$jobs" --output-on-failure)

echo "== build and test under AddressSanitizer + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSL_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest -j"$jobs" --output-on-failure)

# Bounds (tests/fuzz/CMakeLists.txt): 200000 runs per decoder-level target; fuzz_handlers,
# whole packet sequences through a node, 30000 runs or 90 s, whichever ends first.
echo "== libFuzzer (clang), bounded runs"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_FUZZ=ON \
	-DSL_SANITIZE=ON -DSL_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs"
(cd build-fuzz && ctest -L fuzz --output-on-failure)
