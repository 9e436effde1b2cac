#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
#
# With nothing but options (bash scripts/test.sh, -x, --durations=20, ...), the suite runs as one
# pytest process per group of tests/process_groups.txt, then one for the other test files: each
# process's memory is freed before the next starts (one process for everything peaked at 22.5 GB).
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
names+=("other")
lists+=("${rest[*]}")
status=0
summary=()
for i in "${!names[@]}"; do
  echo "scripts/test.sh: group ${names[$i]} ($(wc -w <<< "${lists[$i]}") files)" >&2
  # shellcheck disable=SC2086  # the file list splits on spaces on purpose
  if .venv/bin/python -m pytest -q "$@" ${lists[$i]}; then
    summary+=("${names[$i]}: passed")
  else
    code=$?
    summary+=("${names[$i]}: exit $code")
    [ "$status" -ne 0 ] || status=$code
  fi
done
echo "scripts/test.sh: ${summary[*]}" >&2
exit "$status"
