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
# background, in a process group of its own, and is waited for, so that Ctrl-C or a TERM stops them
# all at once, with what they started (with --pdb or --trace, the groups run one at a time in the
# foreground, where the debugger can read the terminal).
# MOVINET_CROSSFIT_TEST_LANES=1 runs every group one after another (a machine with under 16 GB: the
# two lanes together peaked at 12.2 GB in session 29).
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
foreground=0
for arg in "$@"; do
  case "$arg" in
    # The debugger reads the terminal: one pytest at a time, in the foreground.
    --pdb|--pdbcls*|--trace)
      foreground=1
      lanes=1 ;;
    # Options whose files two pytest processes at once would share: one after another then.
    --basetemp*|--junit*|--lf|--last-failed|--ff|--failed-first|--nf|--new-first|--cache-clear|--sw|--sw-*|--stepwise*|--resultlog*|--report-log*)
      [ "$lanes" -eq 1 ] || echo "scripts/test.sh: $arg: the groups run one after another" >&2
      lanes=1 ;;
  esac
done

# The groups, in the file's order: lane, name, files ("*": the files no group names).
group_lanes=()
names=()
lists=()
caches=()  # lane 2's groups keep their own pytest cache (last failures), also when run one after another
named=" "
while read -r lane name files || [ -n "$lane" ]; do
  case "$lane" in ''|'#'*) continue ;; esac
  group_lanes+=("$lane")
  names+=("$name")
  lists+=("$files")
  if [ "$lane" = 2 ]; then caches+=("-o cache_dir=.pytest_cache_beside"); else caches+=(""); fi
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
log=""     # lane 2's output; $log.1 and $log.2: each lane's summary lines
shown=0    # lane 2's output was printed
# Each pytest (and lane 2) runs in a process group of its own, so that stopping it stops what it
# started too (the multi-worker test's workers, Beam's workers).
[ "$foreground" = 1 ] || set -m
stop() {
  local pid
  for pid in $(jobs -p); do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  [ -n "$log" ] || return 0
  if [ "$shown" = 0 ] && [ -s "$log" ]; then
    echo "scripts/test.sh: stopped; lane 2's output so far:" >&2
    cat "$log" >&2
  fi
  rm -f "$log" "$log.1" "$log.2"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
run_lane() {  # lane, pytest options...: its groups one after another; prints "name: passed|exit N"
  local lane=$1 i code where=""
  shift
  [ "$lanes" -eq 1 ] || where="lane $lane: "
  for i in "${!names[@]}"; do
    [ "${group_lanes[$i]}" = "$lane" ] && [ -n "${lists[$i]// /}" ] || continue
    echo "scripts/test.sh: ${where}group ${names[$i]} ($(wc -w <<< "${lists[$i]}") files) starts at $(date +%T)" >&3
    code=0
    # shellcheck disable=SC2086  # the cache option and the file list split on spaces on purpose
    if [ "$foreground" = 1 ]; then
      .venv/bin/python -m pytest -q ${caches[$i]} "$@" ${lists[$i]} 3>&- 4>&- || code=$?
    else
      # In the background and waited for, so that a signal reaches the script (and through stop,
      # every process) at once rather than when the group ends.
      .venv/bin/python -m pytest -q ${caches[$i]} "$@" ${lists[$i]} 3>&- 4>&- < /dev/null &
      wait $! || code=$?
    fi
    echo "scripts/test.sh: ${where}group ${names[$i]} ended at $(date +%T) (exit $code)" >&3
    if [ "$code" -eq 0 ]; then echo "${names[$i]}: passed"; else echo "${names[$i]}: exit $code"; fi >&4
  done
}
exec 3>&2
log=$(mktemp)
if [ "$lanes" -eq 2 ]; then
  echo "scripts/test.sh: two lanes; lane 2's output follows lane 1's" >&2
  # A subshell (one process group with its pytest): on a TERM it stops its running pytest and ends.
  (
    trap 'for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done; exit 143' TERM
    run_lane 2 "$@"
  ) > "$log" 2>&1 4> "$log.2" &
  beside=$!
fi
run_lane 1 "$@" 4> "$log.1"
if [ "$lanes" -eq 2 ]; then
  wait "$beside" || true
  cat "$log"
  shown=1
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
