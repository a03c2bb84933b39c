/* jj_numpy.h - numpy arrays and scalars in specialized code (ir/ops.py: GuardArray, ArrayLoad,
 * ArrayStore, NpArith, BoxNumpy).
 *
 * No numpy header and no import_array(): justjit builds without numpy installed. The few
 * fields read here are mirrored from numpy's public structs, whose layout numpy 1.x and 2.x
 * share (PyArrayObject_fields; of PyArray_Descr only byteorder and type_num, at the same
 * offsets in both; a scalar's value right after its PyObject_HEAD).
 *
 * Every helper either does exactly what numpy does, or declines (returns 1, writing
 * nothing), and the generic code then runs the operation: numpy raises its IndexError,
 * issues its RuntimeWarning, wraps its integer. Array fields (data, shape, strides, dtype,
 * flags) are read at every access, never cached: Python code run by a generic op between two
 * accesses may have reshaped, retyped or frozen the array.
 */
#ifndef JJ_NUMPY_H
#define JJ_NUMPY_H

#include "jj_typed.h"
#include <float.h>

typedef Py_ssize_t jj_npy_intp;

typedef struct {
    PyObject_HEAD
    PyTypeObject *typeobj;
    char kind, type, byteorder, former_flags;
    int type_num;
} JJ_NpDescr;

typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    jj_npy_intp *dimensions;
    jj_npy_intp *strides;
    PyObject *base;
    JJ_NpDescr *descr;
    int flags;
} JJ_NpArray;

/* numpy's type numbers (NPY_INT is C int, NPY_LONG C long: int32 and int64 on LP64 Linux)
 * and flags. */
#define JJ_NPY_INT 5
#define JJ_NPY_LONG 7
#define JJ_NPY_FLOAT 11
#define JJ_NPY_DOUBLE 12
#define JJ_NPY_C_CONTIGUOUS 0x0001
#define JJ_NPY_F_CONTIGUOUS 0x0002
#define JJ_NPY_WRITEABLE 0x0400
#define JJ_NPY_WARN_ON_WRITE 0x80000000u
#if PY_LITTLE_ENDIAN
#define JJ_NPY_SWAPPED '>'
#else
#define JJ_NPY_SWAPPED '<'
#endif

#define JJ_NpA(o) ((JJ_NpArray *)(o))

/* Whether array `o` holds native-order elements of dtype `dtype` (int32, int64, float32,
 * float64) whose scalars are numpy.int32, ... (an array of C long long is "int64" too, but
 * its scalars are numpy.longlong: not this). */
JJ_TYPED int JJ_NpIs_int32(JJ_NpDescr *d) { return d->type_num == JJ_NPY_INT && sizeof(int) == 4; }
JJ_TYPED int JJ_NpIs_int64(JJ_NpDescr *d) { return d->type_num == JJ_NPY_LONG && sizeof(long) == 8; }
JJ_TYPED int JJ_NpIs_float32(JJ_NpDescr *d) { return d->type_num == JJ_NPY_FLOAT; }
JJ_TYPED int JJ_NpIs_float64(JJ_NpDescr *d) { return d->type_num == JJ_NPY_DOUBLE; }
#define JJ_NP_OF(o, dtype, ndim) \
    (JJ_NpA(o)->nd == (ndim) && JJ_NpIs_##dtype(JJ_NpA(o)->descr) && JJ_NpA(o)->descr->byteorder != JJ_NPY_SWAPPED)

/* GuardArray: an exact numpy.ndarray (`cls`) of that dtype and ndim; layout "C" / "F": that
 * contiguity (a 1-d contiguous array is "C"), "A": neither. */
#define JJ_DEFINE_GUARD(dtype)                                                              \
    JJ_TYPED int JJ_GuardArray_##dtype(PyObject *o, PyObject *cls, int ndim, char layout) { \
        int flags, c, f;                                                                    \
        if (Py_TYPE(o) != (PyTypeObject *)cls || !JJ_NP_OF(o, dtype, ndim))                 \
            return 0;                                                                       \
        flags = JJ_NpA(o)->flags;                                                           \
        c = (flags & JJ_NPY_C_CONTIGUOUS) != 0;                                             \
        f = (flags & JJ_NPY_F_CONTIGUOUS) != 0;                                             \
        return layout == 'C' ? c : layout == 'F' ? (f && !c) : (!c && !f);                  \
    }
JJ_DEFINE_GUARD(int32) JJ_DEFINE_GUARD(int64) JJ_DEFINE_GUARD(float32) JJ_DEFINE_GUARD(float64)
#undef JJ_DEFINE_GUARD

/* The address of element [i] of 1-d array o, or [i, j] of 2-d array o (a negative index
 * counts from the end of its axis), for reading, or for writing when `write`; NULL when the
 * array is no longer of that dtype and ndim, the index is out of range (numpy's IndexError:
 * the generic code raises it), or writing is not allowed (read-only: numpy's ValueError; or
 * one that warns on write). */
JJ_TYPED int JJ_NpAxis(PyObject *o, int axis, int64_t *i) {
    jj_npy_intp n = JJ_NpA(o)->dimensions[axis];
    if (*i < 0)
        *i += n;
    return JJ_LIKELY((uint64_t)*i < (uint64_t)n);
}
JJ_TYPED int JJ_NpWritable(PyObject *o, int write) {
    return !write || ((JJ_NpA(o)->flags & JJ_NPY_WRITEABLE) != 0 &&
                      ((unsigned)JJ_NpA(o)->flags & JJ_NPY_WARN_ON_WRITE) == 0);
}
#define JJ_DEFINE_SLOTS(dtype)                                                              \
    JJ_TYPED char *JJ_NpSlot1_##dtype(PyObject *o, int64_t i, int write) {                  \
        if (JJ_UNLIKELY(!JJ_NP_OF(o, dtype, 1) || !JJ_NpWritable(o, write)) ||              \
            !JJ_NpAxis(o, 0, &i))                                                           \
            return NULL;                                                                    \
        return JJ_NpA(o)->data + (jj_npy_intp)i * JJ_NpA(o)->strides[0];                   \
    }                                                                                       \
    JJ_TYPED char *JJ_NpSlot2_##dtype(PyObject *o, int64_t i, int64_t j, int write) {       \
        if (JJ_UNLIKELY(!JJ_NP_OF(o, dtype, 2) || !JJ_NpWritable(o, write)) ||              \
            !JJ_NpAxis(o, 0, &i) || !JJ_NpAxis(o, 1, &j))                                   \
            return NULL;                                                                    \
        return JJ_NpA(o)->data + (jj_npy_intp)i * JJ_NpA(o)->strides[0] +                   \
               (jj_npy_intp)j * JJ_NpA(o)->strides[1];                                      \
    }
JJ_DEFINE_SLOTS(int32) JJ_DEFINE_SLOTS(int64) JJ_DEFINE_SLOTS(float32) JJ_DEFINE_SLOTS(float64)
#undef JJ_DEFINE_SLOTS

/* ArrayLoad: the element at `p` (a JJ_NpSlot, NULL: decline) as its C value (int32 and int64
 * in an int64_t, float32 and float64 in a double: exact). memcpy: it may be unaligned. */
#define JJ_DEFINE_LOAD(dtype, ctype, rtype)                \
    JJ_TYPED int JJ_ArrayLoad_##dtype(char *p, rtype *r) { \
        ctype v;                                           \
        if (JJ_UNLIKELY(p == NULL))                        \
            return 1;                                      \
        memcpy(&v, p, sizeof v);                           \
        *r = (rtype)v;                                     \
        return 0;                                          \
    }
JJ_DEFINE_LOAD(int32, int32_t, int64_t)
JJ_DEFINE_LOAD(int64, int64_t, int64_t)
JJ_DEFINE_LOAD(float32, float, double)
JJ_DEFINE_LOAD(float64, double, double)
#undef JJ_DEFINE_LOAD

/* ArrayStore: the element at `p` (a writable JJ_NpSlot, NULL: decline) = v, v already of the
 * dtype's C value (the specializer converts only where numpy's cast is that exact
 * conversion). The _trunc variants store a Python float into an int array as numpy does
 * (int(v)); _round a double into float32 ((float)v): both decline where numpy would raise or
 * warn (nan, inf, out of range; float32 overflow or underflow). */
JJ_TYPED int JJ_ArrayStore_int32_i64(char *p, int64_t v) {
    int32_t x = (int32_t)v;
    if (p == NULL || v < INT32_MIN || v > INT32_MAX)
        return 1;
    memcpy(p, &x, sizeof x);
    return 0;
}
JJ_TYPED int JJ_ArrayStore_int64_i64(char *p, int64_t v) {
    if (p == NULL)
        return 1;
    memcpy(p, &v, sizeof v);
    return 0;
}
JJ_TYPED int JJ_ArrayStore_float64_f64(char *p, double v) {
    if (p == NULL)
        return 1;
    memcpy(p, &v, sizeof v);
    return 0;
}
JJ_TYPED int JJ_ArrayStore_float32_f64(char *p, double v) {
    float x = (float)v; /* exact: v is a float32 value (an element or float32 arithmetic) */
    if (p == NULL)
        return 1;
    memcpy(p, &x, sizeof x);
    return 0;
}
JJ_TYPED int JJ_ArrayStore_float32_round(char *p, double v) {
    float x = (float)v;
    if (!isfinite(x) || (fabsf(x) < FLT_MIN && v != 0.0))
        return 1;
    return JJ_ArrayStore_float32_f64(p, (double)x);
}
JJ_TYPED int JJ_ArrayStore_int64_trunc(char *p, double v) {
    int64_t x;
    return JJ_FloatToInt(v, &x) || JJ_ArrayStore_int64_i64(p, x);
}
JJ_TYPED int JJ_ArrayStore_int32_trunc(char *p, double v) {
    int64_t x;
    return JJ_FloatToInt(v, &x) || JJ_ArrayStore_int32_i64(p, x);
}

/* NpArith: numpy scalar arithmetic in one dtype, operands already converted to it. Integers
 * decline on overflow (numpy wraps and warns) and int32 on an operand outside int32 (a Python
 * int that does not fit: numpy's OverflowError). Floats decline on a result that is not
 * finite (numpy's overflow / invalid / divide warnings), a zero divisor, and a product or
 * quotient that underflows (numpy's "under" error state, ignored by default but settable).
 * float32: computed in double and rounded once, which is exact for + - * / (a double has
 * more than 2 * 24 + 2 bits). */
#define JJ_INT32_OK(x) ((x) >= INT32_MIN && (x) <= INT32_MAX)
JJ_TYPED int JJ_NpInt64(char op, int64_t a, int64_t b, int64_t *r) {
    switch (op) {
    case '+': return __builtin_add_overflow(a, b, r);
    case '-': return __builtin_sub_overflow(a, b, r);
    case '*': return __builtin_mul_overflow(a, b, r);
    }
    return 1;
}
JJ_TYPED int JJ_NpArith_int64(char op, int64_t a, int64_t b, int64_t *r) {
    return JJ_NpInt64(op, a, b, r);
}
JJ_TYPED int JJ_NpArith_int32(char op, int64_t a, int64_t b, int64_t *r) {
    int64_t x;
    if (!JJ_INT32_OK(a) || !JJ_INT32_OK(b) || JJ_NpInt64(op, a, b, &x) || !JJ_INT32_OK(x))
        return 1;
    *r = x;
    return 0;
}
JJ_TYPED int JJ_NpFloat(char op, double a, double b, double *r, double tiny) {
    double x;
    switch (op) {
    case '+': x = a + b; break;
    case '-': x = a - b; break;
    case '*':
        x = a * b;
        if (fabs(x) < tiny && a != 0.0 && b != 0.0)
            return 1;
        break;
    case '/':
        if (b == 0.0)
            return 1;
        x = a / b;
        if (fabs(x) < tiny && a != 0.0)
            return 1;
        break;
    default: return 1;
    }
    if (!isfinite(x))
        return 1;
    *r = x;
    return 0;
}
JJ_TYPED int JJ_NpArith_float64(char op, double a, double b, double *r) {
    return JJ_NpFloat(op, a, b, r, DBL_MIN);
}
JJ_TYPED int JJ_NpArith_float32(char op, double a, double b, double *r) {
    double x;
    float f;
    if (JJ_NpFloat(op, a, b, &x, 0.0))
        return 1;
    f = (float)x;
    if (!isfinite(f) || (fabsf(f) < FLT_MIN && x != 0.0))
        return 1;
    *r = (double)f;
    return 0;
}

/* BoxNumpy: a new numpy scalar of type `cls` (numpy.float64, ...) holding v, made as numpy
 * makes its scalars (tp_alloc, then the value after the header). */
#define JJ_DEFINE_BOX(dtype, ctype, rtype)                                     \
    JJ_TYPED PyObject *JJ_BoxNumpy_##dtype(PyObject *cls, rtype v) {           \
        PyTypeObject *t = (PyTypeObject *)cls;                                 \
        ctype x = (ctype)v;                                                    \
        PyObject *o = t->tp_alloc(t, 0);                                       \
        if (o != NULL)                                                         \
            memcpy((char *)o + sizeof(PyObject), &x, sizeof x);                \
        return o;                                                              \
    }
JJ_DEFINE_BOX(int32, int32_t, int64_t)
JJ_DEFINE_BOX(int64, int64_t, int64_t)
JJ_DEFINE_BOX(float32, float, double)
JJ_DEFINE_BOX(float64, double, double)
#undef JJ_DEFINE_BOX

#endif /* JJ_NUMPY_H */
