"""``train-poses``'s options (YAML, CLI and Python share them). No TensorFlow here."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from movinet_crossfit.core.config import TrainingConfig, config_from_dict
from movinet_crossfit.keypoints.features import Augmentation


class PoseTrainConfig(TrainingConfig):
    """``train-poses`` options; ``PoseTrainConfig.from_yaml(path, **options)`` reads ``--config``."""

    command = "train-poses"
    run_only = ("model", "classes")  # what a run adds to the config.yaml it writes

    data: str = ""
    out: str = ""
    manifest: Optional[str] = None
    arch: str = "tcn"
    layout: str = "coco17"  # the model's joint layout; mediapipe33 inputs are converted to it
    length: int = 64
    width: int = 64
    dropout: float = 0.2
    epochs: int = 80
    batch_size: int = 32
    learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    ratios: str = "train=0.7,val=0.1,test=0.2"
    seed: int = 0  # weights, augmentation and batch order
    split_seed: int = 0  # which groups go to which split (kept apart so runs can be compared on one split)
    contrastive_epochs: int = 0  # SimCLR pre-training epochs before the supervised ones (0: none)
    temperature: float = 0.2
    export: bool = True
    augmentation: Augmentation = Field(default_factory=Augmentation)

    @classmethod
    def from_dict(cls, data: dict) -> "PoseTrainConfig":
        return config_from_dict(cls, data)
