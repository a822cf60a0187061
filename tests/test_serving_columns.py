"""serving.schemas.columns: the one parser of "named column arrays of one length -> their times"
that /torque (coordinates) and /feedback (angles, moments) share."""
from __future__ import annotations

import numpy as np
import pytest

from serving.schemas import EncodedArray, columns


def test_columns_with_stamps_rate_or_neither():
    cols, t = columns({"a": [1, 2, 3, 4, 5], "b": [0, 0, 0, 0, 1]}, "angles", None, "time", 10.0)
    assert set(cols) == {"a", "b"} and cols["b"][-1] == 1.0
    np.testing.assert_allclose(t, [0, 0.1, 0.2, 0.3, 0.4])
    _, t = columns({"a": [1, 2, 3, 4]}, "moments", [0.0, 0.5, 1.5, 2.0], "moments_time")
    np.testing.assert_allclose(t, [0.0, 0.5, 1.5, 2.0])
    assert columns({"a": [1, 2, 3, 4]}, "moments", None, "moments_time")[1] is None   # no stamps, no rate


def test_columns_accepts_the_compact_encoding():
    import base64

    enc = EncodedArray(b64=base64.b64encode(np.arange(6, dtype="<f4").tobytes()).decode(), shape=[6])
    cols, _ = columns({"knee_angle_r": enc}, "angles", rate_hz=100.0)
    np.testing.assert_array_equal(cols["knee_angle_r"], np.arange(6.0))


@pytest.mark.parametrize("values, time, message", [
    ({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4, 5]}, None, "angles: columns of different lengths [4, 5]"),
    ({"a": [[1, 2]] * 4}, None, "angles.a: shape [4, 2]"),
    ({"a": [1, 2, 3, 4]}, [0, 1, 1, 2], "time: not strictly increasing at index 2"),
    ({"a": [1, 2, 3, 4]}, [0, 1, 2, 3, 4], "time: 5 stamps for 4 samples"),
])
def test_columns_errors_name_the_field(values, time, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        columns(values, "angles", time, "time", 100.0)
