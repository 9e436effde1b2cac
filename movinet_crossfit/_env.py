"""Process-wide settings that must be in place before TensorFlow is imported.

MoViNet (tf-models-official) is written against tf_keras (Keras 2). TensorFlow reads
``TF_USE_LEGACY_KERAS`` once, at its first import, to decide what ``tf.keras`` is, so this
module is imported first by the package ``__init__`` and is the only place that sets it.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter is noise for a CLI user; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
