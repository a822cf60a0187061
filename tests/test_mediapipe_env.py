"""mediapipe 0.10.21 (installed --no-deps, see requirements-mediapipe.txt) runs on numpy 2."""
from __future__ import annotations

import numpy as np


def test_mediapipe_pose_runs_on_a_real_photo():
    import mediapipe.python.solutions.pose as mp_pose
    from skimage import data

    img = data.astronaut()  # RGB, 512x512, a real photo of a person
    with mp_pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        res = pose.process(img)
    assert res.pose_landmarks is not None
    lm = res.pose_landmarks.landmark
    assert len(lm) == 33
    nose, l_sh, r_sh = lm[0], lm[11], lm[12]
    # the astronaut's face is in the upper half, shoulders below the nose
    assert 0.2 < nose.x < 0.7 and nose.y < 0.45
    assert l_sh.y > nose.y and r_sh.y > nose.y
    assert nose.visibility > 0.5
    assert np.__version__.startswith("2.")
    world = res.pose_world_landmarks.landmark
    assert abs(world[23].y - world[24].y) < 0.2  # metres, hip-centred
