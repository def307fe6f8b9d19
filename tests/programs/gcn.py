"""A two-layer graph convolutional network (Kipf & Welling) on a synthetic graph: the normalised
adjacency D^-1/2 (A + I) D^-1/2 is a sparse COO tensor, layers multiply it with
``torch.sparse.mm`` / ``torch.spmm``; masked NLL loss on the training nodes, Adam with weight decay.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import numpy as np

FALLS = True
N, FEAT, CLASSES = 48, 12, 3


def graph(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, N)
    x = (rng.random((N, FEAT)) < 0.15).astype(np.float32)
    x[np.arange(N), y] += 0.5  # a weak class signal in the features, the graph carries the rest
    src, dst = [], []
    for i in range(N):
        for j in rng.choice(np.flatnonzero(y == y[i]), 3):
            src += [i, j]
            dst += [j, i]
    a = np.zeros((N, N), np.float32)
    a[src, dst] = 1.0
    a += np.eye(N, dtype=np.float32)
    dinv = 1.0 / np.sqrt(a.sum(1))
    rows, cols = np.nonzero(a)
    vals = (dinv[rows] * a[rows, cols] * dinv[cols]).astype(np.float32)
    return x, y.astype(np.int64), np.stack([rows, cols]).astype(np.int64), vals


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class GraphConv(nn.Module):
        def __init__(self, fin, fout, spmm):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(fin, fout))
            self.bias = nn.Parameter(torch.zeros(fout))
            nn.init.xavier_uniform_(self.weight)
            self.spmm = spmm

        def forward(self, x, adj):
            return self.spmm(adj, torch.mm(x, self.weight)) + self.bias

    class GCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.gc1 = GraphConv(FEAT, 16, torch.sparse.mm)
            self.gc2 = GraphConv(16, CLASSES, torch.spmm)

        def forward(self, x, adj):
            return F.log_softmax(self.gc2(F.relu(self.gc1(x, adj)), adj), dim=1)
    return GCN()


def run(torch, steps=8, state=None):
    torch.manual_seed(0)
    model = build(torch)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    x, y, idx, vals = graph()
    adj = torch.sparse_coo_tensor(torch.from_numpy(idx), torch.from_numpy(vals), (N, N)).coalesce()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    train = torch.arange(0, N, 2)  # every other node is labelled
    test = torch.arange(1, N, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=5e-4)
    losses = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        out = model(x, adj)
        loss = torch.nn.functional.nll_loss(out[train], y[train])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(x, adj)[test].argmax(1) == y[test]).float().mean().item()
    return {"losses": losses, "state0": state0, "eval": [acc]}
