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
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-class", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--archs", default="tcn,lstm,convlstm")
    parser.add_argument("--contrastive-epochs", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep everything here (default: a temp folder)")
    args = parser.parse_args()
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
