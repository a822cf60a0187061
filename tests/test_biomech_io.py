"""OpenSim storage readers (biomech.io) on files shaped like real lab exports."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.io import RawDataError, read_coordinates_deg, read_grf_mot, read_mot, require_columns, write_mot

N = 5


def _lab_file(path, names, data, header="inDegrees=yes", pad=True, trailing_tab=True, crlf=False):
    """Write a storage file the way lab software does: padded names, trailing tabs, CRLF."""
    nl = "\r\n" if crlf else "\n"
    head = f"trial{nl}version=1{nl}nRows={len(data)}{nl}nColumns={len(names) + 1}{nl}{header}{nl}endheader{nl}"
    cols = ["time", *names]
    if pad:
        cols = [f"  {c}   " for c in cols]
    tail = "\t" if trailing_tab else ""
    rows = ["\t".join(f"{v:.6f}" for v in row) + tail for row in np.column_stack([np.arange(len(data)) / 100, data])]
    path.write_text(head + "\t".join(cols) + tail + nl + nl.join(rows) + nl)
    return path


def test_padded_names_trailing_tabs_crlf(tmp_path):
    data = np.arange(N * 2, dtype=float).reshape(N, 2)
    p = _lab_file(tmp_path / "a.mot", ["knee_angle_r", "ankle_angle_r"], data, crlf=True)
    t, cols, d, header = read_mot(p)
    assert cols == ["knee_angle_r", "ankle_angle_r"]
    np.testing.assert_allclose(d, data)
    np.testing.assert_allclose(t, np.arange(N) / 100)
    assert header["inDegrees"] == "yes"


def test_in_degrees_no_converts_rotations_only(tmp_path):
    data = np.array([[0.5, 0.1]] * N)
    p = _lab_file(tmp_path / "ik.mot", ["knee_angle_r", "pelvis_tx"], data, header="inDegrees=no")
    _, cols = read_coordinates_deg(p)
    np.testing.assert_allclose(cols["knee_angle_r"], np.degrees(0.5))
    np.testing.assert_allclose(cols["pelvis_tx"], 0.1)  # metres stay metres
    p2 = _lab_file(tmp_path / "ik2.mot", ["knee_angle_r", "pelvis_tx"], data, header="inDegrees=yes")
    np.testing.assert_allclose(read_coordinates_deg(p2)[1]["knee_angle_r"], 0.5)


def test_grf_extra_columns_and_prefixed_second_plate(tmp_path):
    names = ["ground_force_vx", "ground_force_vy", "ground_force_vz", "ground_force_px", "ground_force_py",
             "ground_force_pz", "1_ground_force_vx", "1_ground_force_vy", "1_ground_force_vz",
             "1_ground_force_px", "1_ground_force_py", "1_ground_force_pz", "ground_torque_x", "ground_torque_y",
             "ground_torque_z", "1_ground_torque_x", "1_ground_torque_y", "1_ground_torque_z",
             "2_ground_force_unused", "extra_zero"]
    rng = np.random.default_rng(0)
    data = rng.normal(size=(N, len(names)))
    data[:, -2:] = 0.0
    p = _lab_file(tmp_path / "grf.mot", names, data, header="")
    t, plates = read_grf_mot(p)
    assert list(plates) == ["", "1_"]
    np.testing.assert_allclose(plates[""]["force"], data[:, 0:3], atol=1e-6)
    np.testing.assert_allclose(plates["1_"]["point"], data[:, 9:12], atol=1e-6)
    np.testing.assert_allclose(plates["1_"]["torque"], data[:, 15:18], atol=1e-6)


def test_grf_without_torque_columns_reads_zero_torque(tmp_path):
    names = ["r_ground_force_vx", "r_ground_force_vy", "r_ground_force_vz",
             "r_ground_force_px", "r_ground_force_py", "r_ground_force_pz"]
    p = write_mot(tmp_path / "g.mot", np.arange(N) / 100.0, names, np.ones((N, 6)), in_degrees=False)
    _, plates = read_grf_mot(p)
    assert list(plates) == ["r_"] and not plates["r_"]["torque"].any()


def test_missing_column_error_names_file_and_column(tmp_path):
    names = ["ground_force_vx", "ground_force_vy", "ground_force_vz", "ground_force_px", "ground_force_pz"]
    p = _lab_file(tmp_path / "bad_grf.mot", names, np.zeros((N, len(names))))
    with pytest.raises(RawDataError, match=r"bad_grf\.mot: missing column\(s\) \['ground_force_py'\]"):
        read_grf_mot(p)
    with pytest.raises(RawDataError, match=r"bad_grf\.mot: missing column\(s\) \['knee_angle_r'\]"):
        require_columns(p, read_mot(p)[1], ["knee_angle_r"])


def test_row_count_mismatch_is_named(tmp_path):
    p = _lab_file(tmp_path / "short.mot", ["a"], np.zeros((N, 1)))
    text = p.read_text().replace(f"nRows={N}", f"nRows={N + 3}")
    p.write_text(text)
    with pytest.raises(RawDataError, match="short.mot: header says 8 rows, found 5"):
        read_mot(p)
