#!/usr/bin/env bash
# Run the tests whose results depend on the ffmpeg build under each build named (default: both).
#   system  ffmpeg and ffprobe from PATH (Debian's 5.1 on CI: what most users have)
#   wheel   the static ffmpeg of the imageio-ffmpeg wheel, without ffprobe (a fresh machine)
#   PATH    any ffmpeg binary (its ffprobe beside it is used when there is one)
# e.g. `bash scripts/test_ffmpeg_builds.sh system`; extra pytest options after `--`.
# The build is chosen through $MOVINET_CROSSFIT_FFMPEG (movinet_crossfit.core.video.ffmpeg_executable).
set -euo pipefail
cd "$(dirname "$0")/.."
# Probing, decoding, sampling and frame-exact cutting: the tests that would tell two builds apart.
TESTS=(tests/test_video.py tests/test_video_memory.py tests/test_clips.py tests/test_numpy_preprocess.py
       tests/test_synthetic.py tests/test_decode_sampling.py tests/test_beam.py)
builds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do builds+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#builds[@]} -eq 0 ] && builds=(system wheel)
for build in "${builds[@]}"; do
  if [ "$build" = system ] && ! command -v ffmpeg >/dev/null 2>&1; then
    echo "test_ffmpeg_builds: no ffmpeg on PATH for the 'system' build (apt-get install ffmpeg)" >&2
    exit 1
  fi
  echo "== ffmpeg build: $build"
  MOVINET_CROSSFIT_FFMPEG="$build" .venv/bin/python -c \
    "from movinet_crossfit.core import video; print(video.ffmpeg_executable(), '| ffprobe:', video.ffprobe_executable())"
  MOVINET_CROSSFIT_FFMPEG="$build" .venv/bin/python -m pytest -q -p no:cacheprovider "${TESTS[@]}" "$@"
done
