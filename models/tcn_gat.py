"""``tcn_gat``: skeleton TCN + graph attention (TCN+GAT paper).

Nodes come from a layout in :mod:`models.graphs` (cfg ``layout``: a registered name or a spec dict;
default ``mediapipe_body``, the 17 body landmarks: the 11 face and 6 finger landmarks of MediaPipe-33
carry no action information here and made up half of the mean-pooled nodes). Node features per
frame: xyz, velocity and acceleration (backward finite differences, zero at the first frames),
visibility, normalised per node and feature by a BatchNorm over the window (ST-GCN's ``data_bn``:
velocity and acceleration are ~10x smaller than positions in the z-scored landmarks) -> Linear,
plus a learned node embedding. Sensor injection: for each (IMU sensor, node) pair of the layout a
linear projection W_imu u_s is added to that node's features (the same for the 2 GRF plates at
``grf_nodes``), only for samples where the modality is present. A dilated TCN runs along time for
every node (temporal edges), then multi-head graph-attention layers run over the skeleton graph of
every frame (spatial edges, adjacency-masked). Nodes are mean-pooled into frame features for the
heads; the angle head (23 joint angles) is on by default and the model returns ``angle_weights``
(B, 23) derived from the GAT attention (see ``compute_losses``).

``gat=False`` (the "without GAT" ablation) removes the spatial edges: no graph-attention layer, the
per-node TCN features are mean-pooled over the nodes as they are (identity over nodes), the node
attention is uniform (1/N) and so are the angle weights (all 1). Everything else is the same model.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from biomech.conventions import IMU_SENSORS, JOINT_ANGLES

from .blocks import MODALITY_INDEX, TCN, MotionModel, check_modalities
from .graphs import Layout, get_layout
from .registry import register_model


class GraphAttention(nn.Module):
    """Multi-head graph attention (GAT, Velickovic et al.) on (..., N, in_dim) with a fixed boolean
    adjacency (N, N) (must include self-loops). Returns (..., N, out_dim), attention (..., H, N, N)."""

    def __init__(self, in_dim: int, out_dim: int, adjacency: Tensor, heads: int = 4, dropout: float = 0.0,
                 negative_slope: float = 0.2):
        super().__init__()
        if out_dim % heads:
            raise ValueError(f"out_dim {out_dim} not divisible by heads {heads}")
        if not bool(adjacency.diagonal().all()):
            raise ValueError("GraphAttention adjacency needs self-loops")
        self.heads, self.head_dim = heads, out_dim // heads
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.att_src = nn.Parameter(torch.empty(heads, self.head_dim))
        self.att_dst = nn.Parameter(torch.empty(heads, self.head_dim))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        self.register_buffer("adjacency", adjacency.bool(), persistent=False)
        self.leaky = nn.LeakyReLU(negative_slope)
        self.drop = nn.Dropout(dropout)
        self.res = nn.Identity() if in_dim == out_dim else nn.Linear(in_dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)
        self.act = nn.ELU()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.lin(x).unflatten(-1, (self.heads, self.head_dim))  # (..., N, H, F)
        src = (h * self.att_src).sum(-1).transpose(-1, -2)  # (..., H, N)
        dst = (h * self.att_dst).sum(-1).transpose(-1, -2)
        e = self.leaky(dst.unsqueeze(-1) + src.unsqueeze(-2))  # (..., H, N_target, N_source)
        e = e.masked_fill(~self.adjacency, float("-inf"))
        attn = torch.softmax(e, dim=-1)
        out = torch.matmul(self.drop(attn), h.transpose(-2, -3))  # (..., H, N, F)
        out = out.transpose(-2, -3).flatten(-2)  # (..., N, H*F)
        return self.norm(self.act(out + self.res(x))), attn


NODE_FEATURES = 10  # xyz, velocity, acceleration, visibility


def node_kinematics(x: Tensor) -> Tensor:
    """(B, T, N, 4) xyz+visibility -> (B, T, N, 10): xyz, velocity, acceleration, visibility."""
    pos, vis = x[..., :3], x[..., 3:]
    vel = torch.diff(pos, dim=1, prepend=pos[:, :1])
    acc = torch.diff(vel, dim=1, prepend=vel[:, :1])
    return torch.cat([pos, vel, acc, vis], dim=-1)


class TCNGAT(MotionModel):
    def __init__(self, *, num_classes: int, layout: Layout, modalities: tuple[str, ...], dim: int,
                 tcn_channels: tuple[int, ...], tcn_dilations: tuple[int, ...], kernel_size: int, causal: bool,
                 gat_dim: int, gat_heads: int, gat_layers: int, gat: bool, dropout: float, num_angles: int, num_faults: int,
                 imu_channels: int):
        if gat and gat_layers < 1:
            raise ValueError(f"tcn_gat: gat_layers = {gat_layers} with gat: true; use gat: false for no graph attention")
        super().__init__(gat_dim if gat else tcn_channels[-1], num_classes, num_angles, dropout, num_faults)
        self.modalities = check_modalities(modalities, ("landmarks", "imu", "grf"))
        if "landmarks" not in self.modalities:
            raise ValueError("tcn_gat needs the 'landmarks' modality")
        self.layout = layout
        N = layout.num_nodes
        self.data_bn = nn.BatchNorm1d(N * NODE_FEATURES)
        self.node_in = nn.Linear(NODE_FEATURES, dim)
        self.node_embed = nn.Parameter(torch.randn(N, dim) * 0.02)
        self.use_imu = "imu" in self.modalities and bool(layout.imu_nodes)
        self.use_grf = "grf" in self.modalities and bool(layout.grf_nodes)
        if self.use_imu:
            # a linear projection, not sigmoid(W u) as before: the sigmoid squashed the z-scored IMU
            # into (0, 1) around a constant 0.5 and its gradient was ~1 % of the TCN's
            pairs = layout.imu_pairs()
            self.imu_proj = nn.Linear(imu_channels, dim)
            self.register_buffer("imu_sensor_idx", torch.tensor([IMU_SENSORS.index(s) for s, _ in pairs]),
                                 persistent=False)
            self.register_buffer("imu_node_idx", torch.tensor([n for _, n in pairs]), persistent=False)
        if self.use_grf:
            self.grf_proj = nn.Linear(7, dim)
            self.register_buffer("grf_node_idx", torch.tensor(list(layout.grf_nodes)), persistent=False)
        # dropout (0.3) sits between stages (before each GAT layer) and in the heads, not inside every
        # TCN conv / on the attention coefficients: that much noise made the model very slow to fit.
        self.tcn = TCN(dim, tcn_channels, kernel_size, tcn_dilations, causal, 0.0)
        adj = layout.adjacency(self_loops=True)
        n_gat = gat_layers if gat else 0
        dims = (self.tcn.out_channels,) + (gat_dim,) * n_gat
        self.gats = nn.ModuleList(GraphAttention(dims[i], dims[i + 1], adj, gat_heads, 0.0)
                                  for i in range(n_gat))
        self.drop = nn.Dropout(dropout)
        groups = layout.angle_node_groups(JOINT_ANGLES) if num_angles == len(JOINT_ANGLES) else None
        if groups is not None:
            g = torch.zeros(len(groups), N)
            for j, nodes in enumerate(groups):
                g[j, list(nodes)] = 1.0 / len(nodes)
            self.register_buffer("angle_groups", g, persistent=False)
        else:
            self.angle_groups = None

    @property
    def temporal_receptive_field(self) -> int:
        return self.tcn.receptive_field

    def _select_nodes(self, lm: Tensor) -> Tensor:
        n_in, n = lm.shape[2], self.layout.num_nodes
        if self.layout.source_indices is not None and n_in != n:
            if n_in <= max(self.layout.source_indices):
                raise ValueError(f"layout {self.layout.name!r} picks landmark {max(self.layout.source_indices)} "
                                 f"but the batch has {n_in}")
            return lm[:, :, list(self.layout.source_indices)]
        if n_in != n:
            raise ValueError(f"layout {self.layout.name!r} has {n} nodes but batch landmarks have {n_in}")
        return lm

    def extract_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self.prepare(batch)
        lm = self._select_nodes(x["landmarks"])
        B, T, N, _ = lm.shape
        k = node_kinematics(lm)  # (B, T, N, F)
        k = self.data_bn(k.flatten(2).transpose(1, 2)).transpose(1, 2).view(B, T, N, NODE_FEATURES)
        h = self.node_in(k) + self.node_embed  # (B, T, N, D)
        if self.use_imu:
            u = x["imu"][:, :, self.imu_sensor_idx]  # (B, T, pairs, C)
            g = self.imu_proj(u) * mask[:, MODALITY_INDEX["imu"]].view(B, 1, 1, 1)
            h = h.index_add(2, self.imu_node_idx, g)
        if self.use_grf:
            g = self.grf_proj(x["grf"]) * mask[:, MODALITY_INDEX["grf"]].view(B, 1, 1, 1)
            h = h.index_add(2, self.grf_node_idx, g)
        h = self.tcn(h.permute(0, 2, 3, 1).reshape(B * N, -1, T))  # temporal edges, per node
        h = h.view(B, N, -1, T).permute(0, 3, 1, 2)  # (B, T, N, C)
        attn = None
        for gat in self.gats:
            h, attn = gat(self.drop(h))
        feats = h.mean(2)
        if attn is None:   # gat: false: no spatial edges, every node counts the same
            node_att = h.new_full((B, N), 1.0 / N)
        else:   # attention received by each node, averaged over frames, heads and target nodes (sums to 1)
            node_att = attn.mean(dim=(1, 2)).mean(-2)  # (B, N)
        out = {"features": feats, "node_attention": node_att}
        if self.angle_groups is not None:
            w = (node_att * N) @ self.angle_groups.t()  # (B, J), node importance per angle
            out["angle_weights"] = w / w.mean(-1, keepdim=True).clamp_min(1e-12)
        return out


def _tcn_gat(layout: str | dict[str, Any], **kwargs) -> TCNGAT:
    return TCNGAT(layout=get_layout(layout), **kwargs)


@register_model("tcn_gat")
def tcn_gat(*, num_classes: int = 12, layout: str | dict = "mediapipe_body",
            modalities: tuple[str, ...] = ("landmarks", "imu", "grf"), dim: int = 32,
            tcn_channels: tuple[int, ...] = (32, 32, 32), tcn_dilations: tuple[int, ...] = (1, 2, 4),
            kernel_size: int = 3, causal: bool = False, gat_dim: int = 32, gat_heads: int = 2, gat_layers: int = 2,
            gat: bool = True, dropout: float = 0.3, num_angles: int = 23, num_faults: int = 0, imu_channels: int = 9) -> TCNGAT:
    """Skeleton TCN + 2-layer multi-head GAT with IMU/GRF gated injection; ``layout`` is a name in
    models.graphs or a spec dict {num_nodes, edges, imu_nodes, grf_nodes, source_indices, joint_nodes};
    ``gat=False``: the same model without its graph-attention layers (mean over the nodes' TCN features)."""
    return _tcn_gat(**{k: v for k, v in locals().items()})
