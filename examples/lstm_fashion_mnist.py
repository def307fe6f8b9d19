"""Classify Fashion-MNIST with an LSTM that reads each image row by row (28 steps of 28 pixels).

    python examples/lstm_fashion_mnist.py --epochs 3                # LSTM(28 -> 128), Adam 1e-3
    python examples/lstm_fashion_mnist.py --limit 2000 --epochs 1   # a quick run
    python examples/lstm_fashion_mnist.py --resume                  # continue from the checkpoint

PyTorch code with the import swapped: ``nn.LSTM(28, hidden, batch_first=True)`` reads the
(batch, 28, 28) image as a sequence of rows; a linear layer classifies its last hidden state.
Data as for examples/train_fashion_mnist.py (Debian's /usr/share/datasets/fashion-mnist,
$FASHION_MNIST, ./data or --data). A checkpoint is written after every epoch (atomically) to
--out/checkpoint.pt.
"""
import argparse
import os
import time

import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.utils.data import DataLoader

from train_fashion_mnist import evaluate, find_data, load_datasets

try:
    from tqdm.auto import tqdm
except ImportError:  # the bar is a comfort, not a requirement
    tqdm = None


class RowLSTM(nn.Module):
    """LSTM over the 28 rows of an image (28 features each), linear layer on the last h."""

    def __init__(self, hidden=128, num_layers=1):
        super().__init__()
        self.lstm = nn.LSTM(28, hidden, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x):                 # x: (B, 1, 28, 28)
        _, (h_n, _) = self.lstm(x.squeeze(1))
        return self.fc(h_n[-1])           # the top layer's state after the last row


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="folder with the IDX files")
    p.add_argument("--out", default="runs/lstm_fashion_mnist", help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--limit", type=int, default=0,
                   help="train on the first N images only (and test on N/6; quick runs)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    root = find_data(args.data)
    train_set, test_set = load_datasets(root, args.limit)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = RowLSTM(args.hidden, args.layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    start_epoch = 0
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        g.set_state(ckpt["generator"])
        start_epoch = ckpt["epoch"]
        print(f"resumed from {ckpt_path} at epoch {start_epoch}")

    acc = None
    for epoch in range(start_epoch, args.epochs):
        model.train()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch",
                   disable=args.no_progress) if tqdm else train_loader
        t0 = time.perf_counter()
        seen = 0
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # RNNs: keep rare spikes harmless
            opt.step()
            seen += y.shape[0]
            if tqdm and not args.no_progress:
                bar.set_postfix(loss=f"{loss.item():.4f}",
                                img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        epoch_time = time.perf_counter() - t0
        acc, test_loss = evaluate(model, test_loader, device)
        steps = len(train_loader)
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f}, test loss {test_loss:.4f}, "
              f"{epoch_time:.1f} s ({1000 * epoch_time / max(steps, 1):.1f} ms/step)", flush=True)
        torch.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "generator": g.get_state(), "test_accuracy": acc, "args": vars(args)},
                   ckpt_path)
    return acc


if __name__ == "__main__":
    main()
