"""``numtorch.utils.model_zoo``: the old home of :func:`numtorch.hub.load_state_dict_from_url`,
kept as ``load_url`` (as ``torch.utils.model_zoo`` keeps it).

>>> from numtorch.utils import model_zoo
>>> url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
>>> state_dict = model_zoo.load_url(url, progress=False)  # doctest: +SKIP
"""
from ..hub import load_state_dict_from_url as load_url  # noqa: F401

__all__ = ["load_url"]
