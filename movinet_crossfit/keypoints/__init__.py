"""Keypoint-sequence classifiers (TCN, LSTM, ConvLSTM): model.py, features.py, data.py, train.py,
evaluate.py, export.py, predict.py."""
