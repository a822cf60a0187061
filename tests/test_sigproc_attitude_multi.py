"""sigproc.attitude.complementary_attitude_multi equals the per-sensor complementary filter."""
from __future__ import annotations

import numpy as np
import pytest

from sigproc.attitude import complementary_attitude, complementary_attitude_multi


def _imu(T=300, S=4, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 100.0
    gyro = np.stack([np.stack([np.sin(2 * np.pi * (0.5 + s) * t + k) * (1 + s) for k in range(3)], -1)
                     for s in range(S)], 1) + rng.normal(0, 0.01, (T, S, 3))
    acc = np.array([0.3, 9.7, -0.5]) + rng.normal(0, 0.4, (T, S, 3))
    return acc, gyro


@pytest.mark.parametrize("acc_gate", [None, 0.1])
def test_multi_matches_single(acc_gate):
    acc, gyro = _imu()
    R = complementary_attitude_multi(acc, gyro, 100.0, gain=0.05, acc_gate=acc_gate)
    assert R.shape == (300, 4, 3, 3)
    for s in range(acc.shape[1]):
        ref = complementary_attitude(acc[:, s], gyro[:, s], 100.0, gain=0.05, acc_gate=acc_gate)
        np.testing.assert_allclose(R[:, s], ref, atol=1e-9)


def test_multi_rejects_bad_shapes():
    acc, gyro = _imu()
    with pytest.raises(ValueError, match="shape"):
        complementary_attitude_multi(acc[:, 0], gyro[:, 0], 100.0)
    with pytest.raises(ValueError, match="gain"):
        complementary_attitude_multi(acc, gyro, 100.0, gain=2.0)


def test_tilts_from_acc_equals_tilt_from_acc_per_sensor():
    """The vectorised initial tilts equal tilt_from_acc sensor by sensor (also along and against UP),
    and a zero reading names its sensor."""
    import numpy as np
    import pytest

    from sigproc.attitude import tilt_from_acc, tilts_from_acc

    a = np.random.default_rng(0).normal(size=(40, 3))
    a[3], a[4] = [0.0, 2.0, 0.0], [0.0, -3.0, 0.0]
    np.testing.assert_allclose(tilts_from_acc(a), np.stack([tilt_from_acc(x) for x in a]), atol=1e-14)
    a[7] = 0.0
    with pytest.raises(ValueError, match="sensor 7"):
        tilts_from_acc(a)
