"""A character LSTM language model (embedding, 2-layer batch-first LSTM, linear decoder) trained
with truncated BPTT: the hidden state is carried across batches, detached, as in PyTorch's
word_language_model; gradients are clipped by norm.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import numpy as np

FALLS = True
VOCAB, BATCH, BPTT = 10, 4, 12


def corpus(n, seed=0):
    """Token stream with structure to learn: runs counting up by one, restarting at random."""
    rng = np.random.default_rng(seed)
    out, t = [], 0
    for _ in range(n):
        t = (t + 1) % VOCAB if rng.random() > 0.1 else int(rng.integers(0, VOCAB))
        out.append(t)
    return np.array(out, dtype=np.int64)


def build(torch):
    nn = torch.nn

    class CharLSTM(nn.Module):
        def __init__(self, emb=8, hidden=24, layers=2):
            super().__init__()
            self.emb = nn.Embedding(VOCAB, emb)
            self.rnn = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
            self.dec = nn.Linear(hidden, VOCAB)

        def forward(self, x, hidden=None):
            out, hidden = self.rnn(self.emb(x), hidden)
            return self.dec(out), hidden
    return CharLSTM()


def run(torch, steps=6, state=None):
    torch.manual_seed(0)
    model = build(torch)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    data = corpus(BATCH * (BPTT * steps + 1)).reshape(BATCH, -1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    crit = torch.nn.CrossEntropyLoss()
    hidden, losses = None, []
    for i in range(steps):
        chunk = torch.from_numpy(np.ascontiguousarray(data[:, i * BPTT:(i + 1) * BPTT + 1]))
        x, y = chunk[:, :-1], chunk[:, 1:]
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        opt.zero_grad()
        logits, hidden = model(x, hidden)
        loss = crit(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "state0": state0}
