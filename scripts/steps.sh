# Sourced by scripts/setup.sh and scripts/demo.sh: run an install or build step with its output in
# a log file, and print one line for it on the terminal.
#
#   STEP_LOG=target/setup.log     # where the output goes (appended to; set before the first step)
#   step "what it is" command args...
#
# On failure the line says FAILED, then the log's path and its last lines, and the script exits.

STEP_LOG="${STEP_LOG:-target/setup.log}"
mkdir -p "$(dirname "$STEP_LOG")"

step() {
    local what=$1 t0=$SECONDS rc=0
    shift
    printf '   %-58s ' "$what"
    printf '\n== %s (%s)\n' "$what" "$(date -u +%H:%M:%S)" >>"$STEP_LOG"
    # In the background, then waited for: a shell function given as the command keeps `set -e`
    # inside it (a function called in an `||` list would run with errexit off).
    "$@" >>"$STEP_LOG" 2>&1 </dev/null &
    wait $! || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf 'FAILED (exit %d)\n' "$rc"
        printf '   the output of every step is in %s; its last lines:\n' "$STEP_LOG" >&2
        tail -n 15 "$STEP_LOG" | sed 's/^/   | /' >&2
        exit 1
    fi
    printf 'ok (%ds)\n' "$((SECONDS - t0))"
}
