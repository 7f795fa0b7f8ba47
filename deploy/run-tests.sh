#!/usr/bin/env bash
# Installs dependencies, builds and runs the whole test suite:
#   1. release build: unit tests, net_ring harness, namespace-rig integration
#      tests (root), benchmarks built (not run: they are not tests);
#   2. ASan+UBSan build (clang-14): unit tests again, bounded libFuzzer runs;
#   3. TSan build: the concurrency tests (CTest label "tsan").
# Options: --quick (release only), FUZZ_SECONDS (default 60 per target),
# TURNPIKE_ONLY="net;app;..." to build some components only (see CMakeLists.txt).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc)
only=(-DTURNPIKE_ONLY="${TURNPIKE_ONLY:-}")  # always passed, so a stale cache value is reset
total_pass=0
total_fail=0
step() { printf '\n==== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# ctest_run DIR ARGS...: runs ctest and adds its counts to the totals.
ctest_run() {
  local dir=$1
  shift
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure --timeout 600 "$@" 2>&1 | tee "$log"
  local line passed=0 failed=0 total
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -n "$line" ]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((total - failed))
  elif ! grep -q "No tests were found" "$log"; then
    failed=1
  fi
  rm -f "$log"
  total_pass=$((total_pass + passed))
  total_fail=$((total_fail + failed))
}

step "dependencies"
bash deploy/setup-deps.sh || { echo "dependency setup failed"; echo "tests: 0 passed, 1 failed"; exit 1; }
bash tests/rig/rig.sh cleanup-all

step "release build"
cmake --preset release "${only[@]}" >/dev/null && cmake --build --preset release -j "$jobs" || {
  echo "tests: 0 passed, 1 failed"
  exit 1
}
step "release tests"
ctest_run build/release

if [ $quick -eq 0 ]; then
  step "ASan+UBSan build"
  if cmake --preset asan "${only[@]}" >/dev/null && cmake --build --preset asan -j "$jobs"; then
    step "ASan+UBSan unit tests"
    # Integration tests drive the release daemon; here the unit suites matter.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest_run build/asan -LE integration
    step "fuzzing (${fuzz_seconds}s per target)"
    for f in build/asan/tests/*/fuzz_*; do  # tests/fuzz and the component folders
      [ -f "$f" ] && [ -x "$f" ] || continue
      corpus=$(mktemp -d)
      if ASAN_OPTIONS=detect_leaks=1 "$f" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1 \
          "$corpus" >"$corpus.log" 2>&1; then
        echo "ok   - $(basename "$f"): $(grep -E 'stat::number_of_executed_units' "$corpus.log" | awk '{print $2}') runs, no finding"
        total_pass=$((total_pass + 1))
      else
        echo "FAIL - $(basename "$f"):"
        tail -40 "$corpus.log"
        total_fail=$((total_fail + 1))
      fi
      rm -rf "$corpus" "$corpus.log"
    done
  else
    echo "FAIL - ASan build"
    total_fail=$((total_fail + 1))
  fi

  step "TSan build"
  if cmake --preset tsan "${only[@]}" >/dev/null && cmake --build build/tsan --target turnpike_tsan_tests -j "$jobs"; then
    step "TSan tests"
    TSAN_OPTIONS=halt_on_error=1 ctest_run build/tsan -L tsan
  else
    echo "FAIL - TSan build"
    total_fail=$((total_fail + 1))
  fi
fi

bash tests/rig/rig.sh cleanup-all
step "summary"
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
