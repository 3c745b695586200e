"""The choices a code index offers (``aekit index --metric/--kind/--whiten-eps``), apart from the index code
itself so that the ``aekit`` parser can list them without importing FAISS or torch (``aekit --help`` stays fast)."""

METRICS = ("cosine", "ip", "l2", "hamming")
KINDS = ("auto", "exact", "hnsw", "ivf")
EXACT_LIMIT = 50_000  # kind="auto": exact search below this many codes (ms per query there), HNSW from it on
WHITEN_EPS = 1e-3  # whitening's regulariser, a fraction of the largest eigenvalue; CIFAR-10's best were 1e-4..3e-2
