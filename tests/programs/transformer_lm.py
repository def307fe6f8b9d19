"""A two-block GPT-style causal language model: token and position embeddings, pre-norm blocks
(one with a hand-written masked softmax attention, one with ``F.scaled_dot_product_attention``),
GELU MLP, tied output head, AdamW with weight decay on matrices only.

Written against PyTorch's API: ``run(torch)`` takes the framework module (numtorch or torch)."""
import math

import numpy as np

FALLS = True
VOCAB, CTX, BATCH = 12, 8, 6


def batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):  # sequences that repeat with a random period of 2 or 3
        x = np.empty((BATCH, CTX + 1), np.int64)
        for b in range(BATCH):
            period = rng.integers(2, 4)
            pat = rng.integers(0, VOCAB, period)
            x[b] = np.resize(pat, CTX + 1)
        yield np.ascontiguousarray(x[:, :-1]), np.ascontiguousarray(x[:, 1:])


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class Attention(nn.Module):
        def __init__(self, d, heads, fused):
            super().__init__()
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.heads, self.fused = heads, fused
            self.register_buffer("mask", torch.tril(torch.ones(CTX, CTX)).view(1, 1, CTX, CTX))

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.qkv(x).split(C, dim=2)
            q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
            if self.fused:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
                y = F.softmax(att, dim=-1) @ v
            return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self, d, heads, fused):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = Attention(d, heads, fused)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self, d=16, heads=2):
            super().__init__()
            self.tok = nn.Embedding(VOCAB, d)
            self.pos = nn.Parameter(torch.zeros(1, CTX, d))
            self.blocks = nn.ModuleList([Block(d, heads, fused=False), Block(d, heads, fused=True)])
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, VOCAB, bias=False)
            self.head.weight = self.tok.weight  # weight tying

        def forward(self, idx, targets):
            x = self.tok(idx) + self.pos[:, :idx.size(1)]
            for block in self.blocks:
                x = block(x)
            logits = self.head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
    return GPT()


def run(torch, steps=6, state=None):
    torch.manual_seed(0)
    model = build(torch)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    state0 = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=3e-2, betas=(0.9, 0.95))
    losses = []
    for x, y in batches(steps):
        loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "state0": state0}
