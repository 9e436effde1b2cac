"""The model-free repetition counter on pose keypoints: count.py and evaluate.py."""
