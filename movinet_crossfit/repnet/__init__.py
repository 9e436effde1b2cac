"""RepNet, the class-agnostic video repetition counter: model.py, data.py (synthetic repetitions),
train.py, evaluate.py, export.py, infer.py (the official multi-stride inference)."""
