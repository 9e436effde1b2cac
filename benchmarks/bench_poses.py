"""The pose track end to end, on a generated corpus and on the real cfmove clips.

1. A generated corpus's true COCO-17 keypoints (``pose.data.write_keypoint_corpus``: the keypoints
   ``synthetic.generate_corpus`` writes, without the videos); the TCN, LSTM and ConvLSTM trained on
   them with the grouped split (``train-poses`` defaults); test accuracy on true keypoints.
2. The test videos rendered (the same pictures ``generate_corpus`` draws), BlazePose run on them:
   detection rate, error against the true joints (torso lengths, PCK), milliseconds per frame; and
   each classifier's accuracy on those *detected* keypoints (trained on true ones: the gap is what
   the detector costs).
3. BlazePose on the real clips (``../shared/data/cfmove/clips``: thruster, chest-to-bar), and the
   classifiers trained on generated keypoints evaluated on them (sim -> real).

    python benchmarks/bench_poses.py [--clips-per-class 40] [--epochs 40] [--seed 0] [--out DIR] [--archs tcn,lstm,convlstm]

``--speed`` measures only how fast ``poses`` runs (issue 20: >= 40 frames per second on a real
854x480 clip on 2 cores, the landmark model <= 60 % of the time), nothing else:

    python benchmarks/bench_poses.py --speed [--video CLIP] [--threads 2] [--rounds 3] [--profile]

The clip: ``--video``, else the 30 real cfmove clips (854x480) joined into one (re-encoded h264,
~640 frames, the cuts between them included: each one loses the track and runs the detector). Per
``--person`` mode (``first``: plain BlazePose, ``auto``: following everyone, ``pose.people``):
frames per second end to end (``extract_poses``: decode, models, tracking; best of ``--rounds``)
and where the time goes: the landmark and detector invokes, the rest of BlazePose's own code
(warps, input scaling, decoding the outputs), and everything else (waiting for decoded frames,
the people tracker, the loop); decoding alone is timed too. ``--profile`` adds cProfile's top
functions for one more round of each mode. The load average is printed with every number.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import movinet_crossfit  # noqa: E402,F401
from movinet_crossfit.keypoints.data import corpus_plan, write_keypoint_corpus  # noqa: E402
from movinet_crossfit.pose.extract import extract_poses, make_backend, write_poses  # noqa: E402
from movinet_crossfit.pose.sequence import keypoint_errors, save_poses  # noqa: E402
from movinet_crossfit.keypoints.evaluate import evaluate_pose_run  # noqa: E402
from movinet_crossfit.keypoints.train import PoseTrainConfig, train_pose_classifier  # noqa: E402
from movinet_crossfit.synthetic import render_video  # noqa: E402
from movinet_crossfit.synthetic.truth import GroundTruth  # noqa: E402

SHARED = Path(os.environ.get("MOVINET_CROSSFIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def detected_corpus(corpus: Path, test_videos: list[str], plan: dict, out: Path, tracker) -> dict:
    """Render the test videos, run BlazePose on them, and write a corpus folder whose keypoints are
    the detected ones (same ground truth, segments and names)."""
    truth = GroundTruth.load(corpus)
    errors, frames, seconds = [], 0, 0.0
    videos = {}
    for name in test_videos:
        specs, video_seed = plan[name]
        video = out / "video" / name
        render_video(video, specs, seed=video_seed)
        started = time.perf_counter()
        poses = extract_poses(video, tracker)
        seconds += time.perf_counter() - started
        frames += poses.num_frames
        relative = f"keypoints/{Path(name).stem}.npz"
        save_poses(out / relative, poses)
        true = np.load(truth.root / truth.videos[name]["keypoints"])["keypoints"]
        errors.append(keypoint_errors(poses.keypoints, poses.layout, true))
        videos[name] = {**truth.videos[name], "keypoints": relative}
    dataclasses.replace(truth, videos=videos).save(out)
    weights = np.array([e["frames"] for e in errors], float)
    mean = lambda key: float(np.average([e[key] for e in errors], weights=weights))  # noqa: E731
    joints = {k: float(np.nanmedian([e["per_joint_median"][k] for e in errors if e["per_joint_median"][k] is not None]))
              for k in errors[0]["per_joint_median"]}
    return {"videos": len(videos), "frames": frames, "ms_per_frame": 1000 * seconds / frames,
            "detected_frames": mean("detected_frames"), "median_error_torso": mean("median_error"),
            "pck_0.2": mean("pck_0.2"), "pck_0.5": mean("pck_0.5"), "per_joint_median": joints}


def joined_clip(out: Path) -> Path:
    """The real cfmove clips joined into one 854x480 video (re-encoded so it is one stream)."""
    from movinet_crossfit.core.video import ffmpeg_executable

    clips = sorted((SHARED / "cfmove" / "clips").glob("*/*.mp4"))
    if not clips:
        raise SystemExit(f"no clips under {SHARED / 'cfmove' / 'clips'}: pass --video")
    listing = out / "clips.txt"
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in clips))
    video = out / "joined.mp4"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)], check=True)
    return video


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_poses(video: Path, tracker) -> dict:
    """One ``extract_poses`` run of ``tracker`` over ``video``, its time split by where it went."""
    pose = getattr(tracker, "pose", tracker)
    spent = {"landmark invoke": 0.0, "detector invoke": 0.0, "landmark code": 0.0, "detector code": 0.0}
    calls = {"landmark invoke": 0, "detector invoke": 0}
    originals = {}

    def wrap(owner, name, key, counted=False):
        original = getattr(owner, name)
        originals[(owner, name)] = original

        def timed(*args, **kwargs):
            tick = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - tick
                if counted:
                    calls[key] += 1
        setattr(owner, name, timed)

    wrap(pose.landmarker, "invoke", "landmark invoke", True)
    wrap(pose.detector, "invoke", "detector invoke", True)
    wrap(pose, "landmarks", "landmark code")
    wrap(pose, "detect", "detector code")
    try:
        started = time.perf_counter()
        poses = extract_poses(video, tracker)
        total = time.perf_counter() - started
    finally:
        for (owner, name), original in originals.items():
            if name == "invoke":
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # the instance attribute set above; the class's method again
    spent["landmark code"] -= spent["landmark invoke"]
    spent["detector code"] -= spent["detector invoke"]
    spent["decode wait, tracker, loop"] = total - sum(spent.values())
    return {"frames": poses.num_frames, "seconds": total, "spent": spent, "calls": calls,
            "detected": float(np.mean(np.isfinite(poses.keypoints[:, :, 0]).any(1)))}


def speed(args) -> None:
    import cProfile
    import pstats

    from movinet_crossfit.core.video import iter_frames

    out = Path(args.out or tempfile.mkdtemp(prefix="bench_poses_speed_"))
    out.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else joined_clip(out)
    first = next(iter(iter_frames(video)))
    print(f"{video}: {first.shape[1]}x{first.shape[0]}; {os.cpu_count()} CPU cores, {args.threads} LiteRT threads; "
          f"{load()}")
    decode = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        count = sum(1 for _ in iter_frames(video))
        decode.append((time.perf_counter() - started) / count)
    print(f"decode alone: {1000 * min(decode):.2f} ms/frame ({count} frames); {load()}")
    results = {}
    for person in args.person.split(","):
        tracker = make_backend("blazepose", person=person, num_threads=args.threads)
        extract_poses(video, tracker)  # warm-up: first invokes, XNNPACK packing
        runs = [timed_poses(video, tracker) for _ in range(args.rounds)]
        best = min(runs, key=lambda r: r["seconds"])
        results[person] = best
        frames, total = best["frames"], best["seconds"]
        print(f"\n--person {person}: {frames / total:.1f} frames/s ({1000 * total / frames:.1f} ms/frame, best of "
              f"{args.rounds}: " + ", ".join(f"{r['frames'] / r['seconds']:.1f}" for r in runs) + f" fps); "
              f"pose in {best['detected']:.0%} of frames; {load()}")
        for key, seconds in best["spent"].items():
            count = best["calls"].get(key)
            per_call = f"  {count} calls, {1000 * seconds / count:.1f} ms each" if count else ""
            print(f"  {key:28s} {1000 * seconds / frames:6.2f} ms/frame {seconds / total:6.0%}{per_call}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            extract_poses(video, tracker)
            profiler.disable()
            print(f"  cProfile, one more round (top 15 by own time); {load()}")
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(15)
    print("\ntargets (issue 20, judged on a quiet machine): >= 40 frames/s, landmark invoke <= 60 % of the time")
    for person, r in results.items():
        fps = r["frames"] / r["seconds"]
        share = r["spent"]["landmark invoke"] / r["seconds"]
        print(f"  --person {person:6s} {fps:5.1f} frames/s ({'met' if fps >= 40 else 'MISSED'}), landmark invoke "
              f"{share:.0%} of the time; ratio to 40 fps {fps / 40:.2f}")
    print(load())
    (out / "bench_poses_speed.json").write_text(json.dumps({"video": str(video), "threads": args.threads,
                                                           "decode_ms_per_frame": 1000 * min(decode),
                                                           "results": results, "load": os.getloadavg()}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="only time `poses` on a real clip (see the doc)")
    parser.add_argument("--video", default=None, help="--speed: the clip (default: the cfmove clips joined)")
    parser.add_argument("--threads", type=int, default=2, help="--speed: LiteRT threads per model")
    parser.add_argument("--rounds", type=int, default=3, help="--speed: runs per mode (the best counts)")
    parser.add_argument("--person", default="first,auto", help="--speed: the --person modes timed")
    parser.add_argument("--profile", action="store_true", help="--speed: cProfile one more round of each mode")
    parser.add_argument("--clips-per-class", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--archs", default="tcn,lstm,convlstm")
    parser.add_argument("--contrastive-epochs", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep everything here (default: a temp folder)")
    args = parser.parse_args()
    if args.speed:
        return speed(args)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_poses_"))
    results: dict = {"args": vars(args)}

    started = time.perf_counter()
    corpus = write_keypoint_corpus(out / "corpus", clips_per_class=args.clips_per_class, seed=args.seed)
    results["corpus_seconds"] = time.perf_counter() - started
    runs = {}
    for arch in args.archs.split(","):
        result = train_pose_classifier(PoseTrainConfig(data=str(corpus), out=str(out / "runs" / arch), arch=arch,
                                                       epochs=args.epochs, seed=args.seed,
                                                       contrastive_epochs=args.contrastive_epochs))
        s = result.summary
        runs[arch] = {"test_accuracy_true_keypoints": s["eval_accuracy"], "sequences": s["sequences"],
                      "groups": s["groups"], "train_seconds": s["seconds"]["train"],
                      "pretrain_seconds": s["seconds"]["pretrain"], "parameters": s["parameters"],
                      "tflite": s["tflite"]}
        print(arch, json.dumps(runs[arch]), flush=True)

    split = json.loads((out / "runs" / args.archs.split(",")[0] / "split.json").read_text())
    test_videos = sorted({row["group"] for row in split if row["split"] == "test"})
    plan = {name: (specs, s) for name, specs, s in corpus_plan(clips_per_class=args.clips_per_class, seed=args.seed)}
    tracker = make_backend("blazepose", num_threads=1)
    detected = out / "detected"
    results["detector_generated"] = detection = detected_corpus(corpus, test_videos, plan, detected, tracker)
    print("detector on generated test videos", json.dumps(detection), flush=True)
    for arch in runs:
        evaluation = evaluate_pose_run(out / "runs" / arch, data=detected, out_dir=out / "runs" / arch / "eval_detected")
        runs[arch]["test_accuracy_detected_keypoints"] = evaluation.metrics["accuracy"]
        runs[arch]["detected_sequences"] = evaluation.metrics["clips"]

    clips = SHARED / "cfmove" / "clips"
    if clips.is_dir():
        videos = sorted(clips.glob("*/*.mp4"))
        started = time.perf_counter()
        written = write_poses(videos, out / "real_poses", num_threads=1)
        seconds = time.perf_counter() - started
        rates = []
        for path in written.outputs.values():
            data = np.load(path)
            rates.append(float(np.isfinite(data["keypoints"][..., 0]).any(1).mean()))
        results["detector_real"] = {"clips": len(videos), "seconds": seconds,
                                    "detected_frames_mean": float(np.mean(rates)),
                                    "clips_with_a_pose_in_every_frame": int(sum(r == 1.0 for r in rates))}
        print("detector on real clips", json.dumps(results["detector_real"]), flush=True)
        for arch in runs:
            evaluation = evaluate_pose_run(out / "runs" / arch, data=out / "real_poses",
                                           out_dir=out / "runs" / arch / "eval_real")
            runs[arch]["real_clips_accuracy"] = evaluation.metrics["accuracy"]
            runs[arch]["real_clips"] = evaluation.metrics["clips"]
    results["runs"] = runs
    (out / "bench_poses.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'arch':10s} {'test (true kp)':>15s} {'test (BlazePose)':>17s} {'real clips':>11s} {'train s':>8s} "
          f"{'TFLite ms/seq':>14s}")
    for arch, r in runs.items():
        print(f"{arch:10s} {r['test_accuracy_true_keypoints']:15.3f} {r['test_accuracy_detected_keypoints']:17.3f} "
              f"{r.get('real_clips_accuracy', float('nan')):11.3f} {r['train_seconds']:8.0f} "
              f"{1000 * r['tflite']['seconds_per_sequence']:14.2f}")
    d = results["detector_generated"]
    print(f"BlazePose on {d['videos']} generated test videos: pose in {d['detected_frames']:.0%} of frames, median "
          f"error {d['median_error_torso']:.3f} torso, PCK@0.2 {d['pck_0.2']:.2f}, PCK@0.5 {d['pck_0.5']:.2f}, "
          f"{d['ms_per_frame']:.0f} ms/frame")
    print(f"-> {out / 'bench_poses.json'}")


if __name__ == "__main__":
    main()
