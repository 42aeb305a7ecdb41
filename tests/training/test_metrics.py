import numpy as np
import pytest
import torch

from compactrs.training import classification_metrics, confusion_matrix
from compactrs.training.losses import FocalLoss, make_loss


def test_metrics_against_hand_computed_values():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2, 1])
    m = classification_metrics(y_true, y_pred, 3)
    assert m["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 1, 3]]
    assert m["oa"] == pytest.approx(7 / 10)
    assert m["per_class_acc"] == pytest.approx([0.75, 0.5, 0.75])
    assert m["aa"] == pytest.approx((0.75 + 0.5 + 0.75) / 3)
    # kappa: p_o = 0.7; p_e = (4·4 + 2·3 + 4·3) / 100 = 0.34
    assert m["kappa"] == pytest.approx((0.7 - 0.34) / (1 - 0.34))


def test_untested_class_is_left_out_of_aa():
    m = classification_metrics(np.array([0, 0, 1]), np.array([0, 2, 1]), 3)
    assert m["per_class_acc"] == [0.5, 1.0, None]
    assert m["aa"] == pytest.approx(0.75)


def test_perfect_prediction_kappa_one():
    y = np.array([0, 1, 2, 1])
    assert classification_metrics(y, y, 3)["kappa"] == pytest.approx(1.0)
    assert confusion_matrix(y, y, 3).trace() == 4


def test_focal_loss_reduces_to_cross_entropy():
    logits = torch.randn(16, 5)
    target = torch.randint(0, 5, (16,))
    plain = torch.nn.functional.cross_entropy(logits, target)
    assert FocalLoss(gamma=0.0, label_smoothing=0.0)(logits, target) == pytest.approx(plain.item(), rel=1e-5)
    # easy examples are down-weighted: focal < CE for gamma > 0
    assert make_loss("focal")(logits, target) < make_loss("ce", 0.1)(logits, target)
