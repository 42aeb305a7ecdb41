"""Model zoo: every architecture by name (``create_model``) and from arch.json data (``build_model``)."""
from compactrs.models import _cellnet, _patchcnn, _resnet, _resnet_cifar, _spectralmamba, _vgg  # noqa: F401  (registration)
from compactrs.models._registry import arch_of, build_model, create_model, list_models, model_family, register_model

__all__ = ["arch_of", "build_model", "create_model", "list_models", "model_family", "register_model"]
