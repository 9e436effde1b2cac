"""The model-free repetition counter on pose keypoints: count.py (the counter), signal.py (its signal
pieces) and evaluate.py (against generated and real counts)."""
