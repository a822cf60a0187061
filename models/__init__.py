"""Architecture zoo. Importing this package registers every architecture; add one = one module
(a ``MotionModel`` subclass + a ``@register_model`` builder) + one import line below.

    build_model(name, cfg)          -> nn.Module (kind "torch"/"torque") or FeatureSVM / MiniRocketRidge (kind "sklearn")
    available_models(kind=None)     -> sorted names; model_kind(name); model_signature(name) -> defaults
    model(batch) -> {"logits" (B,K), "frame_logits" (B,T,K), ["angles" (B,T,23) deg], attention maps}
    model.extract_features(batch)   -> {"features" (B,T,model.dim), ...}: the backbone, for new heads
    models.losses.compute_losses(outputs, batch, cfg) -> {"window","frame","kl",["angle"],"total"}
    models.graphs: skeleton layouts as data (register_layout / get_layout); models.testing.make_batch
"""
from .registry import available_models, build_model, model_kind, model_signature, register_model

# architectures (import order = registration order; each module registers itself)
from . import mm_resnet_se  # noqa: F401,E402
from . import tcn_gat  # noqa: F401,E402
from . import sta_c3d_lstm  # noqa: F401,E402
from . import tcn  # noqa: F401,E402
from . import basic_cnn  # noqa: F401,E402
from . import features_svm  # noqa: F401,E402
from . import minirocket  # noqa: F401,E402
from . import torque  # noqa: F401,E402

__all__ = ["available_models", "build_model", "model_kind", "model_signature", "register_model"]
