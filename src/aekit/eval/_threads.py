"""Run small scikit-learn fits on one thread.

The probe and k-means are small numerical jobs (tens of thousands of codes of a few dozen
numbers). Their OpenMP / BLAS thread pools gain little from extra threads, and when the machine is
busy (a training run, parallel tests) spinning worker threads can make them 20-30x slower
(measured: a 20k x 30 probe fit takes 0.4 s on one thread and 15 s on two contended ones). Inside
``single_thread()`` those pools use one thread; the previous limits come back on exit.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def single_thread():
    """Context manager limiting native thread pools (OpenMP, BLAS) to one thread."""
    return threadpool_limits(limits=1)
