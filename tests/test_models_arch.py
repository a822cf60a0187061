"""Every registered torch architecture: shapes, backward, state_dict round trip, missing modalities."""
import itertools

import pytest
import torch

from biomech.conventions import JOINT_ANGLES, MODALITIES
from models import available_models, build_model
from models.blocks import MODALITY_INDEX, TCN
from models.testing import make_batch

K = 4
B, T, TV, HW = 4, 32, 4, 32
# small but default-shaped configs (video models: small frames for CPU speed)
F = 3  # technique faults ("none" + 2): every torch recognizer carries the fault head here
CFG = {name: {"num_classes": K, "num_faults": F} for name in available_models("torch")}


def _batch(seed=0, mask=None):
    return make_batch(B, T, Tv=TV, H=HW, W=HW, num_classes=K, seed=seed, modality_mask=mask)


def _model(name, seed=0):
    torch.manual_seed(seed)
    return build_model(name, CFG[name])


def _mask(missing=(), samples=None):
    m = torch.ones(B, len(MODALITIES), dtype=torch.bool)
    for mod in missing:
        if samples is None:
            m[:, MODALITY_INDEX[mod]] = False
        else:
            m[samples, MODALITY_INDEX[mod]] = False
    return m


@pytest.mark.parametrize("name", available_models("torch"))
def test_forward_backward_shapes(name):
    model = _model(name).train()
    batch = _batch()
    out = model(batch)
    assert out["logits"].shape == (B, K)
    assert out["frame_logits"].shape == (B, T, K)
    if model.num_angles:
        assert out["angles"].shape == (B, T, len(JOINT_ANGLES))
    assert out["fault_logits"].shape == (B, F)
    loss = out["logits"].logsumexp(-1).sum() + out["frame_logits"].square().mean() + out["fault_logits"].logsumexp(-1).sum()
    if "angles" in out:
        loss = loss + out["angles"].square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), "parameters without gradient"


@pytest.mark.parametrize("name", available_models("torch"))
def test_fault_head_only_when_asked(name):
    model = build_model(name, {"num_classes": K}).eval()
    assert model.num_faults == 0 and "fault_logits" not in model(_batch())
    with pytest.raises(ValueError, match="num_faults = 1"):
        build_model(name, {"num_classes": K, "num_faults": 1})


@pytest.mark.parametrize("name", available_models("torch"))
def test_state_dict_round_trip(name, tmp_path):
    model = _model(name, seed=0).eval()
    batch = _batch()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    other = _model(name, seed=1).eval()
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        a, b = model(batch), other(batch)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", available_models("torch"))
def test_missing_modalities(name):
    model = _model(name).eval()
    used = model.modalities
    with torch.no_grad():
        full = model(_batch())["logits"]
        for mod in used:
            # whole batch lacks `mod`: runs, differs from present, ignores the masked tensor's content
            mask = _mask([mod])
            zeros = _batch(mask=mask)
            garbage = dict(zeros)
            garbage[mod] = torch.randn_like(zeros[mod]) * 5
            out0, out1 = model(zeros), model(garbage)
            assert torch.isfinite(out0["logits"]).all()
            assert not torch.allclose(out0["logits"], full, atol=1e-5), f"{mod} missing changes nothing"
            for k in out0:
                assert torch.allclose(out0[k], out1[k], atol=1e-6), f"{k} depends on masked {mod}"
            # only sample 0 lacks `mod`: sample 0 ignores its content, others unaffected
            mask = _mask([mod], samples=[0])
            zeros = _batch(mask=mask)
            garbage = dict(zeros)
            garbage[mod] = zeros[mod].clone()
            garbage[mod][0] = torch.randn_like(zeros[mod][0]) * 5
            out0, out1 = model(zeros)["logits"], model(garbage)["logits"]
            assert torch.allclose(out0, out1, atol=1e-6)
            assert torch.allclose(out0[1:], full[1:], atol=1e-5)
            assert not torch.allclose(out0[0], full[0], atol=1e-5)
        # every non-empty subset of the used modalities present (others missing) runs
        for r in range(1, len(used) + 1):
            for present in itertools.combinations(used, r):
                out = model(_batch(mask=_mask([m for m in MODALITIES if m not in present])))
                assert torch.isfinite(out["logits"]).all() and torch.isfinite(out["frame_logits"]).all()


def test_mm_resnet_se_receptive_field_and_modules():
    model = build_model("mm_resnet_se", {"num_classes": K})
    assert model.temporal_receptive_field >= 15
    assert sum(type(m).__name__ == "SEBlock" for m in model.backbone.modules()) == 4
    assert any(isinstance(m, torch.nn.Conv3d) and m.kernel_size[0] == 3 for m in model.modules())
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in model.modules())
    r50 = build_model("mm_resnet_se", {"num_classes": K, "backbone": "resnet50", "modalities": ["video"]})
    assert r50.backbone.out_channels == 2048


def test_tcn_receptive_field_matches_gradient():
    tcn = TCN(2, [4, 4, 4], kernel_size=3, dilations=[1, 2, 4]).eval()
    with torch.no_grad():  # positive weights + positive input: every ReLU passes, support is exact
        for p in tcn.parameters():
            p.fill_(0.1) if p.dim() > 1 else None
    x = torch.rand(1, 2, 64, requires_grad=True)
    tcn(x)[0, :, 32].sum().backward()
    touched = (x.grad.abs().sum(1)[0] > 0).nonzero().flatten()
    assert int(touched.max() - touched.min()) + 1 == tcn.receptive_field == 29
    causal = TCN(2, [4, 4], kernel_size=3, causal=True).eval()
    x = torch.randn(1, 2, 20, requires_grad=True)
    causal(x)[0, :, 10].sum().backward()
    assert x.grad[0, :, 11:].abs().sum() == 0 and x.grad[0, :, 10].abs().sum() > 0


def test_mm_resnet_se_local_weights(tmp_path):
    from torchvision.models import resnet18
    torch.manual_seed(3)
    ref = resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pt")
    model = build_model("mm_resnet_se", {"num_classes": K, "backbone_weights": str(tmp_path / "r18.pt")})
    assert torch.equal(model.backbone.stem[0].weight, ref.conv1.weight)


def test_tcn_gat_layouts_from_cfg():
    batch = _batch()
    # COCO-17 by name: nodes picked from the batch's MediaPipe-33 landmarks
    coco = build_model("tcn_gat", {"num_classes": K, "layout": "coco17"}).eval()
    out = coco(batch)
    assert out["node_attention"].shape == (B, 17) and out["angle_weights"].shape == (B, 23)
    assert torch.allclose(out["node_attention"].sum(-1), torch.ones(B), atol=1e-5)
    # a brand-new layout given as a cfg dict, with a batch that has exactly its nodes
    spec = {"num_nodes": 5, "edges": [[0, 1], [1, 2], [2, 3], [3, 4]],
            "imu_nodes": {"wrist_r": 4, "pelvis": 0}, "grf_nodes": [2, 2]}
    custom = build_model("tcn_gat", {"num_classes": K, "layout": spec}).eval()
    b5 = dict(batch)
    b5["landmarks"] = batch["landmarks"][:, :, :5]
    out = custom(b5)
    assert out["logits"].shape == (B, K) and "angle_weights" not in out  # no joint_nodes -> uniform
    # graph attention really is masked by the adjacency
    gat = custom.gats[0]
    _, attn = gat(torch.randn(2, 5, gat.lin.in_features))
    assert (attn[..., 0, 2:] == 0).all() and (attn[..., 0, :2] > 0).all()
