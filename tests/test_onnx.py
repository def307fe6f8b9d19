"""numtorch.onnx.export: the files pass onnx's checker and onnxruntime reproduces numtorch's
outputs (and real PyTorch's, on the same weights), at the traced batch size and at others."""
import io
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import numtorch as torch  # noqa: E402
import numtorch.nn as nn  # noqa: E402
import numtorch.nn.functional as F  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)


class CNN(nn.Module):
    """The seed CNN of examples/: two conv blocks, two linear layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 10)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def mlp():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def bn_model():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 4))


def trained_bn():
    """A BatchNorm model whose running statistics are not the initial ones."""
    torch.manual_seed(0)
    m = bn_model()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(4, 3, 8, 8) * 2 + 1)
    return m


def to_bytes(model, args, **kw):
    buf = io.BytesIO()
    torch.onnx.export(model, args, buf, **kw)
    return buf.getvalue()


def check_and_run(data, *inputs):
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}
    assert len(feeds) == len(inputs)
    return proto, sess.run(None, feeds)


def flat(obj):
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in flat(o)]
    return [obj]


def eager(model, *args):
    model.eval()
    with torch.no_grad():
        return [t.numpy() for t in flat(model(*args))]


def assert_close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, **TOL)


# --- the models of the brief -----------------------------------------------------------------
def test_mlp_is_gemm_and_matches():
    torch.manual_seed(0)
    m = mlp()
    x = torch.randn(8, 784)
    proto, out = check_and_run(to_bytes(m, x), x)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm"]
    assert {t.name for t in proto.graph.initializer} == {"0.weight", "0.bias", "2.weight",
                                                         "2.bias"}
    assert_close(out, eager(m, x))


@pytest.mark.parametrize("opset", [17, 18])
def test_cnn_dynamic_batch(opset):
    torch.manual_seed(0)
    m = CNN()
    data = to_bytes(m, torch.randn(2, 1, 28, 28), input_names=["x"], output_names=["logp"],
                    dynamic_axes={"x": {0: "batch"}, "logp": {0: "batch"}},
                    opset_version=opset)
    assert m.training  # the mode is restored after the eval-mode trace
    x = torch.randn(5, 1, 28, 28)
    proto, out = check_and_run(data, x)
    assert proto.opset_import[0].version == opset
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops and ops.count("Conv") == 2 and ops.count("Gemm") == 2
    for v in (proto.graph.input[0], proto.graph.output[0]):
        assert v.type.tensor_type.shape.dim[0].dim_param == "batch"
    # the flatten is a Reshape that keeps the batch dim symbolic, not the traced 2
    reshape = next(n for n in proto.graph.node if n.op_type == "Reshape")
    shape = next(t for t in proto.graph.initializer if t.name == reshape.input[1])
    assert onnx.numpy_helper.to_array(shape).tolist() in ([0, 1600], [-1, 1600])
    assert_close(out, eager(m, x))


def test_fixed_batch_without_dynamic_axes_is_refused_by_onnxruntime():
    torch.manual_seed(0)
    data = to_bytes(CNN(), torch.randn(2, 1, 28, 28))
    proto = onnx.load_from_string(data)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):
        sess.run(None, {sess.get_inputs()[0].name: np.zeros((3, 1, 28, 28), np.float32)})


def test_batchnorm_model_uses_running_stats():
    m = trained_bn()
    m.train()
    data = to_bytes(m, torch.randn(2, 3, 8, 8), dynamic_axes={"input.1": [0], "output.1": [0]})
    x = torch.randn(3, 3, 8, 8)
    proto, out = check_and_run(data, x)
    assert [n.op_type for n in proto.graph.node].count("BatchNormalization") == 2
    assert "GlobalAveragePool" in [n.op_type for n in proto.graph.node]
    assert m.training
    assert_close(out, eager(m, x))


def test_activations_norms_and_shapes():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.GELU(), nn.Tanh(), nn.Sigmoid(),
                      nn.LeakyReLU(0.1), nn.ELU(), nn.Softmax(-1))
    x = torch.randn(3, 6)
    proto, out = check_and_run(to_bytes(m, x, dynamic_axes={"input.1": [0]}), torch.randn(3, 6))
    ops = [n.op_type for n in proto.graph.node]
    assert {"LayerNormalization", "Erf", "LeakyRelu", "Softmax"} <= set(ops)
    x = torch.randn(7, 6) * 3  # both signs through leaky_relu and elu
    _, out = check_and_run(to_bytes(m, torch.randn(3, 6), dynamic_axes={"input.1": [0]}), x)
    assert_close(out, eager(m, x))


class Arith(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(4))

    def forward(self, x, y):
        a = x * 2 + 1 - y / 3
        b = torch.cat([a, x.permute(0, 2, 1).reshape(x.shape[0], 4, 3)], dim=1)
        c = b[:, 1:5, ::2] * self.scale[:2] + x[:, :, -1:].sum(-1, keepdim=True)
        return (torch.relu(c).pow(2) + torch.exp(-c.abs()).clamp(max=0.5),
                torch.stack([b.mean(1), b.amax(1)], dim=1))


def test_arithmetic_scalars_broadcast_cat_stack_slice():
    torch.manual_seed(0)
    m = Arith()
    x, y = torch.randn(2, 4, 3), torch.randn(3)
    data = to_bytes(m, (x, y), input_names=["x", "y"], dynamic_axes={"x": {0: "n"}})
    x = torch.randn(5, 4, 3)
    _, out = check_and_run(data, x, y)
    assert_close(out, eager(m, x, y))


def test_embedding_dynamic_batch_and_length():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Embedding(20, 6), nn.Linear(6, 3))
    data = to_bytes(m, torch.tensor([[1, 2, 3], [4, 5, 6]]), input_names=["ids"],
                    dynamic_axes={"ids": {0: "batch", 1: "seq"}})
    ids = torch.tensor([[0, 19, 7, 7, 1]] * 4)
    proto, out = check_and_run(data, ids)
    assert "Gather" in [n.op_type for n in proto.graph.node]
    assert [d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim][:2] == \
        ["batch", "seq"]
    assert_close(out, eager(m, ids))


# --- recurrent layers, transformer ----------------------------------------------------------
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_rnn_fixed_length_dynamic_batch(cls):
    torch.manual_seed(0)
    m = cls(5, 7, num_layers=2)
    n_state = 2 if cls is nn.LSTM else 1
    hidden = lambda b: tuple(torch.randn(2, b, 7) for _ in range(n_state))  # noqa: E731
    h = hidden(2)
    names = ["input.1", "input.2", "output.1", "output.2"] + ["input.3", "output.3"][:n_state - 1]
    data = to_bytes(m, (torch.randn(4, 2, 5), h if n_state == 2 else h[0]),
                    dynamic_axes={k: {1: "batch"} for k in names})
    x, h = torch.randn(4, 3, 5), hidden(3)
    _, out = check_and_run(data, x, *h)
    assert_close(out, eager(m, x, h if n_state == 2 else h[0]))


def test_rnn_over_dynamic_length_is_refused():
    m = nn.GRU(3, 4)
    with pytest.raises(RuntimeError, match="control flow"):
        to_bytes(m, torch.randn(4, 1, 3), dynamic_axes={"input.1": [0]})


class WordLM(nn.Module):
    """pytorch/examples' word_language_model RNNModel (LSTM, tied weights)."""

    def __init__(self, ntoken=30, ninp=8, nhid=8, nlayers=2):
        super().__init__()
        self.ntoken, self.nlayers, self.nhid = ntoken, nlayers, nhid
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        return (torch.zeros(self.nlayers, bsz, self.nhid),
                torch.zeros(self.nlayers, bsz, self.nhid))


def test_word_language_model_export(tmp_path):
    torch.manual_seed(0)
    m = WordLM()
    dummy_input = torch.zeros(6, 2, dtype=torch.long)
    hidden = m.init_hidden(2)
    path = tmp_path / "model.onnx"
    torch.onnx.export(m, (dummy_input, hidden), str(path))  # as main.py calls it
    ids = torch.randint(0, 30, (6, 2))
    h = (torch.randn(2, 2, 8), torch.randn(2, 2, 8))
    _, out = check_and_run(path.read_bytes(), ids, *h)
    assert_close(out, eager(m, ids, h))


def test_transformer_encoder_layer():
    torch.manual_seed(0)
    m = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)
    data = to_bytes(m, torch.randn(2, 5, 16), dynamic_axes={"input.1": {0: "b", 1: "s"}})
    x = torch.randn(3, 7, 16)
    _, out = check_and_run(data, x)
    assert_close(out, eager(m, x))


# --- against PyTorch ------------------------------------------------------------------------
def test_onnxruntime_on_numtorch_file_equals_pytorch():
    real = pytest.importorskip("torch")

    class RealCNN(real.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = real.nn.Conv2d(1, 32, 3)
            self.conv2 = real.nn.Conv2d(32, 64, 3)
            self.fc1 = real.nn.Linear(1600, 128)
            self.fc2 = real.nn.Linear(128, 10)
            self.dropout = real.nn.Dropout(0.5)

        def forward(self, x):
            f = real.nn.functional
            x = f.max_pool2d(f.relu(self.conv1(x)), 2)
            x = f.max_pool2d(f.relu(self.conv2(x)), 2)
            x = self.dropout(f.relu(self.fc1(real.flatten(x, 1))))
            return f.log_softmax(self.fc2(x), dim=1)

    torch.manual_seed(1)
    m = CNN()
    ref = RealCNN()
    ref.load_state_dict({k: real.from_numpy(v.detach().numpy().copy())
                         for k, v in m.state_dict().items()})
    ref.eval()
    data = to_bytes(m, torch.randn(1, 1, 28, 28), dynamic_axes={"input.1": [0], "output.1": [0]})
    x = np.random.default_rng(0).standard_normal((6, 1, 28, 28)).astype(np.float32)
    _, out = check_and_run(data, torch.from_numpy(x))
    with real.no_grad():
        want = ref(real.from_numpy(x)).numpy()
    np.testing.assert_allclose(out[0], want, **TOL)


# --- files, names, errors -------------------------------------------------------------------
def test_path_and_file_object_give_the_same_model(tmp_path):
    torch.manual_seed(0)
    m, x = mlp(), torch.randn(2, 784)
    path = tmp_path / "m.onnx"
    torch.onnx.export(m, x, path)
    with open(tmp_path / "f.onnx", "wb") as fh:
        torch.onnx.export(m, (x,), fh)
    assert path.read_bytes() == (tmp_path / "f.onnx").read_bytes() == to_bytes(m, x)
    assert sorted(os.listdir(tmp_path)) == ["f.onnx", "m.onnx"]


def test_names_and_export_params_false():
    torch.manual_seed(0)
    m, x = mlp(), torch.randn(2, 784)
    proto = onnx.load_from_string(to_bytes(m, x, input_names=["pixels"], output_names=["logits"],
                                           export_params=False))
    assert [i.name for i in proto.graph.input] == ["pixels", "0.weight", "0.bias", "2.weight",
                                                   "2.bias"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert not proto.graph.initializer
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"pixels": x.numpy()}
    feeds.update({k: v.detach().numpy() for k, v in m.state_dict().items()})
    assert_close(sess.run(None, feeds), eager(m, x))


def test_failed_export_leaves_no_file_and_keeps_the_old_one(tmp_path):
    class Sorts(nn.Module):
        def forward(self, x):
            return x.sort(dim=1)[0]

    path = tmp_path / "m.onnx"
    with pytest.raises(RuntimeError, match=r"Sort.*f32\[2, 3\]"):
        torch.onnx.export(Sorts(), torch.randn(2, 3), path)
    assert os.listdir(tmp_path) == []
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="Sort"):
        torch.onnx.export(Sorts(), torch.randn(2, 3), str(path))
    assert os.listdir(tmp_path) == ["m.onnx"] and path.read_bytes() == b"old"


def test_value_dependent_constant_is_refused():
    class HostMask(nn.Module):
        def forward(self, x):  # computed by NumPy: no op the tracer sees
            return x * torch.tensor((x.detach().numpy() > 0.5).astype(np.float32))

    with pytest.raises(RuntimeError, match="differs between two traces"):
        to_bytes(HostMask(), torch.randn(3, 4))


def test_comparisons_and_masks_are_traced_ops():
    class Masked(nn.Module):
        def forward(self, x):  # comparisons are no autograd Function: traced as kernel nodes
            keep = (x > 0.5) | ~(x < -0.5)
            return x * keep.float() + (x == 0).float()

    m = Masked()
    x = torch.randn(5, 4)
    x[0, :2] = 0.0
    proto, out = check_and_run(to_bytes(m, torch.randn(3, 4), dynamic_axes={"input.1": [0]}), x)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Greater", "Less", "Not", "Or", "Equal"} <= ops
    np.testing.assert_array_equal(out[0], m(x).numpy())
    traced = torch.jit.trace(m, torch.randn(5, 4))  # and the traced graph replays them
    assert torch.equal(traced(x), m(x))


def test_shape_dependent_python_number_is_refused():
    class Mean(nn.Module):
        def forward(self, x):
            return x.sum(0) / x.shape[0]

    to_bytes(Mean(), torch.randn(3, 4))  # a fixed batch: fine
    with pytest.raises(RuntimeError, match="Div"):
        to_bytes(Mean(), torch.randn(3, 4), dynamic_axes={"input.1": [0]})


def test_argument_errors():
    m, x = mlp(), torch.randn(2, 784)
    with pytest.raises(NotImplementedError, match="keyword"):
        to_bytes(m, (x, {"y": 1}))
    with pytest.raises(ValueError, match="opset"):
        to_bytes(m, x, opset_version=11)
    with pytest.raises(TypeError, match="unexpected"):
        to_bytes(m, x, not_an_option=True)
    to_bytes(m, (x, {}), dynamo=False, keep_initializers_as_inputs=False, verbose=False)


def test_lstm_without_initial_state_dynamic_batch():
    torch.manual_seed(0)
    m = nn.LSTM(3, 4, batch_first=True)  # zeros(1, batch, 4) made inside: ConstantOfShape
    data = to_bytes(m, torch.randn(2, 5, 3), dynamic_axes={"input.1": {0: "batch"}})
    x = torch.randn(4, 5, 3)
    proto, out = check_and_run(data, x)
    assert "ConstantOfShape" in [n.op_type for n in proto.graph.node]
    assert_close(out, eager(m, x))
