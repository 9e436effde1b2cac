"""Keypoint-sequence classifiers in tf_keras: TCN, LSTM and ConvLSTM over (T, K x 2) inputs.

Each model is an encoder ending in a layer named ``embedding`` (what SimCLR pre-training learns)
followed by dropout and a softmax ``head``. Inputs are ``features.prepare_sequence`` rows: fixed
length, no NaN, so every model converts to TFLite with builtin ops only.

* ``tcn``: the seed's temporal convolutional network, made residual: a 1x1 projection, then
  blocks of dilated 1-D convolutions (kernel 3, dilation 1, 2, 4, 8: a receptive field of 31
  frames) with batch norm, ReLU, dropout and a skip connection, then global average pooling.
* ``lstm``: two stacked LSTMs (the second's last state is the embedding).
* ``convlstm``: the seed's ConvLSTM: the sequence cut into ``steps`` sub-sequences of
  ``T / steps`` frames; a ConvLSTM1D runs over the sub-sequences, convolving along the frames of
  each, then global average pooling.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

ARCHITECTURES = ("tcn", "lstm", "convlstm")


@dataclass
class KeypointModelConfig:
    arch: str = "tcn"
    length: int = 64  # frames per sequence
    features: int = 34  # K x 2
    num_classes: int = 9
    width: int = 64  # filters / units
    dilations: list = field(default_factory=lambda: [1, 2, 4, 8])
    steps: int = 8  # convlstm: sub-sequences
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


def build_keypoint_model(config: KeypointModelConfig):
    """The classifier: ``(batch, length, features)`` float32 -> ``(batch, num_classes)`` probabilities."""
    import tf_keras as keras

    if config.arch not in ARCHITECTURES:
        from movinet_crossfit.core.errors import UserError

        raise UserError(f"--arch {config.arch!r}: choose one of {', '.join(ARCHITECTURES)}")
    inputs = keras.Input((config.length, config.features), name="keypoints")
    embedding = {"tcn": _tcn, "lstm": _lstm, "convlstm": _convlstm}[config.arch](inputs, config)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(embedding)
    outputs = keras.layers.Dense(config.num_classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name=f"keypoint_{config.arch}")


def encoder_of(model):
    """The model up to its ``embedding`` layer (shares the weights)."""
    import tf_keras as keras

    return keras.Model(model.input, model.get_layer("embedding").output, name=f"{model.name}_encoder")


def _tcn(inputs, config: KeypointModelConfig):
    import tf_keras as keras

    layers = keras.layers
    x = layers.Conv1D(config.width, 1, name="project")(inputs)
    for i, dilation in enumerate(config.dilations):
        y = layers.Conv1D(config.width, 3, padding="same", dilation_rate=dilation, use_bias=False,
                          name=f"block{i}_conv")(x)
        y = layers.BatchNormalization(name=f"block{i}_bn")(y)
        y = layers.ReLU(name=f"block{i}_relu")(y)
        y = layers.Dropout(config.dropout, name=f"block{i}_dropout")(y)
        x = layers.Add(name=f"block{i}_add")([x, y])
    return layers.GlobalAveragePooling1D(name="embedding")(x)


def _lstm(inputs, config: KeypointModelConfig):
    import tf_keras as keras

    x = keras.layers.LSTM(config.width, return_sequences=True, name="lstm1")(inputs)
    return keras.layers.LSTM(config.width, name="embedding")(x)


def _convlstm(inputs, config: KeypointModelConfig):
    import tf_keras as keras

    if config.length % config.steps:
        from movinet_crossfit.core.errors import UserError

        raise UserError(f"convlstm: length {config.length} is not a multiple of steps {config.steps}")
    sub = config.length // config.steps
    x = keras.layers.Reshape((config.steps, sub, config.features), name="subsequences")(inputs)
    x = keras.layers.ConvLSTM1D(config.width, 3, padding="same", name="convlstm")(x)
    return keras.layers.GlobalAveragePooling1D(name="embedding")(x)
