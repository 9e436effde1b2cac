#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
#
# With nothing but options (bash scripts/test.sh, -x, --durations=20, ...), the suite runs as one
# pytest process per group of tests/process_groups.txt (the group `*` is every test file no other
# group names): each process's memory is freed when it ends (one process for everything peaked at
# 22.5 GB). The groups run in two lanes at once, each lane's groups one after another: a group that
# builds and traces models keeps about one of the two cores busy, so two lanes finish in well under
# the sum of their times. Lane 1's output is shown as it comes; lane 2's is printed when both lanes
# have ended (its groups' starts and ends are shown as they happen). Every pytest process runs in the
# background and is waited for, so that Ctrl-C or a TERM stops them all at once.
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

# The groups, in the file's order: lane, name, files ("*": the files no group names).
group_lanes=()
names=()
lists=()
named=" "
while read -r lane name files; do
  case "$lane" in ''|'#'*) continue ;; esac
  group_lanes+=("$lane")
  names+=("$name")
  lists+=("$files")
  [ "$files" = "*" ] || named+="$files "
done < tests/process_groups.txt
rest=""
for file in tests/test_*.py; do
  case "$named" in *" $file "*) ;; *) rest+="$file " ;; esac
done
for i in "${!names[@]}"; do
  [ "${lists[$i]}" != "*" ] || lists[$i]=$rest
  [ "$lanes" -eq 2 ] || group_lanes[$i]=1
done

status=0
summary=()
running=()  # the processes now running: stopped with the script (a signal, an error)
log=""
stop() {
  for pid in ${running[@]+"${running[@]}"}; do kill "$pid" 2>/dev/null || true; done
  [ -z "$log" ] || rm -f "$log" "$log.1" "$log.2"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
finish() {  # pid: wait for it, then drop it from the running ones; returns its exit status
  local code=0
  wait "$1" || code=$?
  local left=()
  for pid in "${running[@]}"; do [ "$pid" = "$1" ] || left+=("$pid"); done
  running=(${left[@]+"${left[@]}"})
  return "$code"
}
run_lane() {  # lane, pytest options...: its groups one after another; prints "name: passed|exit N"
  local lane=$1 i code where=""
  shift
  [ "$lanes" -eq 1 ] || where="lane $lane: "
  for i in "${!names[@]}"; do
    [ "${group_lanes[$i]}" = "$lane" ] && [ -n "${lists[$i]// /}" ] || continue
    echo "scripts/test.sh: ${where}group ${names[$i]} ($(wc -w <<< "${lists[$i]}") files) starts at $(date +%T)" >&3
    code=0
    # The second lane keeps its own pytest cache (last failures), so that the lanes do not overwrite
    # each other's. shellcheck disable=SC2086  # the file list splits on spaces on purpose
    if [ "$lane" = 1 ]; then
      .venv/bin/python -m pytest -q "$@" ${lists[$i]} &
    else
      .venv/bin/python -m pytest -q -o cache_dir=.pytest_cache_beside "$@" ${lists[$i]} &
    fi
    running+=($!)
    finish $! || code=$?
    echo "scripts/test.sh: ${where}group ${names[$i]} ended at $(date +%T) (exit $code)" >&3
    if [ "$code" -eq 0 ]; then echo "${names[$i]}: passed"; else echo "${names[$i]}: exit $code"; fi >&4
  done
}
exec 3>&2
log=$(mktemp)  # lane 2's output; $log.1 and $log.2: each lane's summary lines
if [ "$lanes" -eq 2 ]; then
  echo "scripts/test.sh: two lanes; lane 2's output follows lane 1's" >&2
  # A subshell: on a TERM (from stop) it stops its running pytest and ends.
  (
    running=()
    trap 'for pid in ${running[@]+"${running[@]}"}; do kill "$pid" 2>/dev/null || true; done; exit 143' TERM
    run_lane 2 "$@"
  ) > "$log" 2>&1 4> "$log.2" &
  beside=$!
  running+=("$beside")
fi
run_lane 1 "$@" 4> "$log.1"
if [ "$lanes" -eq 2 ]; then
  finish "$beside" || true
  cat "$log"
fi
for file in "$log.1" "$log.2"; do
  [ -f "$file" ] || continue
  while read -r line; do summary+=("$line"); done < "$file"
done
for i in "${!names[@]}"; do  # a group with no line (its lane stopped early) did not pass
  [ -n "${lists[$i]// /}" ] || continue
  case " ${summary[*]-} " in *" ${names[$i]}: "*) ;; *) summary+=("${names[$i]}: exit 1 (did not run)") ;; esac
done
for line in ${summary[@]+"${summary[@]}"}; do
  case "$line" in *": exit "*) [ "$status" -ne 0 ] || { status=${line##*: exit }; status=${status%% *}; } ;; esac
done
echo "scripts/test.sh: ${summary[*]}" >&2
exit "$status"
