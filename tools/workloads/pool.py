"""A Python multiprocessing fork pool (tools/workloads/record.sh, docs/workloads.md).

The parent builds a table of Python objects; a pool of four forked workers reads it. Reading
a Python object writes its reference count, so the workers' reads fault copies of the
parent's heap pages: the COW pattern that makes fork pools expensive in CPython.
"""
import multiprocessing as mp

N = 300_000
data = [bytes([i % 251]) * 160 for i in range(N)]
table = {i: (i * i, str(i)) for i in range(N)}


def work(chunk):
    lo, hi = chunk
    total = 0
    for i in range(lo, hi):
        total += len(data[i]) + table[i][0] + len(table[i][1])
    scratch = bytearray(2 << 20)
    for j in range(0, len(scratch), 4096):
        scratch[j] = 1
    return total


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        chunks = [(i, min(i + 10_000, N)) for i in range(0, N, 10_000)]
        print("pool:", sum(pool.map(work, chunks)))
