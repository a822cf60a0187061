"""minirocket (sktime MiniRocketMultivariate + RidgeClassifierCV), a sklearn-kind peer baseline."""
import json

import numpy as np
import pytest

from models import build_model, model_kind
from models.minirocket import MiniRocketRidge, panel
from tests.train_fixtures import write_tiny_dataset
from training.loop import train

SMALL = {"num_kernels": 168, "seed": 0}


def _toy(n=48, T=32, seed=0):
    """3 classes told apart by the frequency of a sine on the IMU channels (a shape, not a level:
    each window's mean and std are the same)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(T) / T
    imu = rng.normal(size=(n, T, 6, 9)) * 0.3
    imu += np.sin(2 * np.pi * (1 + 2 * y[:, None]) * t[None, :] + rng.uniform(0, 6.3, (n, 1)))[:, :, None, None]
    lm = rng.normal(size=(n, T, 33, 4)) * 0.3
    return {"imu": imu.astype(np.float32), "landmarks": lm.astype(np.float32), "label": y,
            "modality_mask": np.ones((n, 4), bool)}, y


def test_registered_as_sklearn_and_learns_a_shape(tmp_path):
    assert model_kind("minirocket") == "sklearn"
    m = build_model("minirocket", SMALL)
    assert isinstance(m, MiniRocketRidge) and m.modalities == ("imu", "landmarks")
    m.fit(_toy()[0])
    test, yt = _toy(seed=1)
    assert (m.predict(test) == yt).mean() >= 0.9
    p = m.predict_proba(test)
    assert p.shape == (48, 3) and np.allclose(p.sum(1), 1) and np.array_equal(p.argmax(1), m.predict(test))
    assert m.n_params == 3 * (m.features(test).shape[1] + 1)
    m.save(tmp_path / "m.joblib")
    again = MiniRocketRidge.load(tmp_path / "m.joblib")
    assert np.array_equal(again.predict_proba(test), p)


def test_modalities_are_configurable_and_checked():
    data, _ = _toy(n=6)
    x, present = panel(data, ("imu",))
    assert x.shape == (6, 54, 32) and present.shape == (6, 1)
    assert panel(data, ("imu", "landmarks"))[0].shape == (6, 54 + 132, 32)
    with pytest.raises(ValueError, match="video"):
        build_model("minirocket", {"modalities": ["imu", "video"]})


def test_a_missing_modality_is_zeros_with_its_indicator_off():
    data, _ = _toy(n=6)
    data["modality_mask"][:3, 1] = False  # landmarks missing in the first three windows
    x, present = panel(data, ("imu", "landmarks"))
    assert np.all(x[:3, 54:] == 0) and np.any(x[3:, 54:] != 0)
    assert present[:, 1].tolist() == [0, 0, 0, 1, 1, 1] and np.all(present[:, 0] == 1)


def test_trained_by_the_train_loop_like_features_svm(tmp_path):
    data = write_tiny_dataset(tmp_path / "tiny")
    m = train("minirocket", SMALL, {"seed": 0, "tracking": {"enabled": False}}, data, tmp_path / "out",
              progress=False)
    assert m["kind"] == "sklearn" and m["windows_seen"] == 32
    saved = MiniRocketRidge.load(tmp_path / "out" / "model.joblib")  # what the evaluate stage loads
    test = {f: np.load(data / "test" / f"{f}.npy") for f in ("imu", "landmarks", "modality_mask", "label")}
    assert m["test_accuracy"] == pytest.approx(float((saved.predict(test) == test["label"]).mean()))
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["params"] == m["params"] > 0


def test_fault_classifier_on_the_same_features(tmp_path):
    """A second ridge predicts the clip fault; the loop reports its macro-F1 like the torch heads'."""
    data, y = _toy()
    data["fault"] = (np.arange(48) // 3) % 2
    data["imu"][data["fault"] == 1] *= 3.0  # the fault: a larger amplitude, whatever the class
    m = build_model("minirocket", SMALL).fit(data)
    test, _ = _toy(seed=1)
    test["fault"] = (np.arange(48) // 3) % 2
    test["imu"][test["fault"] == 1] *= 3.0
    assert (m.predict_fault(test) == test["fault"]).mean() >= 0.9
    no = build_model("minirocket", {**SMALL, "faults": False}).fit(data)
    with pytest.raises(ValueError, match="no fault classifier"):
        no.predict_fault(test)
    tiny = write_tiny_dataset(tmp_path / "tiny")
    r = train("minirocket", SMALL, {"seed": 0, "tracking": {"enabled": False}}, tiny, tmp_path / "out", progress=False)
    saved = MiniRocketRidge.load(tmp_path / "out" / "model.joblib")
    t = {f: np.load(tiny / "test" / f"{f}.npy") for f in ("imu", "landmarks", "modality_mask", "label", "fault")}
    assert r["test_fault_accuracy"] == pytest.approx(float((saved.predict_fault(t) == t["fault"]).mean()))
    assert set(r["test_fault_macro_f1_per_action"]) <= {"a", "b", "c", "d"}
