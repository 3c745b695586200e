"""One phase-aware training loop for every model, and greedy layer-wise pretraining."""
from aekit.train.config import TrainConfig
from aekit.train.loop import FitResult, TrainingDiverged, fit

__all__ = ["TrainConfig", "FitResult", "TrainingDiverged", "fit"]
