#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
#
# With nothing but options (bash scripts/test.sh, -x, --durations=20, ...), the suite runs as one
# pytest process per group of tests/process_groups.txt, and one for the other test files: each
# process's memory is freed before the next starts (one process for everything peaked at 22.5 GB).
# The other files' process runs beside the first group's (in the background; every process is, so that
# Ctrl-C or a TERM stops them all at once): that group builds and traces models on one
# core (load ~1.0), the other files are light (~2 GB against its ~14.5), and the suite's wall time
# drops by the other files' time. Their output is printed when both have ended.
# MOVINET_CROSSFIT_TEST_LANES=1 runs every group one after another (a machine with under 20 GB).
# The exit status is the first failing group's. With test paths or options that take a value
# (-k EXPR, tests/test_live.py), it is one pytest process with those arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) exec .venv/bin/python -m pytest -q "$@" ;;
  esac
done
grouped=()
names=()
lists=()
while read -r name files; do
  case "$name" in ''|'#'*) continue ;; esac
  names+=("$name")
  lists+=("$files")
  for file in $files; do grouped+=("$file"); done
done < tests/process_groups.txt
rest=()
for file in tests/test_*.py; do
  case " ${grouped[*]} " in *" $file "*) ;; *) rest+=("$file") ;; esac
done
lanes=${MOVINET_CROSSFIT_TEST_LANES:-2}
case "$lanes" in 1|2) ;; *) echo "scripts/test.sh: MOVINET_CROSSFIT_TEST_LANES is 1 or 2, not '$lanes'" >&2; exit 2 ;; esac
# Options whose files two pytest processes at once would share: one after another then.
for arg in "$@"; do
  case "$arg" in
    --basetemp*|--junit*|--lf|--last-failed|--ff|--failed-first|--nf|--new-first|--cache-clear|--sw|--stepwise*|--resultlog*|--report-log*)
      [ "$lanes" -eq 1 ] || echo "scripts/test.sh: $arg: the groups run one after another" >&2
      lanes=1 ;;
  esac
done
status=0
summary=()
running=()  # the pytest processes now running: stopped with the script (a signal, an error)
log=""
stop() {
  for pid in ${running[@]+"${running[@]}"}; do kill "$pid" 2>/dev/null || true; done
  [ -z "$log" ] || rm -f "$log"
}
trap stop EXIT
# Each process runs in the background and is waited for, so that a signal stops the script (and
# with it, through stop, every process) at once rather than when the running group ends.
trap 'exit 130' INT
trap 'exit 143' TERM
result() {  # name, exit status: add to the summary; the first failure's status is the suite's
  if [ "$2" -eq 0 ]; then summary+=("$1: passed"); else
    summary+=("$1: exit $2")
    [ "$status" -ne 0 ] || status=$2
  fi
}
finish() {  # pid: wait for it, then drop it from the running ones; returns its exit status
  local code=0
  wait "$1" || code=$?
  local left=()
  for pid in "${running[@]}"; do [ "$pid" = "$1" ] || left+=("$pid"); done
  running=(${left[@]+"${left[@]}"})
  return "$code"
}
run_group() {  # name, files, pytest options...: one pytest process (the script's options passed through)
  local name=$1 files=$2 code=0
  shift 2
  echo "scripts/test.sh: group $name ($(wc -w <<< "$files") files)" >&2
  # shellcheck disable=SC2086  # the file list splits on spaces on purpose
  .venv/bin/python -m pytest -q "$@" $files &
  running+=($!)
  finish $! || code=$?
  return "$code"
}
beside=""
if [ "$lanes" -eq 2 ] && [ ${#names[@]} -gt 0 ] && [ ${#rest[@]} -gt 0 ]; then
  log=$(mktemp)
  echo "scripts/test.sh: group other (${#rest[@]} files) runs beside group ${names[0]}; its output follows that group's" >&2
  # Its own pytest cache (last failures), so that the two processes do not overwrite each other's.
  # shellcheck disable=SC2086
  .venv/bin/python -m pytest -q -o cache_dir=.pytest_cache_beside "$@" ${rest[*]} > "$log" 2>&1 &
  beside=$!
  running+=("$beside")
fi
for i in "${!names[@]}"; do
  code=0; run_group "${names[$i]}" "${lists[$i]}" "$@" || code=$?
  result "${names[$i]}" "$code"
  if [ "$i" -eq 0 ] && [ -n "$beside" ]; then
    code=0; finish "$beside" || code=$?
    cat "$log"
    result other "$code"
  fi
done
if [ -z "$beside" ] && [ ${#rest[@]} -gt 0 ]; then
  code=0; run_group other "${rest[*]}" "$@" || code=$?
  result other "$code"
fi
echo "scripts/test.sh: ${summary[*]}" >&2
exit "$status"
