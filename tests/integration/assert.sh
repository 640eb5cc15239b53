# The assertions every integration test uses: ok/fail count checks, die
# stops the test, expect compares, finish sets the exit status.  Sourced
# by lib.sh, and alone by tests that need none of lib.sh's services.
TEST_NAME=$(basename "$0" .sh)
FAILS=0

ok()   { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
die()  { echo "FAIL: $*"; exit 1; }

# expect NAME ACTUAL WANTED
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

finish() {
    if [ "$FAILS" -gt 0 ]; then
        echo "$TEST_NAME: $FAILS check(s) failed"
        exit 1
    fi
    echo "$TEST_NAME: all checks passed"
    exit 0
}
