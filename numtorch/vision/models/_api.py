"""The model registry and the weights descriptions (``torchvision.models._api``'s public side).

Every builder is registered by ``_register_model`` with its weights enum; :func:`list_models`,
:func:`get_model`, :func:`get_model_builder`, :func:`get_model_weights` and :func:`get_weight`
read that one table.
"""
import enum
import fnmatch
import functools
import warnings

from ... import hub

__all__ = ["Weights", "WeightsEnum", "list_models", "get_model",
           "get_model_builder", "get_model_weights", "get_weight"]

# name -> (builder, weights enum); filled by @_register_model at import of each model file
_MODELS = {}


class Weights:
    """One set of pretrained weights: where to get the file and what it was trained for.

    ``url``: the checkpoint (a ``torch.save``'d state_dict); ``transforms``: the preprocessing
    preset, or None where numtorch has none yet; ``meta``: facts about the weights, at least
    ``num_classes`` (None for a feature extractor's weights without a classifier).

    >>> from numtorch.vision.models import Weights
    >>> w = Weights("https://example.com/net-0123abcd.pth", None, {"num_classes": 10})
    >>> w.meta["num_classes"]
    10
    """

    def __init__(self, url, transforms, meta):
        self.url = url
        self.transforms = transforms
        self.meta = meta

    def __repr__(self):
        return f"Weights(url={self.url!r}, transforms={self.transforms!r}, meta={self.meta!r})"


class WeightsEnum(enum.Enum):
    """Base of the ``*_Weights`` enums: each member's value is a :class:`Weights`.

    A member exposes ``url``, ``transforms`` and ``meta``; ``DEFAULT`` is an alias of the
    best member; :meth:`get_state_dict` downloads (or finds in the hub cache) and loads it.

    >>> from numtorch.vision.models import ResNet18_Weights
    >>> w = ResNet18_Weights.DEFAULT
    >>> w, w.url
    (ResNet18_Weights.IMAGENET1K_V1, 'https://download.pytorch.org/models/resnet18-f37072fd.pth')
    >>> w.meta["num_classes"]
    1000
    """

    @classmethod
    def verify(cls, obj):
        """``obj`` as a member of this enum: None stays None, a name (``"DEFAULT"``,
        ``"ResNet18_Weights.IMAGENET1K_V1"``) is looked up (KeyError if unknown), a member of
        another enum raises TypeError.

        >>> from numtorch.vision.models import ResNet18_Weights
        >>> ResNet18_Weights.verify("DEFAULT")
        ResNet18_Weights.IMAGENET1K_V1
        >>> ResNet18_Weights.verify(None) is None
        True
        """
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            return cls[obj.replace(cls.__name__ + ".", "", 1)]
        raise TypeError(f"Invalid Weight class provided; expected {cls.__name__} but received "
                        f"{obj.__class__.__name__}.")

    def get_state_dict(self, *, progress=True, check_hash=True, **kwargs):
        """The state_dict of these weights, through
        :func:`numtorch.hub.load_state_dict_from_url` (cached under ``<hub dir>/checkpoints``
        with the file name of the URL; downloaded the first time). ``kwargs`` go to that
        function (``model_dir``, ``map_location``, ``file_name``, ``weights_only``).

        >>> from numtorch.vision.models import ResNet18_Weights
        >>> sd = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)  # doctest: +SKIP
        >>> sd["fc.weight"].shape  # doctest: +SKIP
        torch.Size([1000, 512])
        """
        return hub.load_state_dict_from_url(self.url, progress=progress, check_hash=check_hash,
                                            **kwargs)

    def __repr__(self):
        return f"{type(self).__name__}.{self.name}"

    @property
    def url(self):
        return self.value.url

    @property
    def transforms(self):
        return self.value.transforms

    @property
    def meta(self):
        return self.value.meta


_DOWNLOADS = "https://download.pytorch.org/models/"


def _imagenet(file_name, num_params, acc1, acc5, min_size=(1, 1), num_classes=1000):
    """Weights trained on ImageNet-1K, published by torchvision at ``_DOWNLOADS + file_name``."""
    return Weights(_DOWNLOADS + file_name, None, {
        "num_classes": num_classes, "num_params": num_params, "min_size": min_size,
        "_metrics": {"ImageNet-1K": {"acc@1": acc1, "acc@5": acc5}}})


def _override(kwargs, name, value):
    """Set ``kwargs[name] = value`` unless the caller gave another value (ValueError)."""
    if name in kwargs and kwargs[name] != value:
        raise ValueError(f"The parameter '{name}' expected value {value} but got "
                         f"{kwargs[name]} instead.")
    kwargs[name] = value


def _load_weights(model, weights, progress):
    """Load ``weights`` (a WeightsEnum member) into ``model``; returns the model."""
    model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
    return model


def _legacy_weights(name, weights_enum, args, kwargs):
    """Turn the pre-0.13 ways of asking for weights into ``kwargs["weights"]``, with
    torchvision's deprecation warnings: a positional argument, ``pretrained=``, a bool."""
    if args:
        if len(args) > 1 or "weights" in kwargs:
            raise TypeError(f"{name}() takes its arguments by keyword (weights=..., "
                            "progress=..., ...)")
        warnings.warn("Using 'weights' as positional parameter(s) is deprecated since 0.13 and "
                      "may be removed in the future. Please use keyword parameter(s) instead.",
                      UserWarning, stacklevel=3)
        kwargs["weights"] = args[0]
    if "pretrained" in kwargs:
        warnings.warn("The parameter 'pretrained' is deprecated since 0.13 and may be removed "
                      "in the future, please use 'weights' instead.", UserWarning, stacklevel=3)
        pretrained = kwargs.pop("pretrained")
        if kwargs.get("weights") is not None:
            raise TypeError(f"{name}() got both 'weights' and the deprecated 'pretrained'")
        kwargs["weights"] = pretrained
    w = kwargs.get("weights")
    if isinstance(w, bool):
        kwargs["weights"] = weights_enum.DEFAULT if w else None
        chosen = f"weights={weights_enum.__name__}.{weights_enum.DEFAULT.name}" if w else \
            "weights=None"
        msg = ("Arguments other than a weight enum or `None` for 'weights' are deprecated since "
               f"0.13 and may be removed in the future. The current behavior is equivalent to "
               f"passing `{chosen}`.")
        if w:
            msg += f" You can also use `weights={weights_enum.__name__}.DEFAULT` to get the " \
                   "most up-to-date weights."
        warnings.warn(msg, UserWarning, stacklevel=3)


def _register_model(weights_enum, name=None):
    """Decorator: register a model builder under ``name`` (its function name by default) with
    the enum of its weights. The registered builder also takes the pre-0.13 forms of asking for
    weights (a positional argument, ``pretrained=``, a bool), mapped as torchvision does."""
    def wrap(fn):
        key = name or fn.__name__
        if key in _MODELS and _MODELS[key][0].__qualname__ != fn.__qualname__:
            raise ValueError(f"An entry is already registered under the name '{key}'.")

        @functools.wraps(fn)
        def builder(*args, **kwargs):
            _legacy_weights(key, weights_enum, args, kwargs)
            return fn(**kwargs)

        _MODELS[key] = (builder, weights_enum)
        return builder
    return wrap


def list_models(module=None, include=None, exclude=None):
    """Sorted names of the registered models; ``module`` keeps those defined in that package
    (``numtorch.vision.models``); ``include``/``exclude`` are fnmatch patterns (or lists).

    >>> from numtorch.vision import models
    >>> models.list_models(include="resnet*", exclude="*5*")
    ['resnet101', 'resnet18', 'resnet34']
    """
    names = [k for k, (fn, _) in _MODELS.items()
             if module is None or fn.__module__.rsplit(".", 1)[0] == module.__name__]
    if include is not None:
        pats = [include] if isinstance(include, str) else include
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in pats)]
    if exclude is not None:
        pats = [exclude] if isinstance(exclude, str) else exclude
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in pats)]
    return sorted(names)


def get_model_builder(name):
    """The builder function registered as ``name`` (ValueError if none).

    >>> from numtorch.vision import models
    >>> models.get_model_builder("vgg16") is models.vgg16
    True
    """
    name = name.lower()
    if name not in _MODELS:
        raise ValueError(f"Unknown model {name}")
    return _MODELS[name][0]


def get_model(name, **config):
    """Build the registered model ``name`` with ``config`` (``weights=``, ``num_classes=``...).

    >>> from numtorch.vision import models
    >>> models.get_model("resnet18", num_classes=10).fc
    Linear(in_features=512, out_features=10, bias=True)
    """
    return get_model_builder(name)(**config)


def get_model_weights(name):
    """The weights enum of a model, given its name or its builder.

    >>> from numtorch.vision import models
    >>> models.get_model_weights("vgg16")
    <enum 'VGG16_Weights'>
    """
    if callable(name):
        for fn, enum_cls in _MODELS.values():
            if fn is name or getattr(fn, "__wrapped__", None) is name:
                return enum_cls
        raise ValueError(f"Unknown model {getattr(name, '__name__', name)}")
    get_model_builder(name)
    return _MODELS[name.lower()][1]


def get_weight(name):
    """The weights member named ``"<Enum>.<member>"``, e.g. ``"ResNet50_Weights.DEFAULT"``.

    >>> from numtorch.vision import models
    >>> models.get_weight("ResNet50_Weights.IMAGENET1K_V2").url
    'https://download.pytorch.org/models/resnet50-11ad3fa6.pth'
    """
    try:
        enum_name, member = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    for _, enum_cls in _MODELS.values():
        if enum_cls.__name__ == enum_name:
            return enum_cls[member]
    raise ValueError(f"The weight enum '{enum_name}' for the specific method couldn't be "
                     "retrieved.")

