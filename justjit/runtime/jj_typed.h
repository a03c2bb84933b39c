/* jj_typed.h - C semantics of the typed IR ops (justjit/ir/ops.py, "Typed code").
 *
 * Specialized code keeps ints in int64_t, floats in double and bools in int. Every op here
 * either computes exactly what CPython would, or *declines*: the helpers of ops that may deopt
 * return 1 without writing their result, and the generated code then jumps to the op's deopt
 * block, which boxes the live values and lets the generic code run the operation (so CPython
 * itself raises its exception or produces its big int). Nothing here may wrap or trap: int
 * arithmetic goes through the __builtin_*_overflow checks, and no C division is evaluated where
 * C would be undefined (x / 0, INT64_MIN / -1).
 *
 * Pure C except the guards and boxes at the top, which read and make objects.
 */
#ifndef JJ_TYPED_H
#define JJ_TYPED_H

#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <errno.h>
#include <string.h>
#include <stdarg.h>

#if defined(__GNUC__)
#define JJ_LIKELY(x) __builtin_expect(!!(x), 1)
#define JJ_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Always inlined: a specialized function holds its generic copy too, so it is large, and
 * gcc stops inlining plain `JJ_TYPED` helpers into large functions (measured: n-body
 * spent 9% in out-of-line calls of JJ_SeqLoad and JJ_Math_sqrt). */
#define JJ_TYPED static inline __attribute__((always_inline))
#else
#define JJ_LIKELY(x) (x)
#define JJ_UNLIKELY(x) (x)
#define JJ_TYPED static inline
#endif
#ifndef JJ_UNUSED
#if defined(__GNUC__)
#define JJ_UNUSED __attribute__((unused))
#else
#define JJ_UNUSED
#endif
#endif

/* ---- guards, unboxing, boxing ---------------------------------------------------------- */

/* GuardType "int": an exact int that fits int64 (then JJ_UnboxInt cannot fail). */
JJ_TYPED int JJ_GuardInt(PyObject *o) {
    int overflow;
    if (!PyLong_CheckExact(o))
        return 0;
    (void)PyLong_AsLongLongAndOverflow(o, &overflow);
    return overflow == 0;
}
#define JJ_GuardFloat(o) PyFloat_CheckExact(o)
#define JJ_GuardBool(o) PyBool_Check(o) /* bool cannot be subclassed */
#define JJ_GuardNone(o) ((o) == Py_None)
#define JJ_GuardStr(o) PyUnicode_CheckExact(o)
#define JJ_GuardBytes(o) PyBytes_CheckExact(o)
#define JJ_GuardList(o) PyList_CheckExact(o)
#define JJ_GuardTuple(o) PyTuple_CheckExact(o)
#define JJ_GuardDict(o) PyDict_CheckExact(o)
#define JJ_GuardSet(o) PySet_CheckExact(o)
#define JJ_GuardComplex(o) PyComplex_CheckExact(o)
/* GuardClass: exactly that class (not a subclass). */
#define JJ_GuardClass(o, cls) (Py_TYPE(o) == (PyTypeObject *)(cls))

JJ_TYPED int64_t JJ_UnboxInt(PyObject *o) { return (int64_t)PyLong_AsLongLong(o); }
#define JJ_UnboxFloat(o) PyFloat_AS_DOUBLE(o)
#define JJ_UnboxBool(o) ((o) == Py_True)

/* BoxRange / BoxRangeIter: range(start, stop, step) and an iterator over it. */
static inline PyObject *JJ_BoxRange(int64_t start, int64_t stop, int64_t step) {
    return PyObject_CallFunction((PyObject *)&PyRange_Type, "LLL", (long long)start,
                                 (long long)stop, (long long)step);
}
static inline PyObject *JJ_BoxRangeIter(int64_t cur, int64_t stop, int64_t step) {
    PyObject *range = JJ_BoxRange(cur, stop, step), *it;
    if (range == NULL)
        return NULL;
    it = PyObject_GetIter(range);
    Py_DECREF(range);
    return it;
}

/* TypedLen: len() of an object of exact type (no call, as the type's sq_length does). */
#define JJ_Len_str(o) ((int64_t)PyUnicode_GET_LENGTH(o))
#define JJ_Len_bytes(o) ((int64_t)Py_SIZE(o))
#define JJ_Len_list(o) ((int64_t)Py_SIZE(o))
#define JJ_Len_tuple(o) ((int64_t)Py_SIZE(o))
#define JJ_Len_dict(o) ((int64_t)PyDict_GET_SIZE(o))
#define JJ_Len_set(o) ((int64_t)PySet_GET_SIZE(o))

/* SeqLoad: seq[i] of an exact list or tuple with an int64 index (negative: from the end),
 * into *r: the element (borrowed: the caller takes its reference) for "obj", its value for
 * "i64" (an exact int in int64) and "f64" (an exact float). 1, writing nothing, when the
 * index is out of range or the element is not of that kind. */
#define JJ_SEQ_ITEM(seq, i, size, item)                                                \
    Py_ssize_t n_ = size(seq);                                                          \
    if (i < 0)                                                                          \
        i += n_;                                                                        \
    if (JJ_UNLIKELY((uint64_t)i >= (uint64_t)n_))                                      \
        return 1;                                                                       \
    PyObject *x_ = item(seq, i);
#define JJ_SEQ_LOADS(of, size, item)                                                    \
    JJ_TYPED int JJ_SeqLoad_##of##_obj(PyObject *seq, int64_t i, PyObject **r) {   \
        JJ_SEQ_ITEM(seq, i, size, item)                                                 \
        *r = x_;                                                                        \
        return 0;                                                                       \
    }                                                                                   \
    JJ_TYPED int JJ_SeqLoad_##of##_f64(PyObject *seq, int64_t i, double *r) {      \
        JJ_SEQ_ITEM(seq, i, size, item)                                                 \
        if (JJ_UNLIKELY(!PyFloat_CheckExact(x_)))                                       \
            return 1;                                                                   \
        *r = PyFloat_AS_DOUBLE(x_);                                                     \
        return 0;                                                                       \
    }                                                                                   \
    JJ_TYPED int JJ_SeqLoad_##of##_i64(PyObject *seq, int64_t i, int64_t *r) {     \
        JJ_SEQ_ITEM(seq, i, size, item)                                                 \
        int overflow_;                                                                  \
        long long v_;                                                                   \
        if (JJ_UNLIKELY(!PyLong_CheckExact(x_)))                                        \
            return 1;                                                                   \
        v_ = PyLong_AsLongLongAndOverflow(x_, &overflow_);                              \
        if (JJ_UNLIKELY(overflow_ != 0))                                                \
            return 1;                                                                   \
        *r = (int64_t)v_;                                                               \
        return 0;                                                                       \
    }
JJ_SEQ_LOADS(list, PyList_GET_SIZE, PyList_GET_ITEM)
JJ_SEQ_LOADS(tuple, PyTuple_GET_SIZE, PyTuple_GET_ITEM)

/* ListStore: seq[i] = v for an exact list (list_ass_item: the old element is released after
 * the new one is in place). 1, storing nothing, when the index is out of range. */
JJ_TYPED int JJ_ListStore(PyObject *seq, int64_t i, PyObject *v) {
    JJ_SEQ_ITEM(seq, i, PyList_GET_SIZE, PyList_GET_ITEM)
    if (x_ == v)
        return 0; /* the same reference counts, and nothing to release */
    Py_INCREF(v);
    PyList_SET_ITEM(seq, i, v);
    Py_DECREF(x_);
    return 0;
}
#define JJ_ListStoreBool(seq, i, b) JJ_ListStore((seq), (i), (b) ? Py_True : Py_False)
/* ListStore of a float no object holds yet: the old element's value is overwritten when it
 * is an exact float that only the list references (what CPython's new float and the old
 * one's death come to), else a new float is stored. 1, storing nothing, when the index is out
 * of range or no float can be made (the generic code then raises the MemoryError). */
JJ_TYPED int JJ_ListStoreFloat(PyObject *seq, int64_t i, double v) {
    JJ_SEQ_ITEM(seq, i, PyList_GET_SIZE, PyList_GET_ITEM)
    if (JJ_LIKELY(PyFloat_CheckExact(x_) && Py_REFCNT(x_) == 1)) {
        ((PyFloatObject *)x_)->ob_fval = v;
        return 0;
    }
    PyObject *f = PyFloat_FromDouble(v);
    if (JJ_UNLIKELY(f == NULL)) {
        PyErr_Clear();
        return 1;
    }
    PyList_SET_ITEM(seq, i, f);
    Py_DECREF(x_);
    return 0;
}

/* ConstFloat values that have no exact decimal spelling a C compiler keeps (nan payloads,
 * -0.0): the 8 bytes, as two 32-bit halves. */
JJ_TYPED double JJ_DoubleFromBits(uint32_t high, uint32_t low) {
    uint64_t bits = ((uint64_t)high << 32) | low;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ---- int64 arithmetic (IntArith, IntUnary): return 1 to decline ---------------------------- */

JJ_TYPED int JJ_IntAdd(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
JJ_TYPED int JJ_IntSub(int64_t a, int64_t b, int64_t *r) { return __builtin_sub_overflow(a, b, r); }
JJ_TYPED int JJ_IntMul(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }

/* Floor division, rounding toward minus infinity as Python does. */
JJ_TYPED int JJ_IntFloorDiv(int64_t a, int64_t b, int64_t *r) {
    int64_t q;
    if (JJ_UNLIKELY(b == 0 || (a == INT64_MIN && b == -1)))
        return 1;
    q = a / b;
    if (a % b != 0 && (a ^ b) < 0)
        q -= 1;
    *r = q;
    return 0;
}

/* Modulo with the sign of the divisor, as Python does. */
JJ_TYPED int JJ_IntMod(int64_t a, int64_t b, int64_t *r) {
    int64_t m;
    if (JJ_UNLIKELY(b == 0))
        return 1;
    if (b == -1) { /* also avoids INT64_MIN % -1, undefined in C */
        *r = 0;
        return 0;
    }
    m = a % b;
    if (m != 0 && (m ^ b) < 0)
        m += b;
    *r = m;
    return 0;
}

JJ_TYPED int JJ_IntLshift(int64_t a, int64_t b, int64_t *r) {
    int64_t shifted;
    if (b < 0)
        return 1; /* ValueError: negative shift count */
    if (a == 0) {
        *r = 0;
        return 0;
    }
    if (b >= 64)
        return 1;
    shifted = (int64_t)((uint64_t)a << b);
    if ((shifted >> b) != a)
        return 1; /* bits (or the sign) shifted out: the result needs a big int */
    *r = shifted;
    return 0;
}

JJ_TYPED int JJ_IntRshift(int64_t a, int64_t b, int64_t *r) {
    if (b < 0)
        return 1;
    *r = b >= 64 ? (a < 0 ? -1 : 0) : (a >> b); /* gcc: >> of a negative is arithmetic */
    return 0;
}

/* a ** b for b >= 0, by repeated squaring; 1 (declining) for b < 0 (CPython's answer is a
 * float) or a result beyond int64. A base squared beyond int64 while bits of b remain means
 * the result is beyond it too (|a| >= 2 there), so the exact answer fits iff this gives it. */
JJ_TYPED int JJ_IntPow(int64_t a, int64_t b, int64_t *r) {
    int64_t result = 1;
    if (JJ_UNLIKELY(b < 0))
        return 1;
    while (b != 0) {
        if ((b & 1) && __builtin_mul_overflow(result, a, &result))
            return 1;
        b >>= 1;
        if (b != 0 && __builtin_mul_overflow(a, a, &a))
            return 1;
    }
    *r = result;
    return 0;
}

/* JJ_IntPow for the llvm backend: the result, INT64_MIN where it declines (and for
 * (-2) ** 63 itself, which the generic code then computes). */
static JJ_UNUSED int64_t JJ_IntPowOrMin(int64_t a, int64_t b) {
    int64_t r;
    return JJ_IntPow(a, b, &r) ? INT64_MIN : r;
}

/* float_pow of Objects/floatobject.c for finite operands: x ** 0 is 1.0; a zero base with a
 * positive exponent gives that zero for an odd integral exponent, else 0.0; otherwise libm's
 * pow() of |x| (a negative x needs an integral exponent; the result is negated for an odd
 * one), with errno left clear and a finite result. Elsewhere nan, which those never give: the
 * generic code then answers (0.0 ** -1 raises, a negative base with a fractional exponent
 * gives a complex, an overflow raises, an underflow's errno too). The exponent goes through a
 * volatile, so that no C compiler turns pow(x, 2.0) into x * x: CPython calls pow(). */
static JJ_UNUSED double JJ_FloatPowOrNan(double x, double y) {
    int negate = 0;
    if (!isfinite(x) || !isfinite(y))
        return Py_NAN;
    if (y == 0.0)
        return 1.0;
    if (x == 0.0) {
        if (y < 0.0)
            return Py_NAN;
        return fmod(fabs(y), 2.0) == 1.0 ? x : 0.0;
    }
    if (x < 0.0) {
        if (y != floor(y))
            return Py_NAN;
        x = -x;
        negate = fmod(fabs(y), 2.0) == 1.0;
    }
    volatile double exponent = y;
    errno = 0;
    double r = pow(x, exponent);
    if (errno != 0 || !isfinite(r))
        return Py_NAN;
    return negate ? -r : r;
}

/* FloatPow (see JJ_FloatPowOrNan): 1, writing nothing, where the generic code must run. */
JJ_TYPED int JJ_FloatPow(double x, double y, double *r) {
    double v = JJ_FloatPowOrNan(x, y);
    if (JJ_UNLIKELY(isnan(v)))
        return 1;
    *r = v;
    return 0;
}

/* FloatUnary "round": float___round___impl of Objects/floatobject.c without ndigits, before
 * its int conversion. */
JJ_TYPED double JJ_RoundHalfEven(double x) {
    double rounded = round(x);
    if (fabs(x - rounded) == 0.5)
        rounded = 2.0 * round(x / 2.0);
    return rounded;
}

JJ_TYPED int JJ_IntNeg(int64_t a, int64_t *r) {
    if (JJ_UNLIKELY(a == INT64_MIN))
        return 1;
    *r = -a;
    return 0;
}

JJ_TYPED int JJ_IntAbs(int64_t a, int64_t *r) {
    if (JJ_UNLIKELY(a == INT64_MIN))
        return 1;
    *r = a < 0 ? -a : a;
    return 0;
}

JJ_TYPED int64_t JJ_IntMin(int64_t a, int64_t b) { return b < a ? b : a; }
JJ_TYPED int64_t JJ_IntMax(int64_t a, int64_t b) { return b > a ? b : a; }

/* ---- doubles (FloatDivide, FloatMinMax, conversions, math) ---------------------------------- */

/* Python's min()/max() keep the first of equal items and replace only on a strict compare, so
 * a leading nan wins and a later one never does. */
JJ_TYPED double JJ_FloatMin(double r, double x) { return x < r ? x : r; }
JJ_TYPED double JJ_FloatMax(double r, double x) { return x > r ? x : r; }

JJ_TYPED int JJ_FloatDiv(double a, double b, double *r) {
    if (JJ_UNLIKELY(b == 0.0))
        return 1;
    *r = a / b;
    return 0;
}

/* float_rem of Objects/floatobject.c. */
JJ_TYPED int JJ_FloatMod(double a, double b, double *r) {
    double m;
    if (JJ_UNLIKELY(b == 0.0))
        return 1;
    m = fmod(a, b);
    if (m != 0.0) {
        if ((b < 0) != (m < 0))
            m += b;
    } else {
        m = copysign(0.0, b);
    }
    *r = m;
    return 0;
}

/* The floor quotient of _float_div_mod in Objects/floatobject.c. */
JJ_TYPED int JJ_FloatFloorDiv(double a, double b, double *r) {
    double m, d, q;
    if (JJ_UNLIKELY(b == 0.0))
        return 1;
    m = fmod(a, b);
    d = (a - m) / b;
    if (m != 0.0 && (b < 0) != (m < 0))
        d -= 1.0;
    if (d != 0.0) {
        q = floor(d);
        if (d - q > 0.5)
            q += 1.0;
    } else {
        q = copysign(0.0, a / b);
    }
    *r = q;
    return 0;
}

#define JJ_EXACT_DOUBLE_INT ((int64_t)1 << 53)

/* IntToFloatExact: only where the conversion loses nothing. */
JJ_TYPED int JJ_IntToFloatExact(int64_t a, double *r) {
    if (a < -JJ_EXACT_DOUBLE_INT || a > JJ_EXACT_DOUBLE_INT)
        return 1;
    *r = (double)a;
    return 0;
}

/* FloatToInt: truncation toward zero, when finite and inside int64. */
JJ_TYPED int JJ_FloatToInt(double a, int64_t *r) {
    double t;
    if (!isfinite(a))
        return 1;
    t = trunc(a);
    if (t < -9223372036854775808.0 || t >= 9223372036854775808.0)
        return 1;
    *r = (int64_t)t;
    return 0;
}

/* MathFunc: the libm function CPython's math module calls; decline on any sign of a domain
 * or range error (the generic call then raises CPython's ValueError / OverflowError). */
#define JJ_DEFINE_MATH(name)                                                    \
    JJ_TYPED int JJ_Math_##name(double x, double *r) {                     \
        double v;                                                               \
        errno = 0;                                                              \
        v = name(x);                                                            \
        if ((isnan(v) && !isnan(x)) || (isinf(v) && isfinite(x)) || errno != 0) \
            return 1;                                                           \
        *r = v;                                                                 \
        return 0;                                                               \
    }
JJ_DEFINE_MATH(exp) JJ_DEFINE_MATH(log) JJ_DEFINE_MATH(log2)
JJ_DEFINE_MATH(log10) JJ_DEFINE_MATH(sin) JJ_DEFINE_MATH(cos) JJ_DEFINE_MATH(tan)
JJ_DEFINE_MATH(asin) JJ_DEFINE_MATH(acos) JJ_DEFINE_MATH(atan) JJ_DEFINE_MATH(sinh)
JJ_DEFINE_MATH(cosh) JJ_DEFINE_MATH(tanh) JJ_DEFINE_MATH(asinh) JJ_DEFINE_MATH(acosh)
JJ_DEFINE_MATH(atanh) JJ_DEFINE_MATH(fabs) JJ_DEFINE_MATH(expm1) JJ_DEFINE_MATH(floor)
JJ_DEFINE_MATH(ceil) JJ_DEFINE_MATH(trunc)
#undef JJ_DEFINE_MATH
/* sqrt's only error is the domain error below 0 (nan and inf pass through, without errno):
 * with it declined first, the C compiler's sqrt instruction gives every answer, and its libm
 * call (kept for errno) is reached only by a nan argument, where the errno protocol above
 * calls libm every time. */
JJ_TYPED int JJ_Math_sqrt(double x, double *r) {
    if (x < 0.0)
        return 1;
    *r = __builtin_sqrt(x);
    return 0;
}

/* ---- range loops (RangeIterNext) ------------------------------------------------------------ */

/* The range iterator (cur, stop, step) has an item (cur) while this holds; the next cur is
 * JJ_RangeAdvance's, where an advance past int64 means the range is over (cur = stop). Both
 * take values, not pointers, so the C compiler keeps the loop's registers in registers. */
#define JJ_RangeHas(cur, stop, step) ((step) > 0 ? (cur) < (stop) : (cur) > (stop))
JJ_TYPED int64_t JJ_RangeAdvance(int64_t cur, int64_t stop, int64_t step) {
    int64_t next;
    return __builtin_add_overflow(cur, step, &next) ? stop : next;
}

/* ---- direct self-calls (ir.ops.SelfCall, ReturnUnboxed, DirectResult) -------------------- */

/* A direct body returns its typed result as a C value. It returns the kind's *magic* value
 * when it raised (exception set), when it left typed code and handed its object result over
 * in the module's slot (JJ_DirectDirty_*), or when that is its typed result; the caller tells
 * them apart only then (JJ_DirectOutcome_*), so the common return is one register. */
#define JJ_DIRECT_MAGIC_i64 (-INT64_MAX)  /* (a literal Cython takes as a constant) */
#define JJ_DIRECT_MAGIC_f64 (-1.7976931348623157e308)
#define JJ_DIRECT_MAGIC_b1 (-1)
#define JJ_DEFINE_DIRECT(kind, ctype)                                                         \
    JJ_TYPED ctype JJ_DirectDirty_##kind(PyObject *result, PyObject **slot) {                 \
        Py_INCREF(result);                                                                    \
        *slot = result;                                                                       \
        return JJ_DIRECT_MAGIC_##kind;                                                        \
    }                                                                                         \
    /* 0: `value` is the typed result; 1: an object waits in *slot; -1: the callee raised. */ \
    JJ_TYPED int JJ_DirectOutcome_##kind(ctype value, PyObject **slot) {                      \
        if (JJ_LIKELY(value != JJ_DIRECT_MAGIC_##kind))                                       \
            return 0;                                                                         \
        if (*slot != NULL)                                                                    \
            return 1;                                                                         \
        return PyErr_Occurred() ? -1 : 0;                                                     \
    }                                                                                         \
    /* Whether a direct body's result is a failure that has not left it yet (it then adds  \
     * the body's traceback entry, as JJ_Exit does for an entry's). */                       \
    JJ_TYPED int JJ_DirectRaised_##kind(ctype value, PyObject *slot) {                        \
        return JJ_UNLIKELY(value == JJ_DIRECT_MAGIC_##kind) && slot == NULL &&                \
               PyErr_Occurred() != NULL;                                                      \
    }
JJ_DEFINE_DIRECT(i64, int64_t)
JJ_DEFINE_DIRECT(f64, double)
JJ_DEFINE_DIRECT(b1, int)

/* The object a callee handed over (a new reference; the slot is emptied). */
JJ_TYPED PyObject *JJ_DirectTake(PyObject **slot) {
    PyObject *result = *slot;
    *slot = NULL;
    return result;
}

/* A direct body counts the recursion depth in a C argument (the budget JJ_SelfReady gave the
 * outermost one, less one per level); where it goes on in generic code, and where the
 * outermost SelfCall returns, the thread's own counter is set to match. */
JJ_TYPED void JJ_RecursionSet(int remaining) {
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    PyThreadState_GET()->recursion_remaining = remaining;
#else
    (void)remaining;
#endif
}

/* ---- the dispatcher's chain of specializations --------------------------------------------- */

/* Arguments that fail the entry guards of one specialization are offered to the next one
 * (`next`, the entry of another module, or the dispatcher's miss handler at the end):
 * next(state, *args), n values in all. An exception from it already has its traceback entries,
 * so L[1] says "re-raised": this module's exit adds none. */
static PyObject *JJ_CallNext(PyObject *next, int *L, Py_ssize_t n, ...) {
    PyObject *args[n > 0 ? n : 1], *res;
    va_list ap;
    Py_ssize_t i;
    va_start(ap, n);
    for (i = 0; i < n; i++)
        args[i] = va_arg(ap, PyObject *);
    va_end(ap);
    res = PyObject_Vectorcall(next, args, (size_t)n, NULL);
    if (res == NULL)
        L[1] = 1;
    return res;
}

#endif /* JJ_TYPED_H */
