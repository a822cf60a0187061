"""Every torch architecture must memorise a tiny fixed batch (8 samples, 4 classes, T=32)."""
import pytest
import torch

from models import available_models, build_model
from models.losses import compute_losses
from models.testing import make_batch

MAX_STEPS = 150


@pytest.mark.parametrize("name", available_models("torch"))
def test_overfits_tiny_batch(name):
    torch.manual_seed(0)
    batch = make_batch(8, 32, Tv=4, H=32, W=32, num_classes=4, seed=1)
    batch["label"] = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    batch["frame_label"] = batch["label"][:, None].expand(8, 32).clone()
    model = build_model(name, {"num_classes": 4})
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    acc = 0.0
    for step in range(1, MAX_STEPS + 1):
        model.train()
        losses = compute_losses(model(batch), batch, {"kl_weight": 0.0})
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                acc = (model(batch)["logits"].argmax(-1) == batch["label"]).float().mean().item()
            if acc == 1.0:
                break
    assert acc == 1.0, f"{name}: training accuracy {acc:.2f} after {MAX_STEPS} steps"
