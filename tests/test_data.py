"""numtorch.utils.data: datasets, samplers, collation, DataLoader (with real worker processes)."""
import collections
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numtorch
from numtorch.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                 DistributedSampler, IterableDataset, RandomSampler,
                                 SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                                 WeightedRandomSampler, default_collate, default_convert,
                                 get_worker_info, random_split)


def _g(seed=0):
    return numtorch.Generator().manual_seed(seed)


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


class Stream(IterableDataset):
    """0..n-1, sharded across workers by worker id."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def _flat(batches):
    return [x for b in batches for x in b.tolist()]


def _run(code, timeout=120):
    """Run ``code`` in a fresh interpreter (a hang becomes a failed test, not a stuck suite)."""
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail(f"timed out after {timeout}s (hang):\n{out}")
    return p.returncode, out


# -- datasets -----------------------------------------------------------------------------------
def test_tensor_dataset_subset_concat():
    x, y = numtorch.arange(12.0).reshape(6, 2), numtorch.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[2]
    assert a.tolist() == [4.0, 5.0] and b.item() == 2
    with pytest.raises(ValueError):
        TensorDataset(x, numtorch.arange(5))
    sub = Subset(ds, [5, 0])
    assert len(sub) == 2 and sub[0][1].item() == 5
    cat = Range(3) + Range(2)
    assert isinstance(cat, ConcatDataset)
    assert len(cat) == 5 and [cat[i] for i in range(5)] == [0, 1, 2, 0, 1]
    assert cat[-1] == 1 and cat.cumulative_sizes == [3, 5]
    with pytest.raises(IndexError):
        cat[5]


def test_random_split_lengths_and_disjoint():
    parts = random_split(Range(10), [3, 7], generator=_g(1))
    assert [len(p) for p in parts] == [3, 7]
    got = sorted(p[i] for p in parts for i in range(len(p)))
    assert got == list(range(10))
    again = random_split(Range(10), [3, 7], generator=_g(1))
    assert list(parts[0].indices) == list(again[0].indices)
    with pytest.raises(ValueError):
        random_split(Range(10), [3, 3])


def test_random_split_fractions_remainder_like_torch():
    # floor(10 * f) = 3, 3, 3; the leftover 1 goes to the first split (round-robin)
    assert [len(p) for p in random_split(Range(10), [0.33, 0.33, 0.34], generator=_g())] == [4, 3, 3]
    assert [len(p) for p in random_split(Range(11), [0.5, 0.5], generator=_g())] == [6, 5]
    assert [len(p) for p in random_split(Range(7), [0.25, 0.25, 0.25, 0.25], generator=_g())] == [2, 2, 2, 1]
    with pytest.raises(ValueError):
        random_split(Range(10), [1.5, -0.5])


# -- samplers -----------------------------------------------------------------------------------
def test_sequential_and_random_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    perm = list(RandomSampler(range(20), generator=_g(3)))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    assert perm == list(RandomSampler(range(20), generator=_g(3)))
    many = list(RandomSampler(range(5), num_samples=12, generator=_g()))
    assert len(many) == 12 and sorted(many[:5]) == list(range(5)) and sorted(many[5:10]) == list(range(5))
    rep = list(RandomSampler(range(5), replacement=True, num_samples=70, generator=_g()))
    assert len(rep) == 70 and set(rep) <= set(range(5)) and len(set(rep)) == 5
    with pytest.raises(ValueError):
        RandomSampler(range(5), num_samples=0)


def test_random_sampler_follows_manual_seed():
    numtorch.manual_seed(5)
    a = list(RandomSampler(range(30)))
    numtorch.manual_seed(5)
    assert a == list(RandomSampler(range(30)))


def test_subset_weighted_batch_samplers():
    idx = [10, 20, 30, 40]
    s = list(SubsetRandomSampler(idx, generator=_g()))
    assert sorted(s) == idx
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200, generator=_g()))
    assert len(w) == 200 and set(w) == {1, 3} and w.count(3) > w.count(1)
    nr = list(WeightedRandomSampler([1.0, 1.0, 1.0], 3, replacement=False, generator=_g()))
    assert sorted(nr) == [0, 1, 2]
    with pytest.raises(ValueError):
        WeightedRandomSampler([1.0, 2.0], 0)
    bs = BatchSampler(SequentialSampler(range(10)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]] and len(bs) == 4
    bs = BatchSampler(SequentialSampler(range(10)), 3, drop_last=True)
    assert len(list(bs)) == 3 == len(bs)
    with pytest.raises(ValueError):
        BatchSampler(SequentialSampler(range(10)), 0, drop_last=False)


def test_distributed_sampler_shards_cover_everything():
    shards = [list(DistributedSampler(range(10), num_replicas=3, rank=r, seed=1)) for r in range(3)]
    assert all(len(s) == 4 for s in shards)
    assert set(sum(shards, [])) == set(range(10))
    assert list(DistributedSampler(range(5), 2, 1, shuffle=False)) == [1, 3, 0]


# -- collation ----------------------------------------------------------------------------------
Point = collections.namedtuple("Point", "x y")


def test_default_collate_scalars_and_arrays():
    t = default_collate([1.5, 2.5])
    assert t.dtype == numtorch.float64 and t.tolist() == [1.5, 2.5]
    t = default_collate([1, 2])
    assert t.dtype == numtorch.int64
    assert default_collate([True, False]).dtype == numtorch.bool
    assert default_collate(["a", "b"]) == ["a", "b"]
    a = default_collate([np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)])
    assert isinstance(a, numtorch.Tensor) and a.shape == (2, 2, 3) and a.dtype == numtorch.float32
    s = default_collate([np.int32(1), np.int32(2)])
    assert s.dtype == numtorch.int32 and s.tolist() == [1, 2]
    st = default_collate([numtorch.ones(2), numtorch.zeros(2)])
    assert st.shape == (2, 2)
    with pytest.raises(TypeError):
        default_collate([object(), object()])
    with pytest.raises(RuntimeError):
        default_collate([[1, 2], [1]])


def test_default_collate_nested():
    batch = [{"img": numtorch.full((2,), float(i)), "meta": (i, "n%d" % i), "p": Point(i, 2.0 * i)}
             for i in range(3)]
    out = default_collate(batch)
    assert set(out) == {"img", "meta", "p"}
    assert out["img"].shape == (3, 2)
    assert isinstance(out["meta"], list)  # tuples come back as lists, like PyTorch
    assert out["meta"][0].tolist() == [0, 1, 2] and out["meta"][1] == ["n0", "n1", "n2"]
    assert isinstance(out["p"], Point) and out["p"].y.dtype == numtorch.float64
    assert out["p"].x.tolist() == [0, 1, 2]
    lists = default_collate([[np.array([1, 2]), 3], [np.array([4, 5]), 6]])
    assert lists[0].tolist() == [[1, 2], [4, 5]] and lists[1].tolist() == [3, 6]


def test_default_convert():
    out = default_convert({"a": np.arange(3), "b": (np.float64(2.0), "s"), "c": 1})
    assert isinstance(out["a"], numtorch.Tensor) and out["a"].dtype == numtorch.int64
    assert isinstance(out["b"], list) and isinstance(out["b"][0], numtorch.Tensor)
    assert out["b"][1] == "s" and out["c"] == 1
    p = default_convert(Point(np.zeros(1), 3))
    assert isinstance(p, Point) and isinstance(p.x, numtorch.Tensor)


def test_default_collate_agrees_with_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as tcollate
    batch = [{"x": np.full(3, i, np.float32), "y": i, "z": 0.5 * i, "t": (i, i + 1)} for i in range(4)]
    ours, theirs = default_collate(batch), tcollate(batch)
    for k in ("x", "y", "z"):
        assert ours[k].tolist() == theirs[k].tolist() and str(ours[k].dtype) == str(theirs[k].dtype)
    assert [t.tolist() for t in ours["t"]] == [t.tolist() for t in theirs["t"]]


# -- DataLoader, main process -------------------------------------------------------------------
def test_loader_order_len_drop_last():
    ds = TensorDataset(numtorch.arange(10))
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(DataLoader(ds, batch_size=4)) == 3
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and len(list(dl)) == 2
    assert [x.item() for (x,) in DataLoader(ds)] == list(range(10))


def test_loader_batch_size_none_and_batch_sampler():
    items = list(DataLoader(Range(3), batch_size=None))
    assert items == [0, 1, 2]  # no collation: default_convert leaves ints alone
    arr = list(DataLoader([np.ones(2)], batch_size=None))
    assert isinstance(arr[0], numtorch.Tensor) and arr[0].shape == (2,)
    bs = [[3, 1], [0], [2, 4]]
    got = [b.tolist() for b in DataLoader(Range(5), batch_sampler=bs)]
    assert got == bs
    assert len(DataLoader(Range(5), batch_sampler=bs)) == 3
    with pytest.raises(ValueError):
        DataLoader(Range(5), batch_sampler=bs, batch_size=2)
    with pytest.raises(ValueError):
        DataLoader(Range(5), sampler=SequentialSampler(range(5)), shuffle=True)
    with pytest.raises(ValueError):
        DataLoader(Range(5), persistent_workers=True)
    with pytest.raises(ValueError):
        DataLoader(Range(5), prefetch_factor=2)


def test_loader_shuffle_reproducible_with_generator():
    def run(seed):
        dl = DataLoader(Range(50), batch_size=7, shuffle=True, generator=_g(seed))
        return [_flat(dl) for _ in range(2)]

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    assert sorted(a[0]) == list(range(50)) and a[0] != a[1]  # new order each epoch
    numtorch.manual_seed(3)
    d = _flat(DataLoader(Range(50), batch_size=7, shuffle=True))
    numtorch.manual_seed(3)
    assert d == _flat(DataLoader(Range(50), batch_size=7, shuffle=True))


def test_loader_custom_collate_and_iterable():
    dl = DataLoader(Range(5), batch_size=2, collate_fn=lambda b: sum(b))
    assert list(dl) == [1, 5, 4]
    assert _flat(DataLoader(Stream(7), batch_size=3)) == list(range(7))
    assert len(DataLoader(Stream(7), batch_size=3)) == 3
    assert len(list(DataLoader(Stream(7), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError):
        DataLoader(Stream(7), shuffle=True)


# -- DataLoader, worker processes ---------------------------------------------------------------
class WorkerProbe(Dataset):
    """Each item reports which worker made it, its seed, and a number from numtorch's RNG."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "worker": -1 if info is None else info.id, "pid": os.getpid(),
                "seed": -1 if info is None else info.seed,
                "r": float(numtorch.rand(1).item()),
                "x": numtorch.full((3,), float(i)) * 2}


def test_workers_match_single_process_order():
    ds = TensorDataset(numtorch.arange(40.0).reshape(20, 2), numtorch.arange(20))
    for kw in ({}, {"shuffle": True}):
        ref = [(x.tolist(), y.tolist()) for x, y in
               DataLoader(ds, batch_size=3, generator=_g(4), **kw)]
        for nw in (1, 3):
            got = [(x.tolist(), y.tolist()) for x, y in
                   DataLoader(ds, batch_size=3, num_workers=nw, generator=_g(4), timeout=60, **kw)]
            assert got == ref


def test_workers_seed_info_and_init_fn(tmp_path):
    def init(worker_id):
        (tmp_path / f"init{worker_id}").write_text(str(get_worker_info().seed))

    dl = DataLoader(WorkerProbe(), batch_size=2, num_workers=2, worker_init_fn=init,
                    generator=_g(7), timeout=60)
    out = list(dl)
    assert [i for b in out for i in b["i"].tolist()] == list(range(12))
    workers = [w for b in out for w in b["worker"].tolist()]
    assert workers == [0, 0, 1, 1] * 3  # batches go round-robin
    seeds = {w: s for b in out for w, s in zip(b["worker"].tolist(), b["seed"].tolist())}
    assert seeds[1] == seeds[0] + 1
    assert sorted(os.listdir(tmp_path)) == ["init0", "init1"]
    assert int((tmp_path / "init0").read_text()) == seeds[0]
    assert {p for b in out for p in b["pid"].tolist()}.isdisjoint({os.getpid()})
    assert out[0]["x"].tolist() == [[0.0] * 3, [2.0] * 3]
    # the same loader generator gives the same worker seeds, hence the same random numbers
    again = list(DataLoader(WorkerProbe(), batch_size=2, num_workers=2, generator=_g(7), timeout=60))
    assert [b["r"].tolist() for b in again] == [b["r"].tolist() for b in out]


class Failing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            self.broken_item_helper(i)
        return i

    def broken_item_helper(self, i):
        raise ValueError(f"bad item {i}")


def test_worker_exception_reaches_main_with_traceback():
    dl = DataLoader(Failing(), batch_size=2, num_workers=2, timeout=60)
    it = iter(dl)
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(ValueError) as e:
        next(it)
    msg = str(e.value)
    assert "bad item 5" in msg and "Traceback" in msg and "broken_item_helper" in msg
    assert "worker process" in msg


def test_worker_init_fn_exception():
    def init(worker_id):
        raise KeyError("no init")

    with pytest.raises(KeyError, match="no init"):
        list(DataLoader(Range(4), num_workers=1, worker_init_fn=init, timeout=60))


def test_persistent_workers_two_epochs():
    dl = DataLoader(WorkerProbe(), batch_size=3, num_workers=2, persistent_workers=True,
                    timeout=60)
    e1, e2 = list(dl), list(dl)
    for ep in (e1, e2):
        assert [i for b in ep for i in b["i"].tolist()] == list(range(12))
    pids1 = {p for b in e1 for p in b["pid"].tolist()}
    pids2 = {p for b in e2 for p in b["pid"].tolist()}
    assert pids1 == pids2 and len(pids1) == 2
    # an epoch abandoned half-way leaves nothing behind for the next one
    it = iter(dl)
    next(it)
    assert [i for b in dl for i in b["i"].tolist()] == list(range(12))
    workers = dl._iterator._workers
    del dl, it
    import gc
    gc.collect()
    for w in workers:
        w.join(10)
        assert not w.is_alive()


def test_workers_with_iterable_dataset():
    got = _flat(DataLoader(Stream(11), batch_size=2, num_workers=2, timeout=60))
    assert sorted(got) == list(range(11))
    pers = DataLoader(Stream(11), batch_size=2, num_workers=2, persistent_workers=True, timeout=60)
    assert sorted(_flat(pers)) == list(range(11)) == sorted(_flat(pers))


def test_workers_shut_down_after_epoch():
    dl = DataLoader(Range(6), batch_size=2, num_workers=2, timeout=60)
    it = iter(dl)
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    assert _flat(it) == list(range(6))
    assert not any(w.is_alive() for w in workers)


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import time
        time.sleep(30)
        return i


def test_timeout_raises():
    with pytest.raises(RuntimeError, match="timed out"):
        list(DataLoader(Slow(), num_workers=1, timeout=1))


def test_killed_worker_raises_not_hangs():
    rc, out = _run("""
        import os, signal
        import numtorch
        from numtorch.utils.data import DataLoader, Dataset

        class Killer(Dataset):
            def __len__(self): return 20
            def __getitem__(self, i):
                if i == 9:
                    os.kill(os.getpid(), signal.SIGKILL)
                return i

        try:
            for b in DataLoader(Killer(), batch_size=2, num_workers=2):
                pass
        except RuntimeError as e:
            print("RAISED", e)
        """, timeout=120)
    assert rc == 0, out
    assert "RAISED" in out and "exited unexpectedly" in out, out


def test_fork_after_parallel_kernel_does_not_hang():
    rc, out = _run("""
        import numtorch
        from numtorch.utils.data import DataLoader, Dataset

        class Ops(Dataset):
            def __len__(self): return 8
            def __getitem__(self, i):
                small = (numtorch.ones(16) * i).sum()
                big = (numtorch.randn(1 << 20) * 0).sum()   # parallel kernel in the child too
                return small + big

        parent = (numtorch.randn(1 << 20) * 2).sum()        # parallel region before fork()
        got = [b.tolist() for b in DataLoader(Ops(), batch_size=2, num_workers=2)]
        print("OK", got)
        """, timeout=240)
    assert rc == 0, out
    assert "OK [[0.0, 16.0], [32.0, 48.0], [64.0, 80.0], [96.0, 112.0]]" in out, out
