"""Torque estimators (models.torque): shapes, the physics path against biomech's Newton-Euler on
simulated clips, gradients, overfitting a tiny batch, and the metrics on known inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomech.body import build_body
from biomech.conventions import GRAVITY, MOMENT_COORDINATES, MOMENTS
from biomech.sensors import ImuSpec
from biomech.synth import ClipSpec, Preset, SynthConfig, simulate
from models import available_models, build_model, model_kind
from models.testing import make_batch
from models.torque import moment_loss, torque_metrics

PRO = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
MASS, HEIGHT = 75.0, 1.80
KNEE_R = MOMENTS.index("knee_angle_r_moment")


def _window(action: str, seed: int, duration: float = 2.0, sex: str = "male") -> dict[str, torch.Tensor]:
    """One simulated clip sampled at 50 Hz as a batch of 1 (physical units) + the expected
    moments from newton_euler_leg_moments on the exact state and the true pelvis pose."""
    spec = ClipSpec(f"{action}_{seed}", "athlete0000", sex, HEIGHT, MASS, action, "none", "pro", duration, seed)
    body = build_body(sex, HEIGHT, MASS)
    sim = simulate(body, spec, PRO, SynthConfig(width=64, height=64))
    idx = np.arange(0, len(sim["t"]), int(round(sim["fs"] / 50.0)))
    q = torch.as_tensor(sim["q"][idx])
    grf = torch.stack([torch.cat([sim["grf"][s]["force"][idx] / (body.total_mass * GRAVITY),
                                  sim["grf"][s]["cop"][idx], sim["grf"][s]["free_moment"][idx, None]], -1)
                       for s in ("r", "l")], 1)
    expected = np.stack([sim["ne"][c][idx] for c in MOMENT_COORDINATES], -1)
    root = torch.cat([torch.rad2deg(q[:, :3]), q[:, 3:6]], -1)
    return {"angles": torch.rad2deg(q[:, 6:]).float()[None], "grf": grf.float()[None],
            "anthro": torch.tensor([[body.total_mass, HEIGHT]]), "moments": torch.as_tensor(expected).float()[None],
            "root": root.float()[None]}


@pytest.fixture(scope="module")
def squat():
    return _window("squat", 21)


@pytest.fixture(scope="module")
def cmj():
    return _window("countermovement_jump", 22)


def _corr(a, b):
    return float(np.corrcoef(np.asarray(a), np.asarray(b))[0, 1])


def test_registered_as_torque_kind():
    assert {"torque_ne", "torque_direct"} <= set(available_models("torque"))
    assert model_kind("torque_ne") == "torque" and "torque_ne" not in available_models("torch")


@pytest.mark.parametrize("name", ["torque_ne", "torque_direct"])
def test_shapes_on_contract_batch(name):
    torch.manual_seed(0)
    batch = make_batch(3, 24)
    batch["grf"] = batch["grf"].abs() * 0.5  # plausible plates (positive vertical load)
    out = build_model(name, {"hidden": 16})(batch)
    assert out["moments"].shape == (3, 24, len(MOMENTS))
    assert torch.isfinite(out["moments"]).all()


def test_physics_path_zero_residual_reproduces_newton_euler_on_squat(squat):
    model = build_model("torque_ne").eval()
    batch = {k: v for k, v in squat.items() if k != "root"}  # root-relative, as the windows are
    with torch.no_grad():
        out = model(batch)
    assert torch.all(out["qdd_residual"] == 0) and torch.all(out["qd_residual"] == 0)
    pred, exp = out["moments"][0].numpy(), squat["moments"][0].numpy()
    assert _corr(pred[:, KNEE_R], exp[:, KNEE_R]) > 0.95
    m = torque_metrics(pred, exp)
    # flat-footed squat: the anchored root is close to the true one -> every moment agrees
    for name in MOMENTS:
        assert m["pearson"][name] > 0.95, (name, m["pearson"][name])
        assert m["rmse"][name] < 10.0, (name, m["rmse"][name])  # N m, 50 Hz differences


def test_physics_path_with_true_root_matches_on_jump(cmj):
    model = build_model("torque_ne").eval()
    with torch.no_grad():
        pred = model(cmj)["moments"][0].numpy()
    exp = cmj["moments"][0].numpy()
    m = torque_metrics(pred, exp)
    for name in MOMENTS:
        assert m["pearson"][name] > 0.98, (name, m["pearson"][name])
    assert m["rmse"]["knee_angle_r_moment"] < 5.0


def test_physics_path_uses_the_sex_in_anthro():
    """A female athlete: with anthro's third column = 1 the female de Leva table reproduces the
    moments; with the male table (column 0, or no column) the joint centres move and it does not."""
    win = _window("squat", 23, sex="female")
    model = build_model("torque_ne").eval()
    exp = win["moments"][0].numpy()
    rmse = {}
    for female in (1.0, 0.0):
        b = dict(win, anthro=torch.tensor([[MASS, HEIGHT, female]]))
        with torch.no_grad():
            rmse[female] = torque_metrics(model(b)["moments"][0].numpy(), exp)["rmse"]["knee_angle_r_moment"]
    with torch.no_grad():
        two_col = torque_metrics(model(win)["moments"][0].numpy(), exp)["rmse"]["knee_angle_r_moment"]
    assert rmse[1.0] < 3.0, rmse
    assert rmse[0.0] > 2 * rmse[1.0] and two_col == pytest.approx(rmse[0.0]), (rmse, two_col)


def test_gradients_reach_the_lstm(squat):
    torch.manual_seed(0)
    model = build_model("torque_ne", {"hidden": 16})
    batch = {k: v[:, :30] for k, v in squat.items() if k != "root"}
    loss = moment_loss(model(batch)["moments"], batch["moments"] + 10.0, batch["anthro"][:, 0])
    loss.backward()
    assert model.head.weight.grad.abs().sum() > 0  # zero-initialised head: first its own weights
    torch.optim.SGD(model.parameters(), lr=1e-2).step()
    model.zero_grad()
    moment_loss(model(batch)["moments"], batch["moments"] + 10.0, batch["anthro"][:, 0]).backward()
    lstm_grads = [p.grad for p in model.lstm.parameters()]
    assert all(g is not None for g in lstm_grads) and sum(g.abs().sum() for g in lstm_grads) > 0


def _tiny_batch(squat):
    """Two 25-frame squat windows; targets = physics moments + a smooth offset to learn."""
    b = {k: torch.cat([v[:, 20:45], v[:, 50:75]]) for k, v in squat.items() if k not in ("root", "anthro")}
    b["anthro"] = squat["anthro"].expand(2, 2).clone()
    t = torch.linspace(0, 1, 25)
    b["moments"] = b["moments"] + 15.0 * torch.sin(2 * np.pi * t)[None, :, None] * torch.tensor([1.0, -1.0])[:, None, None]
    return b


# torque_ne is NOT overfit-tested: its residuals act on qd/qdd only, and moments such as the
# ankle's are set by the GRF (foot inertia is tiny), so arbitrary offsets are not reachable.
@pytest.mark.parametrize("name,steps,lr", [("torque_direct", 250, 1e-2)])
def test_overfits_tiny_batch(squat, name, steps, lr):
    torch.manual_seed(0)
    batch = _tiny_batch(squat)
    model = build_model(name, {"hidden": 32} if name == "torque_ne" else {"hidden": 32, "dropout": 0.0})
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = moment_loss(model(batch)["moments"], batch["moments"], batch["anthro"][:, 0])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.1 * losses[0], (losses[0], losses[-5:])


def test_moment_loss_is_mass_normalised_rmse():
    pred = torch.zeros(2, 3, 10)
    target = torch.cat([torch.full((1, 3, 10), 60.0), torch.full((1, 3, 10), 80.0)])
    mass = torch.tensor([60.0, 80.0])
    assert torch.isclose(moment_loss(pred, target, mass), torch.tensor(1.0))


def test_torque_metrics_known_inputs():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(4, 20, 10)) * 30
    m = torque_metrics(target, target)
    assert m["mean_rmse"] == pytest.approx(0.0) and m["mean_icc"] == pytest.approx(1.0)
    assert m["mean_pearson"] == pytest.approx(1.0)
    m = torque_metrics(target + 2.0, target)  # offset: RMSE 2, r = 1, consistency ICC = 1
    assert all(v == pytest.approx(2.0) for v in m["rmse"].values())
    assert all(v == pytest.approx(1.0) for v in m["pearson"].values())
    assert all(v == pytest.approx(1.0) for v in m["icc"].values())
    m = torque_metrics(-target, torch.as_tensor(target))
    assert all(v == pytest.approx(-1.0) for v in m["pearson"].values())
    assert set(m["rmse"]) == set(MOMENTS)
