"""Architecture zoo. Importing this package registers every architecture; add one = one module +
one import line below. ``build_model(name, cfg)`` builds, ``available_models(kind)`` lists."""
from .registry import available_models, build_model, model_kind, model_signature, register_model

# architectures (import order = registration order; each module registers itself)
from . import mm_resnet_se  # noqa: F401,E402
from . import tcn_gat  # noqa: F401,E402
from . import sta_c3d_lstm  # noqa: F401,E402
from . import tcn  # noqa: F401,E402
from . import basic_cnn  # noqa: F401,E402
from . import features_svm  # noqa: F401,E402

__all__ = ["available_models", "build_model", "model_kind", "model_signature", "register_model"]
