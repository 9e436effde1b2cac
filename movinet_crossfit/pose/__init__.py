"""Pose keypoints: extraction from videos (BlazePose on LiteRT, pluggable backends), import from
other estimators, the poses ``.npz`` format, and keypoint-sequence classifiers."""
