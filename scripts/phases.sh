# Wall time per phase, for scripts/test and .ci/run (sourced, not run).
#   phase NAME CMD...      runs CMD, then prints `<== NAME: 12 s` and records it
#   phase_bg NAME CMD...   starts CMD in the background, its output kept in target/phase-NAME.log
#                          (each character of NAME other than a letter or digit a dash)
#   phase_wait NAME        waits for it, prints its output, records its own time (not the wait's);
#                          fails if it failed
#   phase_summary          prints every recorded phase, in order, with the total
# The record is $OVERTIME_PHASES (one `NAME<TAB>SECONDS` line a phase), shared by nested scripts,
# so .ci/run's summary includes the phases of the scripts/test it runs.

if [ -z "${OVERTIME_PHASES:-}" ]; then
  mkdir -p target
  export OVERTIME_PHASES="$PWD/target/phases.tsv"
  export OVERTIME_PHASES_START="$EPOCHSECONDS"
  : > "$OVERTIME_PHASES"
fi

phase_record() {
  printf '%s\t%s\n' "$1" "$2" >> "$OVERTIME_PHASES"
  echo "<== $1: $2 s"
}

phase() {
  local name="$1"
  shift
  echo "==> $name"
  local start="$EPOCHSECONDS" status=0
  "$@" || status=$?
  phase_record "$name" "$((EPOCHSECONDS - start))"
  return "$status"
}

declare -A PHASE_PIDS
phase_log() {
  echo "target/phase-${1//[^A-Za-z0-9]/-}.log"
}
phase_bg() {
  local name="$1"
  shift
  echo "==> $name (in the background)"
  mkdir -p target
  local log
  log="$(phase_log "$name")"
  (
    start="$EPOCHSECONDS" status=0
    "$@" || status=$?
    echo "$((EPOCHSECONDS - start))" > "$log.secs"
    exit "$status"
  ) > "$log" 2>&1 &
  PHASE_PIDS[$name]=$!
}

phase_wait() {
  local name="$1" status=0
  local pid="${PHASE_PIDS[$name]}" log
  log="$(phase_log "$name")"
  wait "$pid" || status=$?
  cat "$log"
  phase_record "$name (in the background)" "$(cat "$log.secs" 2>/dev/null || echo '?')"
  if [ "$status" -ne 0 ]; then
    echo "$name failed (exit $status)" >&2
  fi
  return "$status"
}

phase_summary() {
  echo "==> wall time per phase"
  awk -F'\t' '{ printf "  %-60s %6d s\n", $1, $2 }' "$OVERTIME_PHASES"
  printf '  %-60s %6d s\n' "total" "$((EPOCHSECONDS - OVERTIME_PHASES_START))"
}
