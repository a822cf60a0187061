"""Anthropometry (biomech.body) and the sex switch of the torque path (models.torque.body_for)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.body import build_body
from models.torque import body_for

# de Leva (1996) foot: radii of gyration / length (sagittal, transverse, longitudinal)
FOOT_RADII = {"male": (0.257, 0.245, 0.124), "female": (0.299, 0.279, 0.139)}


@pytest.mark.parametrize("sex", ["male", "female"])
def test_foot_inertia_about_its_own_axes(sex):
    """The foot lies along its frame's X axis (heel -> toe), unlike the other segments (along Y):
    its smallest moment of inertia (longitudinal) is about X, the transverse one about Y (vertical)
    and the sagittal one about Z (medio-lateral)."""
    body = build_body(sex, 1.75, 70.0)
    foot = body.segments["foot_r"]
    rs, rt, rl = FOOT_RADII[sex]
    expected = foot.mass * (foot.length * np.array([rl, rt, rs])) ** 2
    np.testing.assert_allclose(foot.inertia, expected, rtol=1e-12)
    assert foot.inertia[0] < foot.inertia[1] < foot.inertia[2]
    # a vertical segment keeps longitudinal about Y
    shank = body.segments["shank_r"]
    assert shank.inertia[1] < shank.inertia[0]


@pytest.mark.parametrize("female, sex", [(0.0, "male"), (0.5, "male"), (1.0, "female")])
def test_body_for_sex_indicator(female, sex):
    """anthro's third column: 1 female, 0 male, 0.5 'not stated' -> the male table, as documented."""
    body = body_for(70.0, 1.75, female)
    assert body.sex == sex
    ref = build_body(sex, 1.75, 70.0)
    assert body.segments["thigh_r"].length == pytest.approx(ref.segments["thigh_r"].length)


def test_perturb_body_keeps_mass_and_symmetry():
    from biomech.body import perturb_body

    body = build_body("female", 1.70, 62.0)
    other = perturb_body(body, np.random.default_rng(3), length_frac=0.05, mass_frac=0.10)
    assert other.total_mass == pytest.approx(body.total_mass)
    ratios = [other.segments[n].length / body.segments[n].length for n in body.segments]
    assert all(0.95 <= r <= 1.05 for r in ratios) and np.std(ratios) > 0.005
    assert other.segments["thigh_r"].length == other.segments["thigh_l"].length
    # the knee sits at the end of the (rescaled) thigh
    assert other.joint_offsets["shank_r"][1] == pytest.approx(-other.segments["thigh_r"].length)
