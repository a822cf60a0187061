"""features_svm (scikit-learn model)."""
import numpy as np

from models import build_model
from models.features_svm import FEATURE_NAMES, FeatureSVM, window_features


def _toy(n=40, T=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    imu = rng.normal(size=(n, T, 6, 9)) * 0.5
    imu[y == 1] += np.linspace(0, 3, T)[None, :, None, None]  # class 1: a ramp (slope, mean, range)
    mask = np.ones((n, 4), bool)
    return {"imu": imu.astype(np.float32), "label": y, "modality_mask": mask}, y


def test_window_features():
    x = np.arange(10, dtype=float)[None, :, None] * 2.0 + 1.0
    f = dict(zip(FEATURE_NAMES, window_features(x)[0]))
    assert f["slope"] == 2.0 and f["range"] == 18.0 and f["min"] == 1.0 and f["median"] == 10.0
    assert f["abs_energy"] == float((x ** 2).sum())


def test_fits_separable_toy_and_roundtrips(tmp_path):
    data, y = _toy()
    svm = build_model("features_svm", {"seed": 0})
    assert isinstance(svm, FeatureSVM)
    svm.fit(data)
    test, yt = _toy(seed=1)
    assert (svm.predict(test) == yt).mean() == 1.0
    proba = svm.predict_proba(test)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)
    assert 1 <= svm.n_components_ < 6 * 9 * 9
    svm.save(tmp_path / "svm.joblib")
    again = FeatureSVM.load(tmp_path / "svm.joblib")
    assert np.array_equal(again.predict(test), svm.predict(test))
