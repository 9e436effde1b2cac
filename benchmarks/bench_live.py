"""Live analysis (analysis/live.py): how soon reps are reported, whether the live count ends as the
offline one, and how many frames per second the live pipeline sustains.

1. The 80 real RepCount pose sequences (../shared/data/repcount_pose) replayed as if live
   (``replay_counter``: the online counter over the growing sequence, poses already known): final
   == offline on every one (must), the share of final reps reported within one period of their end,
   the same with a rep cut half a period off the final one taken as its rep (``phase_delays``),
   why the others were late (``late_kinds``: cut at the other extreme, never reported online, the
   first rep, the first after a pause, matched but late; and how many of each are RepCount's own
   reps: the final count also holds reps the annotators did not mark, such as a set-up),
   the median / 95th percentile delay in periods and seconds, the bound (``bound_delays``: a rep
   reported by the first re-count of the live window that holds it, no guard, no confirmation:
   what any report rule over these re-counts could reach), precision of the online reports
   (matched to a final rep at temporal IoU >= 0.5), the endings the final count corrects. Twice:
   the movement unknown, and given as the user's (``--movement``: its RepCount class, which places
   the counter's rest side, posecount.looks.MID_REP).
2. The real CrossFit clips of a class joined into one set (thruster, chest-to-bar; 854x480):
   ``live`` (run_live) against ``analyze`` (analyse_footage): counts, delays, and frames per second
   with the time split by stage (decode, poses, counter, judging, stream model with --model), for
   --person auto and --person first, and auto with the movement given (``+mv``), against the
   issue's goal of 30 fps.
3. The cost of re-counting on a long stream (--minutes, default 10): flat per second of video.
4. ``--flip-rest`` (the movement's other convention) on the RepCount videos annotated at the other
   extreme from the movement's look (``--flip-rest NAMES``; '' skips it; not skipped by
   --skip-repcount): per video, as the look and flipped, the final reps that are RepCount's,
   RepCount's reps the running count reports within a period of their end, and the final reps
   reported so.

    python benchmarks/bench_live.py [--data DIR] [--skip-repcount] [--skip-video] [--model EXPORT_STREAM]
                                    [--movement unknown|given|both] [--flip-rest NAMES]
                                    [--classes thruster,chest-to-bar] [--limit N] [--minutes 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from movinet_crossfit.analysis.live import replay_counter  # noqa: E402
from movinet_crossfit.analysis.online import OnlineCounter  # noqa: E402
from movinet_crossfit.posecount.count import count_repetitions  # noqa: E402
from movinet_crossfit.posecount.evaluate import live_corrections, load_repcount, match_reps, same_reps  # noqa: E402

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
GOAL_FPS = 30.0


def _load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def delays(online, final, n: int) -> tuple[list[float], int]:
    """Per final rep: (report pose index - its end) / period, the online rep matched by IoU (the
    end of the stream when none was); and how many online reports matched a final rep."""
    period = final.period or 1.0
    on = [(r.start, r.end) for r in online]
    matched = {j: i for i, j, _ in match_reps(on, [(r.start_frame, r.end_frame) for r in final.reps], 0.5)}
    out = [((online[matched[j]].at if j in matched else n) - 1 - r.end_frame) / period
           for j, r in enumerate(final.reps)]
    return out, len(matched)


def phase_delays(online, final, n: int) -> list[float]:
    """``delays`` with an online rep also matched to a final rep half a period away (IoU >= 0.5
    once shifted): a rep cut at the other extreme of the movement. The counter takes the side the
    signal dwells on (its skewness) as the rest position; a window near zero skewness can take the
    other side than the whole sequence, and then every rep it reports is half a period off the
    final one although the count is on time."""
    period = final.period or 1.0
    matched = {j: i for i, j, _ in match_reps([(r.start, r.end) for r in online],
                                               [(r.start_frame, r.end_frame) for r in final.reps], 0.5,
                                               shifts=(0.0, period / 2, -period / 2))}
    return [((online[matched[j]].at if j in matched else n) - 1 - r.end_frame) / period
            for j, r in enumerate(final.reps)]


def bound_delays(keypoints: np.ndarray, fps: float, final, movement: str | None = None) -> list[float]:
    """``delays`` for the best any report rule over the live re-counts could do: per final rep, the
    first time one re-count of the live window (``OnlineCounter.window_count``, re-counted every
    ``MIN_RECOUNT_SECONDS``, as often as the live counter ever does) held it (IoU >= 0.5, its end
    seen), with no guard and no confirmation. Nothing is reported, so a window whose period jumps
    to a multiple of the set's is not re-counted on its later half for that (the live counter's only
    rule that depends on its reports)."""
    counter = OnlineCounter(fps, movement=movement)
    bounds = [(r.start_frame, r.end_frame) for r in final.reps]
    known: list[int | None] = [None] * len(bounds)
    for n in range(8, len(keypoints) + 1, counter.least):
        start = counter.window_start(n)
        count, first, believed = counter.window_count(keypoints[start:n], start)
        if believed:
            held = [(first + r.start_frame, first + r.end_frame) for r in count.reps if first + r.end_frame <= n - 1]
            for _, j, _ in match_reps(held, bounds, 0.5):
                if known[j] is None:
                    known[j] = n
    period = final.period or 1.0
    return [((k if k is not None else len(keypoints)) - 1 - end) / period for k, (_, end) in zip(known, bounds)]


LATE_KINDS = ("cut at the other extreme, reported on time", "cut at the other extreme, late",
              "never reported online (the end did)", "the first rep", "the first after a pause",
              "reported 1-3 periods late", "reported over 3 periods late")


def late_kinds(online, final, late: list[float], shifted: list[float]) -> list[str | None]:
    """Per final rep, None when it was reported within a period of its end, else why it was late,
    one of ``LATE_KINDS``: its online rep cut half a period off (matched only once shifted;
    ``phase_delays``), no online rep at all, the video's first rep (a period is believed once two are
    seen), the first after a pause of over a period, or matched and late by 1-3 or more periods.
    ``late`` and ``shifted``: the same reps' ``delays`` and ``phase_delays``."""
    period = final.period or 1.0
    on = [(r.start, r.end) for r in online]
    matched = {j for _, j, _ in match_reps(on, [(r.start_frame, r.end_frame) for r in final.reps], 0.5)}
    kinds = []
    for j, (rep, d) in enumerate(zip(final.reps, late)):
        if d <= 1.0:
            kinds.append(None)
        elif j not in matched:
            kinds.append(LATE_KINDS[0 if shifted[j] <= 1.0 else 1] if shifted[j] < d else LATE_KINDS[2])
        elif j == 0:
            kinds.append(LATE_KINDS[3])
        elif rep.start_frame - final.reps[j - 1].end_frame > period:
            kinds.append(LATE_KINDS[4])
        else:
            kinds.append(LATE_KINDS[5 if d <= 3 else 6])
    return kinds


def count_delays(online, final, n: int) -> list[float]:
    """Per final rep k: (the pose index when the running count reached k - its end) / period --
    what a user watching the count sees, whatever bounds the online reps had."""
    period = final.period or 1.0
    return [((online[k].at if k < len(online) else n) - 1 - r.end_frame) / period for k, r in enumerate(final.reps)]


def count_timeline(online, final, n: int) -> tuple[int, int, int]:
    """Pose by pose, the running count a user sees against the final reps: (poses where it is
    right, ahead, behind). Right: at least the final reps that ended a period or more before,
    at most those that have started (a rep in progress may be counted or not). Ahead: more reps
    shown than have started (a rep the final count does not hold, counted online); behind: a rep
    that ended over a period ago is not counted yet."""
    period = final.period or 1.0
    t = np.arange(n)
    shown = np.searchsorted(np.sort([r.at - 1 for r in online]), t, side="right")
    ended = np.searchsorted(np.sort([r.end_frame + period for r in final.reps]), t, side="right")
    started = np.searchsorted(np.sort([r.start_frame for r in final.reps]), t, side="right")
    ahead, behind = shown > started, shown < ended
    return int(np.sum(~ahead & ~behind)), int(ahead.sum()), int(behind.sum())


def was_corrected(online, final) -> bool:
    """What ``live``'s ``end`` says in ``corrected`` (``LiveSession.finish``, with every rep reported
    and this final count): a reported rep the final count does not hold, a final rep the running
    count went past, or one paired with its reported rep only far off or half a period moved
    (``live_corrections``). In ``finish``'s order (by start, as reported)."""
    _, moved, dropped, missed = live_corrections([(r.start, r.end) for r in sorted(online, key=lambda r: r.start)],
                                                 [(r.start_frame, r.end_frame) for r in final.reps],
                                                 final.period or 0.0)
    return bool(moved or dropped or missed)


def true_reps(video):
    """RepCount's own rep bounds in the shape of a count (``reps`` with ``start_frame`` /
    ``end_frame``, ``period``: the median true rep), to judge a running count against the truth
    rather than against the final count (which is itself wrong on some videos)."""
    reps = [SimpleNamespace(start_frame=int(a), end_frame=int(b)) for a, b in video.bounds]
    period = float(np.median([b - a + 1 for a, b in video.bounds])) if reps else None
    return SimpleNamespace(reps=reps, period=period, count=len(reps))


def shown_at_end(count):
    """A count's reps as a running count that shows each rep the moment it ends (the best a live
    count that agrees with ``count`` could do): the reference for ``true_reps`` comparisons."""
    return [SimpleNamespace(at=r.end_frame + 1, start=r.start_frame, end=r.end_frame) for r in count.reps]


# The online counter's settings (RECOUNT_PERIODS, MIN_RECOUNT_SECONDS, MIN_GUARD_SECONDS, MEMORY,
# no hold-back; COUNT_OPTIONS' skip_harmonics) were chosen on the first 40 sequences in file order;
# the last 40 are out of fold.
TUNING_FOLD = 40


def bench_repcount(folder: Path, fps: float, limit: int | None, movement_known: bool = False) -> None:
    """``movement_known``: each sequence's RepCount class passed as the user's movement (``live
    --movement``), which places the counter's rest side (posecount.looks.MID_REP), online and final."""
    videos = load_repcount(folder)[:limit]
    rows, periods, seconds, equal, corrected, reported, matched = [], [], [], 0, 0, 0, 0
    by_count, folds = [], {"tuning": [], "out of fold": []}
    by_phase = {name: [] for name in folds}
    bound = {name: [] for name in folds}
    why_late = {name: [] for name in folds}
    # The final reps that are RepCount's own reps too (IoU >= 0.5): lateness on reps that are there.
    annotated_delays = {name: [] for name in folds}
    fold_timeline = {name: [np.zeros(3, int), 0] for name in folds}  # (right, ahead, behind), sequences ever ahead
    # Against RepCount's true reps: the running count, and the final count shown at each rep's end.
    truth = {who: {"late": {name: [] for name in folds}, "poses": {name: np.zeros(3, int) for name in folds}}
             for who in ("running count", "final count at each rep's end")}
    started = time.perf_counter()
    for video in videos:
        movement = video.kind if movement_known else None
        counter, final = replay_counter(video.keypoints, fps, movement=movement)
        offline = count_repetitions(video.keypoints, fps, "mediapipe33", movement=movement)
        equal += final.count == offline.count and [(r.start_frame, r.end_frame) for r in final.reps] == \
            [(r.start_frame, r.end_frame) for r in offline.reps]
        late, hits = delays(counter.reps, final, len(video.keypoints))
        periods += late
        by_count += count_delays(counter.reps, final, len(video.keypoints))
        poses = np.array(count_timeline(counter.reps, final, len(video.keypoints)))
        fold = "tuning" if len(rows) < TUNING_FOLD else "out of fold"
        folds[fold] += late
        shifted = phase_delays(counter.reps, final, len(video.keypoints))
        by_phase[fold] += shifted
        bound[fold] += bound_delays(video.keypoints, fps, final, movement)
        annotated = {j for _, j, _ in match_reps(video.bounds,
                                                  [(r.start_frame, r.end_frame) for r in final.reps], 0.5)}
        annotated_delays[fold] += [d for j, d in enumerate(late) if j in annotated]
        # (why it was late, one of RepCount's reps?) per late rep
        why_late[fold] += [(kind, j in annotated)
                           for j, kind in enumerate(late_kinds(counter.reps, final, late, shifted)) if kind]
        fold_timeline[fold][0] += poses
        fold_timeline[fold][1] += poses[1] > 0
        real = true_reps(video)
        if real.reps:
            for who, shown in (("running count", counter.reps), ("final count at each rep's end", shown_at_end(final))):
                truth[who]["late"][fold] += delays(shown, real, len(video.keypoints))[0]
                truth[who]["poses"][fold] += np.array(count_timeline(shown, real, len(video.keypoints)))
        seconds += [d * (final.period or 1.0) / fps for d in late]
        reported += len(counter.reps)
        matched += hits
        corrected += was_corrected(counter.reps, final)
        rows.append((video.name, final.count, len(counter.reps), counter.recounts, counter.seconds))
    p = np.array(periods)
    print(f"\nRepCount poses, {'the movement given (--movement)' if movement_known else 'the movement unknown'}: "
          f"{len(videos)} sequences, {len(p)} final reps, {time.perf_counter() - started:.0f} s "
          f"(load {_load_average()})")
    print(f"  final == offline (count and bounds): {equal}/{len(videos)}")
    print(f"  reported within one period of their end: {np.mean(p <= 1.0):.1%}; delay median {np.median(p):.2f} "
          f"periods ({np.median(seconds):.2f} s), 95th percentile {np.percentile(p, 95):.2f} periods "
          f"({np.percentile(seconds, 95):.2f} s)")
    for name, fold in folds.items():
        if fold:
            print(f"  {name} ({'first' if name == 'tuning' else 'last'} {TUNING_FOLD} sequences): "
                  f"{np.mean(np.array(fold) <= 1.0):.1%} of {len(fold)} within one period")
            poses, ahead_ever = fold_timeline[name]
            shares = " / ".join(f"{x:.1%}" for x in poses / max(poses.sum(), 1))
            print(f"    pose by pose right / ahead / behind: {shares}; {ahead_ever} sequences ever ahead")
    print("  the same, an online rep cut half a period off the final one (at the movement's other extreme) "
          "taken as its rep: " + " / ".join(f"{np.mean(np.array(v) <= 1.0):.1%}" for v in by_phase.values() if v)
          + f" (first / last {TUNING_FOLD})")
    print("  the bound: reported by the first re-count that holds the rep (no guard, no confirmation, a "
          "re-count every 0.1 s): " + " / ".join(f"{np.mean(np.array(v) <= 1.0):.1%}" for v in bound.values() if v)
          + f" (first / last {TUNING_FOLD}), {np.mean(np.concatenate([v for v in bound.values() if v]) <= 1.0):.1%} in all")
    print("  the final reps that are RepCount's reps too (IoU >= 0.5 with a true rep): "
          + " / ".join(f"{np.mean(np.array(v) <= 1.0):.1%} of {len(v)}" for v in annotated_delays.values() if v)
          + f" within one period (first / last {TUNING_FOLD})")
    print(f"  why the others were late (first / last {TUNING_FOLD} sequences; of them RepCount's reps too):")
    for kind in LATE_KINDS:
        counts = [sum(k == kind for k, _ in v) for v in why_late.values()]
        theirs = [sum(k == kind and annotated for k, annotated in v) for v in why_late.values()]
        print(f"    {kind}: {' / '.join(map(str, counts))} ({' / '.join(map(str, theirs))})")
    print(f"  by the running count (when it reached k vs final rep k's end): "
          f"{np.mean(np.array(by_count) <= 1.0):.1%} within one period (reaching k early counts as within)")
    timeline = sum(poses for poses, _ in fold_timeline.values())
    ever_ahead = sum(ahead_ever for _, ahead_ever in fold_timeline.values())
    right, ahead, behind = timeline / max(timeline.sum(), 1)
    print(f"  the running count, pose by pose: right {right:.1%}, ahead {ahead:.1%} (more reps shown than have "
          f"started; {ever_ahead}/{len(videos)} sequences at some point), behind {behind:.1%} (a rep ended over a "
          f"period ago not shown)")
    print("  against RepCount's true reps (IoU >= 0.5; a period = the median true rep), first / last "
          f"{TUNING_FOLD} sequences:")
    for who, result in truth.items():
        late = " / ".join(f"{np.mean(np.array(v) <= 1.0):.1%}" for v in result["late"].values() if v)
        poses = " | ".join(" / ".join(f"{x:.1%}" for x in v / max(v.sum(), 1)) for v in result["poses"].values()
                           if v.sum())
        print(f"    {who}: true reps counted within one period of their end {late}; pose by pose right / "
              f"ahead / behind {poses}")
    print(f"  online reports matching a final rep: {matched}/{reported} ({matched / max(reported, 1):.1%}); "
          f"endings corrected: {corrected}/{len(videos)}")
    recount = sum(r[4] for r in rows) / max(sum(r[3] for r in rows), 1)
    print(f"  re-counts: {sum(r[3] for r in rows)} ({recount * 1e3:.1f} ms each on average)")


# RepCount's videos whose annotators cut the reps at the other extreme from the movement's look:
# sit-ups sat up to sat up, pommel-horse circles ended where the legs pass the image's right.
OTHER_CONVENTION = ("stu2_55", "stu7_52", "stu10_60", "stu12_31", "stu12_32")


def bench_flip_rest(folder: Path, fps: float, names: list[str]) -> None:
    """Section 4 of the module doc: each video named (its RepCount class as the movement) replayed
    as the look places its rest and with ``flip_rest``."""
    videos = {video.name: video for video in load_repcount(folder)}
    unknown = [name for name in names if name not in videos]
    if unknown:
        print(f"--flip-rest: no RepCount sequence named {', '.join(unknown)}; skipped", file=sys.stderr)
    print(f"\n--flip-rest on RepCount videos annotated at the other extreme (load {_load_average()}): "
          "the final reps that are RepCount's; RepCount's reps / the final reps reported within a period")
    print(f"{'video':10s} {'movement':12s} {'reps':>4s}   {'as the look':>22s}   {'flipped':>22s}")
    for name in (name for name in names if name in videos):
        video = videos[name]
        real, cells = true_reps(video), []
        for flip in (False, True):
            counter, final = replay_counter(video.keypoints, fps, movement=video.kind, flip_rest=flip)
            found = len(match_reps(video.bounds, [(r.start_frame, r.end_frame) for r in final.reps], 0.5))
            true_on_time = np.mean(np.array(delays(counter.reps, real, len(video.keypoints))[0]) <= 1.0)
            final_on_time = np.mean(np.array(delays(counter.reps, final, len(video.keypoints))[0]) <= 1.0)
            cells.append(f"{found:4d} {true_on_time:8.0%} {final_on_time:8.0%}")
        print(f"{name:10s} {video.kind:12s} {len(video.bounds):4d}   {cells[0]:>22s}   {cells[1]:>22s}")


def bench_cost(folder: Path, fps: float, minutes: float) -> None:
    """The online counter's cost on a long stream: the RepCount sequences end to end for
    ``minutes``, replayed; the re-count time per second of video over the first and the last minute
    (flat: the window bounds it) and the final pass's."""
    videos = load_repcount(folder)
    keypoints = np.concatenate([v.keypoints for v in videos])
    keypoints = np.concatenate([keypoints] * int(np.ceil(minutes * 60 * fps / len(keypoints))))[:int(minutes * 60 * fps)]
    from movinet_crossfit.analysis.live import OnlineCounter

    counter, spent = OnlineCounter(fps), []
    for n in range(1, len(keypoints) + 1):
        if counter.due(n):
            start, before = counter.window_start(n), counter.seconds
            counter.update(keypoints[start:n], start, n)
            spent.append((n, counter.seconds - before))
    minute = int(60 * fps)
    first = sum(t for n, t in spent if n <= minute)
    last = sum(t for n, t in spent if n > len(keypoints) - minute)
    started = time.perf_counter()
    count_repetitions(keypoints, fps, "mediapipe33")
    final = time.perf_counter() - started
    print(f"\ncost on a {minutes:g}-minute stream ({len(keypoints)} poses): {counter.recounts} re-counts, "
          f"{counter.seconds:.1f} s in all ({counter.seconds / (len(keypoints) / fps):.1%} of the video's duration); "
          f"first minute {first:.2f} s, last minute {last:.2f} s (x{last / max(first, 1e-9):.2f}); the final pass "
          f"{final:.2f} s (load {_load_average()})")


def bench_video(clips: Path, classes: list[str], model: str | None) -> None:
    from movinet_crossfit.analysis.footage import analyse_footage
    from movinet_crossfit.analysis.live import run_live
    from movinet_crossfit.core.video import iter_frames, probe
    from movinet_crossfit.data.clips import join_clips

    folder = Path(tempfile.mkdtemp(prefix="bench_live_"))
    print(f"\n{'set':14} {'person':7} {'frames':>6} {'analyze':>7} {'live':>5} {'corr':>5} {'late>1p':>7} "
          f"{'delay s med/max':>15} {'live fps':>8} {'decode fps':>10} {'split (s): poses/count/judge/model'}")
    for name in classes:
        paths = sorted((clips / name).glob("*.mp4"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        joined, _ = join_clips(paths, folder / f"{name}.mp4")
        info = probe(joined)
        started = time.perf_counter()
        decoded = sum(1 for _ in iter_frames(joined))
        decode_fps = decoded / (time.perf_counter() - started)
        # the third run: the user names the movement (--movement), which places the rest side
        for person, movement in (("auto", None), ("first", None), ("auto", name)):
            offline = analyse_footage(joined, info, person=person, movement=movement)
            run = run_live(str(joined), person=person, model=model, movement=movement)
            live = run.analysis
            end = run.events[-1].to_dict()
            period = (offline.count.period or 1.0) / offline.pose_fps
            # Each rep event against the final rep that is the same rep (live.finish()'s pairing,
            # posecount.evaluate.same_reps): seconds from that rep's end to the report.
            reps = [e for e in run.events if e.kind == "rep"]
            same = same_reps([(e.detail["start_s"] * offline.fps, e.t_s * offline.fps) for e in reps],
                             [(r.start_frame, r.end_frame) for r in offline.reps], period * offline.fps)
            late = [reps[i].reported_at_s - offline.reps[j].end_frame / offline.fps for i, j, _ in same]
            t = live.timings
            split = "/".join(f"{t.get(k, 0.0):.1f}" for k in ("poses", "live_count", "live_judge", "live_stream_model"))
            print(f"{name:14} {person + ('+mv' if movement else ''):7} {decoded:6d} {offline.count.count:7d} {live.count.count:5d} "
                  f"{str(end['corrected']):>5} {sum(d > period for d in late):7d} "
                  f"{np.median(late) if late else 0:7.2f}/{max(late) if late else 0:<7.2f} "
                  f"{decoded / run.wall_seconds:8.1f} {decode_fps:10.1f} {split}  (period {period:.2f} s)")
    print(f"goal: >= {GOAL_FPS:g} fps live on 854x480 (load {_load_average()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--fps", type=float, default=30.0, help="the RepCount poses' frame rate")
    parser.add_argument("--limit", type=int, default=None, help="first N RepCount sequences only")
    parser.add_argument("--skip-repcount", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--movement", choices=("unknown", "given", "both"), default="both",
                        help="replay RepCount with the movement unknown, given as the user's (its class), or both")
    parser.add_argument("--minutes", type=float, default=10.0, help="the long stream of the cost measurement "
                        "(0: skip it)")
    parser.add_argument("--flip-rest", default=",".join(OTHER_CONVENTION), help="RepCount sequences replayed "
                        "with and without --flip-rest ('' skips it)")
    parser.add_argument("--classes", default="thruster,chest-to-bar")
    parser.add_argument("--model", default=None, help="a stream export (`export --stream`) for the running movement")
    args = parser.parse_args()
    print(f"bench_live: {os.cpu_count()} CPUs, load {_load_average()}")
    if not args.skip_repcount:
        for known in {"unknown": (False,), "given": (True,), "both": (False, True)}[args.movement]:
            bench_repcount(args.data / "repcount_pose", args.fps, args.limit, movement_known=known)
    if args.flip_rest.strip():
        names = [name.strip() for name in args.flip_rest.split(",") if name.strip()]
        bench_flip_rest(args.data / "repcount_pose", args.fps, names)
    if args.minutes > 0:
        bench_cost(args.data / "repcount_pose", args.fps, args.minutes)
    if not args.skip_video:
        bench_video(args.data / "cfmove" / "clips", [c for c in args.classes.split(",") if c], args.model)


if __name__ == "__main__":
    main()
