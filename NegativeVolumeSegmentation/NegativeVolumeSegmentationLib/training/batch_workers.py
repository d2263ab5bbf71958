"""Training batches drawn ahead of the network by worker processes.

Every batch is a pure function of its iteration (``TrainingStream.batch``: its random generator is
seeded from ``train.seed`` and the iteration), so workers change when a batch is made, never what
it holds: ``batches(stream, first, total, n)`` yields the same arrays in the same order for any
``n``. With ``n`` = 0, or where processes cannot be forked (Windows), the batches are made in this
process. Workers are forked (they inherit the stream: no pickling of the training data), run one
thread each, and keep at most ``2 n`` batches ready, so memory stays bounded when the network is
slower than the data.
"""

import collections
import multiprocessing

_STREAM = None  # the stream the forked workers draw from (set just before forking)


def _start_worker():
    import signal

    import SimpleITK as sitk
    import torch

    # Ctrl-C is the trainer's to handle: a worker stopped by it mid-task could hold the pool's
    # queue lock, and the trainer's pool.terminate() then waited for ever (2 of 5 Ctrl-Cs in a
    # review, 1 of 5 here); the trainer's terminate() ends the workers with SIGTERM, whose
    # default action is restored (nvseg's main turns it into KeyboardInterrupt, as Ctrl-C)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(1)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def _batch(iteration):
    return _STREAM.batch(iteration)


def can_fork():
    """Whether this platform can fork worker processes."""
    return "fork" in multiprocessing.get_all_start_methods()


def batches(stream, first, total, workers):
    """Yield ``stream.batch(i)`` for i = first .. total - 1, made by ``workers`` processes."""
    global _STREAM
    if workers <= 0 or not can_fork():
        for iteration in range(first, total):
            yield stream.batch(iteration)
        return
    _STREAM = stream
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker)
    try:
        pending = collections.deque()
        upcoming = iter(range(first, total))
        for iteration in upcoming:
            pending.append(pool.apply_async(_batch, (iteration,)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().get()
            for iteration in upcoming:
                pending.append(pool.apply_async(_batch, (iteration,)))
                break
            yield result
    finally:
        pool.terminate()
        pool.join()
        _STREAM = None
