"""The embedded default corpus: a stick-figure gym rendered to labelled videos.

An articulated figure (thick limbs, a head) performs the default CrossFit movements as cyclic
joint-angle trajectories with their equipment (barbell and plates, pull-up bar, rope, GHD,
wall), varied in speed, fatigue, viewpoint, scale, background, lighting, noise and camera
shake, all from one seed. ``generate_corpus`` writes it as a Supervisely video export plus the
true rep counts and keypoints; ``render_video`` renders one video.

    figure.py     skeleton, forward kinematics, COCO-17 keypoints, figure drawing
    movements.py  per-class keyframed trajectories and how the body is anchored
    faults.py     faulty reps on purpose: per-rep keyframe overrides that break a standard
    timeline.py   segments + transitions -> one pose per frame; camera fit
    scene.py      equipment, background, lighting, noise, rasteriser
    encode.py     frames -> h264 mp4 through one ffmpeg process
    corpus.py     render_video, generate_corpus, Supervisely export
    truth.py      ground_truth.json: GroundTruth, its one writer and reader
    bystanders.py people who are not the athlete: a standing judge, walking spectators
"""
from movinet_crossfit.synthetic.bystanders import Bystander
from movinet_crossfit.synthetic.corpus import (CorpusSummary, VideoTruth, faulty_set, generate_corpus, plan_corpus,
                                               random_segments, render_keypoints, render_video)
from movinet_crossfit.synthetic.faults import FAULTS
from movinet_crossfit.synthetic.movements import MOVEMENTS
from movinet_crossfit.synthetic.timeline import SegmentSpec, SegmentTruth
from movinet_crossfit.synthetic.truth import GroundTruth

__all__ = ["Bystander", "CorpusSummary", "FAULTS", "GroundTruth", "MOVEMENTS", "SegmentSpec", "SegmentTruth",
           "VideoTruth", "faulty_set", "generate_corpus", "plan_corpus", "random_segments", "render_keypoints",
           "render_video"]
