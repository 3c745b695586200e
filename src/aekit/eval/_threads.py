"""Run scikit-learn fits on one thread unless asked for more.

The probe and k-means are small numerical jobs (tens of thousands of codes of a few dozen
numbers). Their OpenMP / BLAS thread pools gain little from extra threads, and when the machine is
busy (a training run, parallel tests) spinning worker threads can make them 20-30x slower
(measured: a 20k x 30 probe fit takes 0.4 s on one thread and 15 s on two contended ones). Inside
``limit_threads()`` those pools use one thread (or ``threads``, for a long fit on an otherwise idle
machine: ACAI's official 1000 k-means starts on 60,000 256-d codes take 19 min on two free cores and
35 min on one); the previous limits come back on exit.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

from aekit.errors import AekitError


def limit_threads(threads: int = 1):
    """Context manager limiting native thread pools (OpenMP, BLAS) to ``threads`` threads."""
    if int(threads) < 1:
        raise AekitError(f"threads must be at least 1, got {threads}")
    return threadpool_limits(limits=int(threads))
