"""The numpy kernels: loops over numpy arrays, written the way a user would write them.

Kept apart from ``kernels.py`` so that the suite runs without numpy (these rows then say
n/a); the arrays come from the harness. Like ``kernels.py``, nothing here knows about the
harness.
"""


def dot(a, b):
    """The dot product of two 1-d float64 arrays, as an explicit loop."""
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


def stencil(grid, sweeps):
    """``sweeps`` Jacobi sweeps of the 5-point Laplace stencil over a 2-d float64 array
    (the border stays fixed); returns the new array."""
    rows, cols = grid.shape
    cur = grid.copy()
    nxt = grid.copy()
    for _ in range(sweeps):
        for i in range(1, rows - 1):
            for j in range(1, cols - 1):
                nxt[i, j] = 0.25 * (cur[i - 1, j] + cur[i + 1, j] + cur[i, j - 1] + cur[i, j + 1])
        cur, nxt = nxt, cur
    return cur
