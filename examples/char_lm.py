"""A character-level language model (LSTM or a small GPT) on Debian's fortunes, with numtorch.

    python examples/char_lm.py --model lstm --epochs 5   # embedding -> 2-layer LSTM -> linear
    python examples/char_lm.py --model gpt --epochs 5    # causal self-attention, tied embeddings
    python examples/char_lm.py --model gpt --epochs 1 --steps-per-epoch 100   # a quick run

PyTorch code with the import swapped. The corpus is the English text of Debian's ``fortunes``
package (``apt-get install fortunes``; about 2.5 MB): the plain-text files in
/usr/share/games/fortunes (or --data, $FORTUNES_DIR), fortunes separated by lines holding ``%``;
the ``.dat`` index files and the ``.u8`` links are skipped. The fortunes are shuffled (seeded) and
5% of them are held out for validation. The vocabulary is printable ASCII, tab and newline.

An epoch is --steps-per-epoch steps on random windows of --seq-len + 1 characters. The validation
loss (mean cross-entropy in nats per character over fixed windows of the held-out text) is printed
before training and after every epoch, with a text sampled at --temperature from a fixed seed; a
checkpoint (model, optimizer, vocabulary, arguments) is written after every epoch, atomically, to
--out/<model>/checkpoint.pt.
"""
import argparse
import math
import os
import random
import sys
import time

import numpy as np

import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F

try:
    from tqdm.auto import tqdm
except ImportError:  # the bar is a comfort, not a requirement
    tqdm = None

DATA_DIRS = ["/usr/share/games/fortunes", "./data/fortunes"]
VOCAB = "\t\n" + "".join(chr(c) for c in range(32, 127))  # 97 characters


# --- data ---------------------------------------------------------------------------------------
def find_data(root):
    candidates = [root] if root else [os.environ.get("FORTUNES_DIR")] + DATA_DIRS
    for c in candidates:
        if c and os.path.isdir(c) and fortune_files(c):
            return c
    sys.exit("The fortunes corpus was not found. Install Debian's package (apt-get install "
             "fortunes, or bash scripts/char_lm.sh which does it), or put plain-text fortune "
             "files (fortunes separated by lines holding '%') in ./data/fortunes, or pass "
             "--data DIR.")


def fortune_files(root):
    """The plain-text fortune files of ``root``: not the .dat indices, not the .u8 links."""
    return sorted(os.path.join(root, f) for f in os.listdir(root)
                  if not f.endswith((".dat", ".u8")) and os.path.isfile(os.path.join(root, f))
                  and not os.path.islink(os.path.join(root, f)))


def load_fortunes(root):
    """Every fortune of every file in ``root`` as a string ending in a newline, characters outside
    VOCAB (a few control and non-ASCII characters) dropped."""
    keep = set(VOCAB)
    fortunes = []
    for path in fortune_files(root):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        text = "".join(ch for ch in text if ch in keep)
        lines = []
        for line in text.split("\n"):
            if line.strip() == "%":
                if any(s.strip() for s in lines):
                    fortunes.append("\n".join(lines) + "\n")
                lines = []
            else:
                lines.append(line)
        if any(s.strip() for s in lines):
            fortunes.append("\n".join(lines).rstrip("\n") + "\n")
    return fortunes


def encode(text):
    table = np.zeros(128, dtype=np.int64)
    table[[ord(c) for c in VOCAB]] = np.arange(len(VOCAB))
    return torch.from_numpy(table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)])


def decode(ids):
    return "".join(VOCAB[i] for i in ids)


def split_corpus(fortunes, seed, val_fraction=0.05):
    """Shuffle the fortunes (seeded), hold out ``val_fraction`` of them; each text is the fortunes
    joined as in the files (a line holding ``%`` between two)."""
    order = list(fortunes)
    random.Random(seed).shuffle(order)
    n_val = max(1, int(len(order) * val_fraction))
    return "%\n".join(order[n_val:]), "%\n".join(order[:n_val])


def random_batch(data, batch_size, seq_len, g, device):
    """``batch_size`` random windows of ``data``: inputs and the targets one character on."""
    ix = torch.randint(len(data) - seq_len - 1, (batch_size, 1), generator=g)
    win = data[ix + torch.arange(seq_len + 1)]
    return win[:, :-1].to(device), win[:, 1:].to(device)


# --- models -------------------------------------------------------------------------------------
class LSTMLM(nn.Module):
    """embedding -> num_layers LSTM -> linear over the vocabulary."""

    def __init__(self, vocab, d_model=128, hidden=256, num_layers=2, dropout=0.0):
        super().__init__()
        self.emb = nn.Embedding(vocab, d_model)
        self.lstm = nn.LSTM(d_model, hidden, num_layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.lstm(self.emb(idx), state)
        return self.head(out), state


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, C / heads)
        return self.drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token + position embeddings, ``n_layers`` blocks, LayerNorm, output tied to the token
    embedding."""

    def __init__(self, vocab, block_size, d_model=128, n_layers=4, n_heads=4, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied input and output embeddings
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx, state=None):
        T = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(T, device=idx.device)))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x)), None


# --- training, evaluation, sampling -------------------------------------------------------------
def evaluate(model, data, args, device):
    """Mean cross-entropy per character over the first --eval-batches batches of consecutive
    windows of ``data`` (the same windows every epoch)."""
    model.eval()
    T, n = args.seq_len, args.eval_batches * args.batch_size
    starts = torch.arange(0, len(data) - T - 1, T)[:n]
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(starts), args.batch_size):
            win = data[starts[i:i + args.batch_size, None] + torch.arange(T + 1)]
            x, y = win[:, :-1].to(device), win[:, 1:].to(device)
            logits, _ = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                     reduction="sum").item()
            count += y.numel()
    model.train()
    return total / max(count, 1)


def sample(model, prompt, n_chars, temperature, seed, device):
    """Continue ``prompt`` by ``n_chars`` characters drawn with ``torch.multinomial`` from
    softmax(logits / temperature), from a generator seeded with ``seed``."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    ids = encode(prompt).tolist()
    with torch.no_grad():
        if isinstance(model, LSTMLM):  # feed the prompt once, then one character at a time
            logits, state = model(torch.tensor([ids], device=device))
            for _ in range(n_chars):
                probs = F.softmax(logits[0, -1] / temperature, dim=-1)
                nxt = torch.multinomial(probs.cpu(), 1, generator=g).item()
                ids.append(nxt)
                logits, state = model(torch.tensor([[nxt]], device=device), state)
        else:  # the context window slides over the last block_size characters
            for _ in range(n_chars):
                ctx = torch.tensor([ids[-model.block_size:]], device=device)
                logits, _ = model(ctx)
                probs = F.softmax(logits[0, -1] / temperature, dim=-1)
                ids.append(torch.multinomial(probs.cpu(), 1, generator=g).item())
    model.train()
    return decode(ids)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["lstm", "gpt"], default="lstm")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps-per-epoch", type=int, default=500)
    p.add_argument("--seq-len", type=int, default=128, help="characters per training window "
                   "(the GPT's context size)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate")
    p.add_argument("--d-model", type=int, default=128, help="embedding width")
    p.add_argument("--hidden", type=int, default=256, help="LSTM hidden size")
    p.add_argument("--layers", type=int, default=None, help="LSTM layers (2) or GPT blocks (4)")
    p.add_argument("--heads", type=int, default=4, help="GPT attention heads")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="folder with the fortune files")
    p.add_argument("--limit-chars", type=int, default=0,
                   help="train on the first N characters only (quick runs)")
    p.add_argument("--eval-batches", type=int, default=20)
    p.add_argument("--sample-chars", type=int, default=300)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--prompt", default="%\n", help="the text the samples continue")
    p.add_argument("--out", default="runs/char_lm", help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.layers is None:
        args.layers = 2 if args.model == "lstm" else 4
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    train_text, val_text = split_corpus(load_fortunes(find_data(args.data)), args.seed)
    if args.limit_chars:
        train_text = train_text[:args.limit_chars]
    train_data, val_data = encode(train_text), encode(val_text)
    print(f"fortunes: {len(train_data):,} training and {len(val_data):,} validation characters, "
          f"vocabulary {len(VOCAB)}")

    if args.model == "lstm":
        model = LSTMLM(len(VOCAB), args.d_model, args.hidden, args.layers, args.dropout)
    else:
        model = GPT(len(VOCAB), args.seq_len, args.d_model, args.layers, args.heads, args.dropout)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.model}, {n_params:,} parameters")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    out_dir = os.path.join(args.out, args.model)
    os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, "checkpoint.pt")
    start_epoch = 0
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        g.set_state(ckpt["generator"])
        start_epoch = ckpt["epoch"]
        print(f"resumed from {ckpt_path} at epoch {start_epoch}")

    val_loss = evaluate(model, val_data, args, device)
    print(f"epoch {start_epoch}: validation loss {val_loss:.4f} (uniform: "
          f"{math.log(len(VOCAB)):.4f})", flush=True)
    for epoch in range(start_epoch, args.epochs):
        steps = range(args.steps_per_epoch)
        bar = tqdm(steps, desc=f"epoch {epoch + 1}/{args.epochs}", unit="step",
                   disable=args.no_progress) if tqdm else steps
        t0 = time.perf_counter()
        for _ in bar:
            x, y = random_batch(train_data, args.batch_size, args.seq_len, g, device)
            logits, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if tqdm and not args.no_progress:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        epoch_time = time.perf_counter() - t0
        val_loss = evaluate(model, val_data, args, device)
        print(f"epoch {epoch + 1}: validation loss {val_loss:.4f} "
              f"({val_loss / math.log(2):.3f} bits/char), {epoch_time:.1f} s "
              f"({1000 * epoch_time / max(args.steps_per_epoch, 1):.1f} ms/step)", flush=True)
        text = sample(model, args.prompt, args.sample_chars, args.temperature, args.seed, device)
        print("--- sample ---\n" + text + "\n--------------", flush=True)
        torch.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "generator": g.get_state(), "val_loss": val_loss, "vocab": VOCAB,
                    "args": vars(args)}, ckpt_path)
    return val_loss


if __name__ == "__main__":
    main()
