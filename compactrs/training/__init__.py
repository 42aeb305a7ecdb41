"""Training and evaluation: one loop (``fit``) shared by train, search retraining and prune fine-tuning."""
from compactrs.training.api import evaluate_run, train, train_network
from compactrs.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint, trained_seed
from compactrs.training.loop import TrainConfig, evaluate, fit, predict_logits
from compactrs.training.metrics import classification_metrics, confusion_matrix

__all__ = [
    "TrainConfig", "classification_metrics", "confusion_matrix", "evaluate", "evaluate_run", "fit",
    "load_checkpoint", "predict_logits", "read_checkpoint", "save_checkpoint", "train", "train_network", "trained_seed",
]
