"""Registry, cfg validation and skeleton-layout registry."""
import pytest
import torch

import models
from models import available_models, build_model, model_kind, register_model
from models.graphs import available_layouts, get_layout, register_layout

TORCH_MODELS = ["basic_cnn", "mm_resnet_se", "sta_c3d_lstm", "tcn", "tcn_gat", "tcn_lstm"]


def test_registered_names():
    assert available_models("torch") == TORCH_MODELS
    assert available_models("sklearn") == ["features_svm", "minirocket"]
    assert model_kind("features_svm") == "sklearn" and model_kind("tcn") == "torch"
    assert set(models.__all__) >= {"build_model", "available_models"}


def test_unknown_model_names_the_name():
    with pytest.raises(KeyError, match="no_such_net"):
        build_model("no_such_net", {})


def test_duplicate_registration_names_the_name():
    with pytest.raises(ValueError, match="'tcn'"):
        register_model("tcn")(lambda *, a=1: a)


def test_builder_must_be_keyword_only():
    with pytest.raises(TypeError, match="keyword-only"):
        register_model("_positional_builder")(lambda a=1: a)
    assert "_positional_builder" not in available_models()


def test_unknown_cfg_keys_are_named():
    with pytest.raises(TypeError, match=r"\['bogus', 'num_clases'\]"):
        build_model("tcn", {"num_clases": 4, "bogus": 1, "dim": 16})


def test_cfg_type_checked_and_lists_become_tuples():
    with pytest.raises(TypeError, match="num_classes"):
        build_model("tcn", {"num_classes": "four"})
    with pytest.raises(TypeError, match="dropout"):
        build_model("tcn", {"dropout": True})
    m = build_model("tcn", {"num_classes": 4, "channels": [16, 16], "dim": 16, "dropout": 0})
    assert m.num_classes == 4 and len(m.tcn.blocks) == 2


def test_bad_modality_and_backbone():
    with pytest.raises(ValueError, match="wifi"):
        build_model("tcn", {"modalities": ["imu", "wifi"]})
    with pytest.raises(ValueError, match="resnet9000"):
        build_model("mm_resnet_se", {"backbone": "resnet9000"})


def test_layouts_are_data():
    assert {"mediapipe33", "coco17"} <= set(available_layouts())
    mp = get_layout("mediapipe33")
    assert mp.num_nodes == 33 and len(mp.edges) == 35
    assert mp.imu_nodes == {"wrist_l": 15, "wrist_r": 16, "shank_l": 27, "shank_r": 28}
    adj = mp.adjacency()
    assert torch.equal(adj, adj.t()) and bool(adj.diagonal().all())
    coco = get_layout("coco17")
    assert coco.num_nodes == 17 and len(coco.source_indices) == 17
    assert len(coco.angle_node_groups()) == 23


def test_register_layout_from_cfg_and_errors():
    spec = {"num_nodes": 3, "edges": [[0, 1], [1, 2]], "imu_nodes": {"pelvis": 0}}
    lay = register_layout("_test_chain3", spec)
    assert get_layout("_test_chain3") is lay and get_layout({"name": "_test_chain3"}) is lay
    with pytest.raises(ValueError, match="_test_chain3"):
        register_layout("_test_chain3", spec)
    with pytest.raises(ValueError, match="out of range"):
        get_layout({"num_nodes": 2, "edges": [[0, 5]]})
    with pytest.raises(ValueError, match="knee_gyro"):
        get_layout({"num_nodes": 2, "edges": [], "imu_nodes": {"knee_gyro": 0}})
    with pytest.raises(KeyError, match="openpose25"):
        get_layout("openpose25")
