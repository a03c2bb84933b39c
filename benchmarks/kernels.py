"""The benchmark kernels: plain Python functions, written the way a user would write them.

Nothing here knows about JustJIT, Numba or the harness. The harness (``benchmarks/run.py``)
loads a fresh copy of this module for each column and replaces every function in it by the
column's compiled version, exactly as if the user had put ``@jit`` (or ``@njit``) on each
``def``: calls between kernels (``fib`` calling ``fib``, ``spectral_norm`` calling
``eval_a_times_u``) go through the module's globals to the compiled functions.
"""

import math


# -- sum over range ------------------------------------------------------------------------


def sum_range(lo, hi):
    total = 0
    for i in range(lo, hi):
        total += i
    return total


# -- recursive fib ---------------------------------------------------------------------------


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


# -- Mandelbrot ------------------------------------------------------------------------------


def mandelbrot(width, height, max_iter):
    """The number of iterations spent over a width x height grid of [-2, 0.5] x [-1.25, 1.25]."""
    total = 0
    for py in range(height):
        ci = -1.25 + 2.5 * py / height
        for px in range(width):
            cr = -2.0 + 2.5 * px / width
            zr = 0.0
            zi = 0.0
            n = 0
            while n < max_iter and zr * zr + zi * zi <= 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                n += 1
            total += n
    return total


# -- n-body over lists of floats -------------------------------------------------------------

SOLAR_MASS = 4 * math.pi * math.pi
DAYS_PER_YEAR = 365.24


def nbody_initial():
    """The Sun, Jupiter, Saturn, Uranus and Neptune: seven lists of floats."""
    bodies = [
        # x, y, z, vx, vy, vz, mass
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, SOLAR_MASS),
        (4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
         1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
         -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS),
        (8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
         -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
         2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS),
        (1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
         2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
         -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS),
        (1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
         2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
         -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS),
    ]
    return [list(column) for column in zip(*bodies)]


def nbody(steps, xs, ys, zs, vxs, vys, vzs, masses):
    """Advance the planets ``steps`` times by dt = 0.01 (updating the lists) and return the
    energy of the system afterwards."""
    n = len(xs)
    dt = 0.01
    # offset the Sun's momentum
    px = py = pz = 0.0
    for i in range(n):
        px += vxs[i] * masses[i]
        py += vys[i] * masses[i]
        pz += vzs[i] * masses[i]
    vxs[0] = -px / SOLAR_MASS
    vys[0] = -py / SOLAR_MASS
    vzs[0] = -pz / SOLAR_MASS
    for _ in range(steps):
        for i in range(n):
            for j in range(i + 1, n):
                dx = xs[i] - xs[j]
                dy = ys[i] - ys[j]
                dz = zs[i] - zs[j]
                d2 = dx * dx + dy * dy + dz * dz
                mag = dt / (d2 * math.sqrt(d2))
                mi = masses[i] * mag
                mj = masses[j] * mag
                vxs[i] -= dx * mj
                vys[i] -= dy * mj
                vzs[i] -= dz * mj
                vxs[j] += dx * mi
                vys[j] += dy * mi
                vzs[j] += dz * mi
        for i in range(n):
            xs[i] += dt * vxs[i]
            ys[i] += dt * vys[i]
            zs[i] += dt * vzs[i]
    e = 0.0
    for i in range(n):
        e += 0.5 * masses[i] * (vxs[i] * vxs[i] + vys[i] * vys[i] + vzs[i] * vzs[i])
        for j in range(i + 1, n):
            dx = xs[i] - xs[j]
            dy = ys[i] - ys[j]
            dz = zs[i] - zs[j]
            e -= masses[i] * masses[j] / math.sqrt(dx * dx + dy * dy + dz * dz)
    return e


# -- sieve over a list -----------------------------------------------------------------------


def sieve(n):
    """The number of primes <= n."""
    is_prime = [True] * (n + 1)
    is_prime[0] = False
    is_prime[1] = False
    i = 2
    while i * i <= n:
        if is_prime[i]:
            for j in range(i * i, n + 1, i):
                is_prime[j] = False
        i += 1
    count = 0
    for flag in is_prime:
        if flag:
            count += 1
    return count


# -- word frequency --------------------------------------------------------------------------


def word_frequency(words):
    counts = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return counts


# -- spectral norm ---------------------------------------------------------------------------


def eval_a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def eval_a_times_u(u):
    n = len(u)
    out = []
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += eval_a(i, j) * u[j]
        out.append(s)
    return out


def eval_at_times_u(u):
    n = len(u)
    out = []
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += eval_a(j, i) * u[j]
        out.append(s)
    return out


def eval_ata_times_u(u):
    return eval_at_times_u(eval_a_times_u(u))


def spectral_norm(n):
    u = [1.0] * n
    v = u
    for _ in range(10):
        v = eval_ata_times_u(u)
        u = eval_ata_times_u(v)
    vbv = 0.0
    vv = 0.0
    for i in range(n):
        vbv += u[i] * v[i]
        vv += v[i] * v[i]
    return math.sqrt(vbv / vv)
