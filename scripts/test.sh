#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
#
# With nothing but options (bash scripts/test.sh, -x, --durations=20, ...), the suite runs as one
# pytest process per group of tests/process_groups.txt, then one for the other test files: each
# process's memory is freed before the next starts (one process for everything peaked at 22.5 GB).
# The other files' process runs beside the first group's: that group builds and traces models on one
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
status=0
summary=()
result() {  # name, exit status: add to the summary; the first failure's status is the suite's
  if [ "$2" -eq 0 ]; then summary+=("$1: passed"); else
    summary+=("$1: exit $2")
    [ "$status" -ne 0 ] || status=$2
  fi
}
run_group() {  # name, files: one pytest process (the options passed through)
  echo "scripts/test.sh: group $1 ($(wc -w <<< "$2") files)" >&2
  # shellcheck disable=SC2086  # the file list splits on spaces on purpose
  .venv/bin/python -m pytest -q "${options[@]}" $2
}
options=("$@")
beside=""
if [ "$lanes" -eq 2 ] && [ ${#rest[@]} -gt 0 ]; then
  beside=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$beside"' EXIT
  echo "scripts/test.sh: group other (${#rest[@]} files) runs beside group ${names[0]}; its output follows that group's" >&2
  (set +e; run_group other "${rest[*]}" > "$beside/log" 2>&1; echo $? > "$beside/status") &
fi
for i in "${!names[@]}"; do
  set +e; run_group "${names[$i]}" "${lists[$i]}"; code=$?; set -e
  result "${names[$i]}" "$code"
  if [ "$i" -eq 0 ] && [ -n "$beside" ]; then
    wait
    cat "$beside/log"
    result other "$(cat "$beside/status" 2>/dev/null || echo 1)"
  fi
done
if [ -z "$beside" ] && [ ${#rest[@]} -gt 0 ]; then
  set +e; run_group other "${rest[*]}"; code=$?; set -e
  result other "$code"
fi
echo "scripts/test.sh: ${summary[*]}" >&2
exit "$status"
