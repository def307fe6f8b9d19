"""numtorch.vision.models (ResNet, VGG) against torchvision's, and numtorch.hub's cache.

Models: same modules, state_dict keys and shapes as torchvision's; torchvision's randomly
initialised weights loaded into numtorch give the same outputs (eval) and gradients (train);
numtorch's checkpoints load into torchvision; the initialisation follows torchvision's scheme.
Hub: downloads from file:// URLs into a cache under tmp_path (no network here).
"""
import hashlib
import os
import urllib.error
import warnings

import numpy as np
import pytest

import numtorch
from numtorch import hub
from numtorch.utils import model_zoo
from numtorch.vision import models

# name: (input shape, builder kwargs, parameters whose training-mode gradients are compared,
# dtype of that comparison). resnet18 at 64x64, resnet50 at 32x32 (speed); VGGs at their
# minimum 32x32 with dropout off (so training mode is deterministic). ResNet gradients are
# compared in float64: batch norm over the few values of the last stages (8 or 2 per channel)
# amplifies float32 rounding into percent-level differences (torch's own float32 gradients
# differ from its float64 ones by up to 17% there); in float64 both agree to ~1e-8 or better.
# VGG too: in float32 a ReLU or max-pool decision that rounding flips moves vgg11's first-layer
# gradient by ~1% for some inputs (numtorch and torch alike); in float64 they agree to 3e-15.
# vgg16 (138M parameters) is compared in eval mode only, to keep the file fast.
COMPARED = {
    "resnet18": ((2, 3, 64, 64), {}, ["conv1.weight", "layer2.0.downsample.0.weight",
                                      "layer4.1.bn2.weight", "fc.weight"], "float64"),
    "resnet50": ((2, 3, 32, 32), {}, ["conv1.weight", "layer3.0.conv2.weight", "fc.bias"],
                 "float64"),
    "vgg11": ((2, 3, 32, 32), {"dropout": 0.0}, ["features.0.weight", "features.18.bias",
                                                 "classifier.6.weight"], "float64"),
    "vgg16": ((2, 3, 32, 32), {"dropout": 0.0}, [], None),
}
# Initialising VGG's 130M weights takes seconds: only vgg16's initialisation is compared
# (vgg11 is built with init_weights=False; the checkpoint replaces every tensor anyway).
NO_INIT = {"vgg11": {"init_weights": False}}


def to_numtorch(state_dict):
    """torch tensors as numtorch ones sharing their memory (load_state_dict copies them)."""
    return {k: numtorch.from_numpy(v.detach().numpy()) for k, v in state_dict.items()}


def arr(t):
    return t.detach().numpy()


def assert_close(ours, theirs, rtol=1e-4, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    scale = float(np.abs(theirs).max()) or 1.0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=what)


def init_summary(state_dict):
    """{key: (size, mean, std, the value if all elements are equal else None)}."""
    out = {}
    for k, v in state_dict.items():
        a = v.detach().numpy().ravel()
        const = float(a[0]) if a.size and (a == a[0]).all() else None
        out[k] = (a.size, float(a.mean(dtype=np.float64)), float(a.std(dtype=np.float64)), const)
    return out


@pytest.fixture(scope="module", params=list(COMPARED))
def pair(request, torchvision):
    """(name, torchvision model, numtorch model holding the same random weights, the summary of
    both models' own initial state_dicts (None where numtorch's was not initialised))."""
    import torch
    name = request.param
    kwargs = COMPARED[name][1]
    torch.manual_seed(0)
    theirs = torchvision.models.get_model(name, **kwargs)
    ours = models.get_model(name, **kwargs, **NO_INIT.get(name, {}))
    init = None if name in NO_INIT else (init_summary(ours.state_dict()),
                                         init_summary(theirs.state_dict()))
    ours.load_state_dict(to_numtorch(theirs.state_dict()), strict=True)
    return name, theirs, ours, init


def test_same_structure_and_state_dict_as_torchvision(pair):
    name, theirs, ours, init = pair
    if init is not None:  # (vgg11 is built without initialisation, to save time)
        check_initialisation(init)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape), str(v.dtype)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape), str(v.dtype)) for k, v in theirs.state_dict().items()]
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    if name == "vgg16":  # fast_neural_style cuts vgg16().features at these ReLUs
        assert len(ours.features) == len(theirs.features) == 31
        for i in (3, 8, 15, 22):  # relu1_2, relu2_2, relu3_3, relu4_3
            assert repr(ours.features[i]) == repr(theirs.features[i]) == "ReLU(inplace=True)"
        assert repr(ours.features[:23]) == repr(theirs.features[:23])


def check_initialisation(init):
    """Each tensor's initial distribution is torchvision's: the same constant where it sets one
    (batch norm, biases, buffers), else the same mean and std within sampling error."""
    ours, theirs = init
    assert ours.keys() == theirs.keys()
    for key, (n, mean, std, const) in theirs.items():
        n2, mean2, std2, const2 = ours[key]
        assert n2 == n, key
        if const is not None:
            assert const2 == const, key
            continue
        assert const2 is None, key
        tol = 6 / np.sqrt(n)  # a few standard errors of a sample std (mean) of n values
        assert abs(std2 / std - 1) < tol, (key, std2, std)
        assert abs(mean2 - mean) < tol * std, (key, mean2, mean)


def test_eval_outputs_match_torchvision(pair, rng):
    import torch
    name, theirs, ours, _ = pair
    x = rng.standard_normal(COMPARED[name][0]).astype(np.float32)
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    with numtorch.no_grad():
        out = ours(numtorch.from_numpy(x)).numpy()
    assert out.shape == (2, 1000)
    assert_close(out, ref, what=name)
    if COMPARED[name][2]:  # gradients too (vgg16: eval only, for time and memory)
        check_train_mode_gradients(pair, np.random.default_rng(1))


def check_train_mode_gradients(pair, rng):
    import torch
    name, theirs, ours, _ = pair
    shape, _, probes, dtype = COMPARED[name]
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((2, 1000)).astype(dtype)
    theirs.to(getattr(torch, dtype)).train().zero_grad()
    ours.to(getattr(numtorch, dtype)).train().zero_grad()
    # VGG's 25088 x 4096 weight gets no gradient (400 MB a side); the layer after it does
    big = [m.weight for m in (getattr(theirs, "classifier", [None])[0],
                              getattr(ours, "classifier", [None])[0]) if m is not None]
    for p in big:
        p.requires_grad_(False)
    try:
        (theirs(torch.from_numpy(x)) * torch.from_numpy(w)).sum().backward()
        (ours(numtorch.from_numpy(x)) * numtorch.from_numpy(w)).sum().backward()
        ref, got = dict(theirs.named_parameters()), dict(ours.named_parameters())
        rtol = 1e-6 if dtype == "float64" else 2e-4
        for key in probes:
            assert got[key].grad.dtype == getattr(numtorch, dtype)
            assert_close(arr(got[key].grad), arr(ref[key].grad), rtol=rtol, what=key)
        if "resnet" in name:  # batch statistics were taken and folded into the running ones
            assert_close(arr(ours.layer4[1].bn1.running_var),
                         arr(theirs.layer4[1].bn1.running_var), rtol=rtol)
            assert int(ours.bn1.num_batches_tracked) == int(theirs.bn1.num_batches_tracked)
    finally:  # the fixture is shared: back to float32 and eval mode
        for p in big:
            p.requires_grad_(True)
        theirs.float().eval().zero_grad()
        ours.float().eval().zero_grad()


def test_numtorch_checkpoint_loads_into_torchvision(torchvision, tmp_path):
    import torch
    ours = models.resnet18(num_classes=7)
    path = tmp_path / "resnet18.pth"
    numtorch.save(ours.state_dict(), path)
    theirs = torchvision.models.resnet18(num_classes=7)
    theirs.load_state_dict(torch.load(path, weights_only=True), strict=True)
    for key in ["conv1.weight", "layer4.1.bn2.running_var", "fc.bias"]:
        np.testing.assert_array_equal(theirs.state_dict()[key].numpy(),
                                      ours.state_dict()[key].numpy())


@pytest.mark.parametrize("name", ["resnet34", "resnext50_32x4d", "wide_resnet50_2"])
def test_other_resnets_match_torchvision_structure(torchvision, name):
    import torch
    with torch.device("meta"):  # torchvision's tensors without memory: only names and shapes
        theirs = torchvision.models.get_model(name)
    ours = models.get_model(name)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


@pytest.mark.parametrize("name", ["vgg11_bn", "vgg13", "vgg13_bn", "vgg16_bn", "vgg19",
                                  "vgg19_bn"])
def test_other_vggs_features_match_torchvision(torchvision, name, monkeypatch):
    """Each builder's ``features`` (all VGGs share the classifier that vgg11/vgg16 test)."""
    import torch
    with torch.device("meta"):
        theirs = torchvision.models.get_model(name).features
    # skip the 120M-weight classifier: the builder hands its features to this stand-in
    monkeypatch.setattr(models.vgg, "VGG", lambda features, **kwargs: features)
    ours = models.get_model(name)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


# --- initialisation ------------------------------------------------------------------------

def std_ratio(weight, fan_out):
    """std of ``weight`` over torchvision's kaiming_normal_(fan_out, relu) std."""
    return float(arr(weight).std()) / np.sqrt(2.0 / fan_out)


def test_resnet_initialisation():
    numtorch.manual_seed(0)
    net = models.resnet18()
    for conv in (net.conv1, net.layer3[1].conv1, net.layer4[0].conv2):
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert abs(std_ratio(conv.weight, fan_out) - 1) < 0.03
        assert abs(float(arr(conv.weight).mean())) < 0.1 * np.sqrt(2.0 / fan_out)
    for bn in (net.bn1, net.layer1[0].bn2, net.layer4[1].bn1):
        assert (arr(bn.weight) == 1).all() and (arr(bn.bias) == 0).all()
    bound = 1 / np.sqrt(512)  # fc keeps nn.Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(arr(net.fc.weight)).max() <= bound
    assert abs(arr(net.fc.weight).std() / (bound / np.sqrt(3)) - 1) < 0.03

    zeroed = models.resnet18(zero_init_residual=True)
    assert all((arr(b.bn2.weight) == 0).all() and (arr(b.bn1.weight) == 1).all()
               for layer in (zeroed.layer1, zeroed.layer4) for b in layer)
    x = numtorch.randn(1, 64, 8, 8)
    block = zeroed.layer1[0].eval()  # a zero-initialised block starts as relu(identity)
    np.testing.assert_allclose(arr(block(x)), np.maximum(x.numpy(), 0), atol=1e-6)


def test_bottleneck_zero_init_residual():
    net = models.resnet50(zero_init_residual=True)
    assert (arr(net.layer2[1].bn3.weight) == 0).all()
    assert (arr(net.layer2[1].bn2.weight) == 1).all()


# --- builders, weights enums and the registry ---------------------------------------------

def test_registry():
    assert models.list_models(models) == sorted(
        ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
         "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
         "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"])
    assert models.list_models(include="vgg1[13]*", exclude="*_bn") == ["vgg11", "vgg13"]
    assert models.get_model_builder("ResNet18") is models.resnet18
    assert models.get_model_weights(models.vgg16) is models.VGG16_Weights
    assert models.get_model_weights("resnet50") is models.ResNet50_Weights
    assert models.get_weight("ResNet50_Weights.DEFAULT") is models.ResNet50_Weights.IMAGENET1K_V2
    with pytest.raises(ValueError, match="Unknown model nope"):
        models.get_model("nope")
    with pytest.raises(ValueError, match="Foo_Weights"):
        models.get_weight("Foo_Weights.DEFAULT")
    assert models.get_model("resnet18", num_classes=3).fc.out_features == 3


def test_weights_enums_match_torchvision(torchvision):
    tv = torchvision.models
    for name in models.list_models(models):
        ours, theirs = models.get_model_weights(name), tv.get_model_weights(name)
        assert ours.__name__ == theirs.__name__
        assert [w.name for w in ours] == [w.name for w in theirs]
        assert ours.DEFAULT.name == theirs.DEFAULT.name
        for w in ours:
            t = theirs[w.name]
            assert w.url == t.url
            assert w.meta["num_params"] == t.meta["num_params"]
            assert w.meta["min_size"] == t.meta["min_size"]
            cats = t.meta["categories"]
            assert w.meta["num_classes"] == (None if cats is None else len(cats))
            np.testing.assert_equal(w.meta["_metrics"], t.meta["_metrics"])


def test_verify():
    W = models.ResNet18_Weights
    assert W.verify(None) is None
    assert W.verify("DEFAULT") is W.IMAGENET1K_V1
    assert W.verify("ResNet18_Weights.IMAGENET1K_V1") is W.IMAGENET1K_V1
    with pytest.raises(KeyError):
        W.verify("IMAGENET9K")
    with pytest.raises(TypeError, match="expected ResNet18_Weights but received ResNet50"):
        models.resnet18(weights=models.ResNet50_Weights.DEFAULT)
    assert repr(W.DEFAULT) == "ResNet18_Weights.IMAGENET1K_V1"


def test_num_classes_must_match_the_weights():
    with pytest.raises(ValueError, match="'num_classes' expected value 1000 but got 10"):
        models.resnet18(weights="DEFAULT", num_classes=10)
    with pytest.raises(ValueError, match="'num_classes' expected value 1000 but got 5"):
        models.vgg16(weights=models.VGG16_Weights.IMAGENET1K_V1, num_classes=5)
    with pytest.raises(ValueError, match="'groups' expected value 32 but got 1"):
        models.resnext50_32x4d(groups=1)


def test_legacy_arguments_warn_and_give_a_random_model():
    with pytest.warns(UserWarning, match="'pretrained' is deprecated"):
        net = models.resnet18(pretrained=False, num_classes=4)
    assert net.fc.out_features == 4
    with pytest.warns(UserWarning, match="'weights' as positional parameter"):
        assert models.resnet18(False, num_classes=3).fc.out_features == 3
    with pytest.raises(TypeError, match="pretrained"), pytest.warns(UserWarning):
        models.resnet18(pretrained=True, weights="DEFAULT")


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME, so the hub cache is <tmp_path>/hub/checkpoints."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(hub, "_hub_dir", None)
    return tmp_path / "torch_home"


def test_weights_load_from_the_hub_cache(torchvision, torch_home):
    """A file under the real file name in the cache is what weights= loads (no download)."""
    import torch
    torch.manual_seed(1)
    theirs = torchvision.models.resnet18()
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(theirs.state_dict(), cache / "resnet18-f37072fd.pth")  # PyTorch's own format

    sd = models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    assert set(sd) == set(theirs.state_dict())
    net = models.resnet18(weights=models.ResNet18_Weights.DEFAULT, progress=False)
    np.testing.assert_array_equal(arr(net.layer3[0].conv1.weight),
                                  arr(theirs.layer3[0].conv1.weight))
    np.testing.assert_array_equal(net.bn1.running_var.numpy(), theirs.bn1.running_var.numpy())
    with pytest.warns(UserWarning, match="'pretrained' is deprecated"):
        legacy = models.resnet18(pretrained=True)
    np.testing.assert_array_equal(arr(legacy.fc.bias), arr(theirs.fc.bias))
    assert models.get_model("resnet18", weights="DEFAULT").fc.out_features == 1000


def test_missing_weights_name_url_and_cache_path(torch_home):
    with pytest.raises(urllib.error.URLError) as e:
        # check_hash, a dead host: the message says where to put the file by hand
        hub.load_state_dict_from_url("file:///nonexistent/dir/resnet18-f37072fd.pth",
                                     progress=False)
    cached = str(torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    assert "file:///nonexistent/dir/resnet18-f37072fd.pth" in str(e.value)
    assert cached in str(e.value)
    assert os.listdir(torch_home / "hub" / "checkpoints") == []


# --- numtorch.hub --------------------------------------------------------------------------

def test_get_dir_and_set_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_hub_dir", None)
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.get_dir() == str(tmp_path / "xdg" / "torch" / "hub")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub.get_dir() == str(tmp_path / "th" / "hub")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("TORCH_HOME")
    assert hub.get_dir() == os.path.expanduser(os.path.join("~", ".cache", "torch", "hub"))
    hub.set_dir("~/elsewhere")
    assert hub.get_dir() == os.path.expanduser("~/elsewhere")
    hub.set_dir(tmp_path / "mine")
    assert hub.get_dir() == str(tmp_path / "mine")
    assert numtorch.hub is hub and model_zoo.load_url is hub.load_state_dict_from_url


def write_checkpoint(folder, stem):
    """A numtorch checkpoint named ``<stem>-<first 10 hex digits of its sha256>.pth``."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp.pth"
    numtorch.save({"w": numtorch.arange(6.0).reshape(2, 3), "n": numtorch.tensor(3)}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{stem}-{digest[:10]}.pth"
    os.replace(tmp, path)
    return path, digest


def test_download_then_cache(tmp_path, torch_home):
    src, _ = write_checkpoint(tmp_path / "server", "net")
    sd = hub.load_state_dict_from_url(src.as_uri(), progress=True, check_hash=True)
    assert sd["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and int(sd["n"]) == 3
    cached = torch_home / "hub" / "checkpoints" / src.name
    assert cached.read_bytes() == src.read_bytes()
    assert os.listdir(cached.parent) == [src.name]  # no partial files left behind
    src.unlink()  # a second call must not download
    again = model_zoo.load_url(src.as_uri(), progress=False)
    assert again["w"].tolist() == sd["w"].tolist()
    # model_dir and file_name choose the cache file
    other = hub.load_state_dict_from_url(cached.as_uri(), model_dir=tmp_path / "md",
                                         file_name="renamed.pth", progress=False)
    assert (tmp_path / "md" / "renamed.pth").exists() and int(other["n"]) == 3


def test_hash_check(tmp_path):
    src, digest = write_checkpoint(tmp_path / "server", "net")
    # the file name's prefix is checked only with check_hash
    bad = src.with_name("net-0000000000.pth")
    os.replace(src, bad)
    cache = tmp_path / "cache"
    assert int(hub.load_state_dict_from_url(bad.as_uri(), model_dir=cache,
                                            progress=False)["n"]) == 3
    with pytest.raises(RuntimeError, match=f'expected "0000000000", got "{digest}"'):
        hub.load_state_dict_from_url(bad.as_uri(), model_dir=cache / "checked", check_hash=True,
                                     progress=False)
    assert os.listdir(cache / "checked") == []  # the temporary file was removed

    dst = tmp_path / "dl" / "file.bin"
    dst.parent.mkdir()
    hub.download_url_to_file(bad.as_uri(), dst, hash_prefix=digest[:6], progress=False)
    assert dst.read_bytes() == bad.read_bytes()
    with pytest.raises(RuntimeError, match="invalid hash value"):
        hub.download_url_to_file(bad.as_uri(), tmp_path / "dl" / "other.bin",
                                 hash_prefix="ffff" if not digest.startswith("ffff") else "0",
                                 progress=False)
    assert os.listdir(dst.parent) == ["file.bin"]


def test_download_url_to_file_replaces_atomically(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(300_000))  # several chunks
    dst = tmp_path / "out" / "b.bin"
    dst.parent.mkdir()
    dst.write_bytes(b"old")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hub.download_url_to_file(src.as_uri(), str(dst), progress=False)
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(urllib.error.URLError, match="missing.bin"):
        hub.download_url_to_file((tmp_path / "missing.bin").as_uri(), str(dst), progress=False)
    assert dst.read_bytes() == src.read_bytes()  # a failed download leaves the old file
    assert os.listdir(dst.parent) == ["b.bin"]
