"""Loss functions."""
import math

import pytest
import torch
import torch.nn.functional as F

from models.losses import (compute_losses, focal_loss, kl_temporal_smoothing, weighted_angle_loss,
                           weighted_cross_entropy)


def test_focal_gamma0_equals_weighted_ce():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(16, 5, generator=g), torch.randint(0, 5, (16,), generator=g)
    w = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0])
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target), atol=1e-6)
    assert torch.allclose(focal_loss(logits, target, gamma=0.0, weight=w),
                          F.cross_entropy(logits, target, weight=w), atol=1e-6)
    assert torch.allclose(weighted_cross_entropy(logits, target, w), F.cross_entropy(logits, target, weight=w))
    # frame-level (B, T, K) with ignored frames
    fl, ft = torch.randn(2, 6, 5, generator=g), torch.randint(0, 5, (2, 6), generator=g)
    ft[0, :2] = -100
    assert torch.allclose(focal_loss(fl, ft, gamma=0.0, weight=w),
                          F.cross_entropy(fl.reshape(-1, 5), ft.reshape(-1), weight=w), atol=1e-6)
    assert focal_loss(logits, target, gamma=2.0) < focal_loss(logits, target, gamma=0.0)


def test_kl_smoothing():
    const = torch.randn(3, 1, 4).expand(3, 10, 4)
    assert kl_temporal_smoothing(const).abs().item() < 1e-7
    p = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]])  # p_t = [.5,.5], p_{t+1} = [.75,.25]
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kl_temporal_smoothing(p).item() == pytest.approx(expected, rel=1e-5)


def test_weighted_angle_loss():
    pred, target = torch.zeros(2, 3, 23), torch.zeros(2, 3, 23)
    target[..., 0] = 180 / math.pi  # 1 rad error on joint 0 only
    assert weighted_angle_loss(pred, target).item() == pytest.approx(1 / 23, rel=1e-5)
    w = torch.zeros(23)
    w[0] = 1.0  # normalised to mean 1 -> weight 23 on joint 0
    assert weighted_angle_loss(pred, target, w).item() == pytest.approx(1.0, rel=1e-5)
    target[0, 0, 0] = float("nan")  # ignored
    assert torch.isfinite(weighted_angle_loss(pred, target, w.expand(2, 23)))


def test_compute_losses_keys_and_errors():
    B, T, K = 2, 5, 3
    out = {"logits": torch.randn(B, K, requires_grad=True), "frame_logits": torch.randn(B, T, K),
           "angles": torch.randn(B, T, 23), "angle_weights": torch.rand(B, 23)}
    batch = {"label": torch.tensor([0, 2]), "frame_label": torch.zeros(B, T, dtype=torch.long),
             "angles": torch.randn(B, T, 23)}
    l = compute_losses(out, batch, {"classifier": "focal", "focal_gamma": 1.0, "class_weights": [1, 2, 3]})
    assert set(l) == {"window", "frame", "kl", "angle", "total"}
    l["total"].backward()
    with pytest.raises(KeyError, match="kl_wieght"):
        compute_losses(out, batch, {"kl_wieght": 1})


def test_fault_loss_is_weighted_ce_of_the_clip_fault():
    """fault_logits vs batch["fault"] (0 = none), fault_class_weights, times fault_weight."""
    B, T, K, F = 4, 5, 3, 3
    out = {"logits": torch.randn(B, K), "frame_logits": torch.randn(B, T, K), "fault_logits": torch.randn(B, F)}
    batch = {"label": torch.tensor([0, 1, 2, 0]), "fault": torch.tensor([0, 0, 2, 1])}
    fw = [0.2, 0.3, 0.5]
    cfg = {"frame_weight": 0.0, "kl_weight": 0.0, "fault_weight": 0.5, "fault_class_weights": fw}
    l = compute_losses(out, batch, cfg)
    want = torch.nn.functional.cross_entropy(out["fault_logits"], batch["fault"], weight=torch.tensor(fw))
    assert l["fault"].item() == pytest.approx(want.item(), rel=1e-6)
    assert l["total"].item() == pytest.approx((l["window"] + 0.5 * want).item(), rel=1e-6)
    assert "fault" not in compute_losses(out, batch, {**cfg, "fault_weight": 0.0})
    assert "fault" not in compute_losses({k: v for k, v in out.items() if k != "fault_logits"}, batch, cfg)


def test_fault_loss_given_the_action_ignores_faults_the_action_cannot_have():
    """With fault_admissible, the fault softmax runs over the faults seen with the window's action:
    a huge logit on a fault the action never has changes nothing; on an admissible one it does."""
    from models.losses import admissible_fault_mask

    mask = admissible_fault_mask([0, 0, 1, 1], [1, 0, 2, 0], num_classes=2, num_faults=3)
    assert mask.tolist() == [[True, True, False], [True, False, True]]
    batch = {"label": torch.tensor([0, 1]), "fault": torch.tensor([1, 0])}
    base = {"logits": torch.zeros(2, 2), "frame_logits": torch.zeros(2, 1, 2), "fault_logits": torch.zeros(2, 3)}
    cfg = {"frame_weight": 0.0, "kl_weight": 0.0, "fault_weight": 1.0, "fault_admissible": mask.tolist()}
    ref = compute_losses(base, batch, cfg)["fault"]
    assert ref.item() == pytest.approx(math.log(2), rel=1e-6)   # two admissible faults, uniform logits
    inadmissible = dict(base, fault_logits=torch.tensor([[0.0, 0.0, 50.0], [0.0, 50.0, 0.0]]))
    assert compute_losses(inadmissible, batch, cfg)["fault"].item() == pytest.approx(ref.item(), rel=1e-6)
    assert compute_losses(inadmissible, batch, {**cfg, "fault_admissible": None})["fault"].item() > 10
    admissible = dict(base, fault_logits=torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 50.0]]))
    assert compute_losses(admissible, batch, cfg)["fault"].item() > 10
