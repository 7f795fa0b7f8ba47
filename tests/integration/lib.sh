# Shared helpers for integration tests (bash). Source after rig.sh.
set -uo pipefail
FAILS=0
PASSES=0
check() {  # check "description" command...
  local what=$1
  shift
  if "$@"; then
    echo "ok   - $what"
    PASSES=$((PASSES + 1))
  else
    echo "FAIL - $what"
    FAILS=$((FAILS + 1))
  fi
}
# json_get JSON python-expression-on-d
json_get() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }
finish() {
  echo "$PASSES passed, $FAILS failed"
  if [ "$FAILS" -ne 0 ]; then
    echo "--- turnpike log ---"
    cat "$TP_LOG" 2>/dev/null | tail -50
    exit 1
  fi
  exit 0
}
