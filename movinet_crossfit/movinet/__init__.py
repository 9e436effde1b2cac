"""MoViNet, the video classifier: model.py (+ fast_ops.py), train.py, evaluate.py, export.py, predict.py."""
