"""tcn_gat: what the 2026-12 diagnosis fixed (issue 12, item 3), each as a check that failed before.

- all six IMUs reach the graph (before: only wrists and shanks; pelvis and trunk were dropped);
- node features are normalised per node and feature (before: raw z-scored positions next to
  velocities ~10x smaller), so the scale of the landmark coordinates does not matter;
- the default layout is the 17 body landmarks: face and finger landmarks do not change the output
  (before: 17 of the 33 mean-pooled nodes were face and hands).
"""
import pytest
import torch

from biomech.conventions import IMU_SENSORS
from models import build_model
from models.graphs import get_layout
from models.losses import compute_losses
from models.testing import make_batch

B, T, K = 8, 32, 4
FACE_AND_FINGERS = list(range(1, 11)) + list(range(17, 23))


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread is faster and does not fight the other processes for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(**cfg):
    torch.manual_seed(0)
    return build_model("tcn_gat", {"num_classes": K, **cfg})


@pytest.mark.parametrize("sensor", ["pelvis", "trunk"])
def test_overfits_a_class_signal_carried_only_by_a_pelvis_or_trunk_imu(sensor):
    """Every input identical across samples except one IMU sensor (pelvis or trunk), whose
    oscillation frequency encodes the class: a model that drops that sensor outputs the same logits
    for all 8 windows (accuracy 2/8); the fixed model must memorise them."""
    batch = make_batch(B, T, num_classes=K, seed=1)
    y = torch.arange(B) % K
    batch["label"], batch["frame_label"] = y, y[:, None].expand(B, T).clone()
    for key in ("landmarks", "grf", "angles"):
        batch[key] = batch[key][:1].expand_as(batch[key]).clone()
    batch["imu"] = torch.zeros_like(batch["imu"])
    t = torch.arange(T).float()
    freq = (y.float() + 1)[:, None] * 2 * torch.pi / T
    batch["imu"][:, :, IMU_SENSORS.index(sensor), :3] = torch.sin(freq * t)[..., None]
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    acc = 0.0
    for step in range(1, 121):
        model.train()
        loss = compute_losses(model(batch), batch, {"kl_weight": 0.0, "angle_weight": 0.0})["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                acc = (model(batch)["logits"].argmax(-1) == y).float().mean().item()
            if acc == 1.0:
                break
    assert acc == 1.0, f"{sensor} IMU: train accuracy {acc:.2f} after {step} steps"


def test_every_imu_sensor_feeds_a_node_of_the_default_layout():
    lay = get_layout("mediapipe_body")
    assert {s for s, _ in lay.imu_pairs()} == set(IMU_SENSORS)
    assert lay.num_nodes == 17 and lay.source_indices[0] == 0 and not set(FACE_AND_FINGERS) & set(lay.source_indices)
    assert len(lay.angle_node_groups()) == 23
    adj = lay.adjacency()
    assert torch.equal(adj, adj.t()) and bool(adj.diagonal().all())
    # every node is reachable from the hips: the graph is one skeleton
    reach = adj[7].clone()
    for _ in range(lay.num_nodes):
        reach = (adj[reach].any(0)) | reach
    assert bool(reach.all())


def test_output_does_not_depend_on_the_scale_of_landmark_coordinates():
    """In training mode (batch statistics) the per-node, per-feature BatchNorm makes the model
    invariant to a rescaling of xyz (positions, velocities and accelerations all scale with it)."""
    batch = make_batch(B, T, num_classes=K, seed=2)
    model = _model(modalities=("landmarks",), dropout=0.0).train()
    scaled = dict(batch)
    scaled["landmarks"] = batch["landmarks"].clone()
    scaled["landmarks"][..., :3] *= 10.0
    with torch.no_grad():
        a, b = model(batch)["logits"], model(scaled)["logits"]
    assert torch.allclose(a, b, atol=1e-3), (a - b).abs().max()


def test_face_and_finger_landmarks_do_not_change_the_output():
    batch = make_batch(B, T, num_classes=K, seed=3)
    model = _model().eval()
    other = dict(batch)
    other["landmarks"] = batch["landmarks"].clone()
    other["landmarks"][:, :, FACE_AND_FINGERS, :3] += torch.randn(B, T, len(FACE_AND_FINGERS), 3)
    with torch.no_grad():
        assert torch.equal(model(batch)["logits"], model(other)["logits"])
        # ... while a body landmark does
        other["landmarks"][:, :, 25, :3] += 1.0
        assert not torch.allclose(model(batch)["logits"], model(other)["logits"])


def test_imu_list_nodes_in_a_layout_spec_are_validated():
    spec = {"num_nodes": 3, "edges": [[0, 1], [1, 2]], "imu_nodes": {"pelvis": [0, 1], "trunk": 2}}
    assert sorted(get_layout(spec).imu_pairs()) == [("pelvis", 0), ("pelvis", 1), ("trunk", 2)]
    with pytest.raises(ValueError, match="imu node 7 out of range"):
        get_layout({"num_nodes": 3, "edges": [], "imu_nodes": {"pelvis": [0, 7]}})
