# Cython declarations of jj_runtime.h and of the few CPython C-API functions that generated
# modules call directly (each is exactly what ceval.c calls for the corresponding bytecode).
#
# Conventions: a function returning `object` returns a new reference or NULL with an exception
# set (Cython checks); a function returning `int ... except -1` returns -1 with an exception set.
# Variadic helpers take PyObject* arguments (Cython does not pass `object` through `...`): the
# generated code casts each argument, `<PyObject*>x`, which lends a borrowed reference for the
# duration of the call.

from cpython.object cimport PyObject

cdef extern from "Python.h":
    # Operators (BINARY_OP, UNARY_*, COMPARE_OP)
    object PyNumber_Add(object, object)
    object PyNumber_Subtract(object, object)
    object PyNumber_Multiply(object, object)
    object PyNumber_MatrixMultiply(object, object)
    object PyNumber_TrueDivide(object, object)
    object PyNumber_FloorDivide(object, object)
    object PyNumber_Remainder(object, object)
    object PyNumber_Lshift(object, object)
    object PyNumber_Rshift(object, object)
    object PyNumber_And(object, object)
    object PyNumber_Or(object, object)
    object PyNumber_Xor(object, object)
    object PyNumber_InPlaceAdd(object, object)
    object PyNumber_InPlaceSubtract(object, object)
    object PyNumber_InPlaceMultiply(object, object)
    object PyNumber_InPlaceMatrixMultiply(object, object)
    object PyNumber_InPlaceTrueDivide(object, object)
    object PyNumber_InPlaceFloorDivide(object, object)
    object PyNumber_InPlaceRemainder(object, object)
    object PyNumber_InPlaceLshift(object, object)
    object PyNumber_InPlaceRshift(object, object)
    object PyNumber_InPlaceAnd(object, object)
    object PyNumber_InPlaceOr(object, object)
    object PyNumber_InPlaceXor(object, object)
    object PyNumber_Negative(object)
    object PyNumber_Positive(object)
    object PyNumber_Invert(object)
    object PyObject_RichCompare(object, object, int)
    int PyObject_IsTrue(object) except -1
    enum:
        Py_LT
        Py_LE
        Py_EQ
        Py_NE
        Py_GT
        Py_GE

    # Attributes and subscripts (LOAD_ATTR, STORE_ATTR, BINARY_SUBSCR, ...)
    object PyObject_GetAttr(object, object)
    int PyObject_SetAttr(object, object, object) except -1
    object PyObject_GetItem(object, object)
    int PyObject_SetItem(object, object, object) except -1
    int PyObject_DelItem(object, object) except -1
    object PySlice_New(object, object, object)

    # Containers (LIST_TO_TUPLE, LIST_APPEND, SET_ADD, MAP_ADD) and iteration (GET_ITER)
    object PyList_AsTuple(object)
    int PyList_Append(object, object) except -1
    int PySet_Add(object, object) except -1
    int PyDict_SetItem(object, object, object) except -1
    object PyObject_GetIter(object)


cdef extern from "jj_runtime.h":
    int JJ_InitRuntime() except -1
    int JJ_InitGenerators() except -1   # after JJ_InitRuntime, in modules with generators
    # At every loop head, with the function's own countdown and the line to report: signal
    # handlers and the GIL, as ceval's eval breaker.
    int JJ_Tick(int countdown, int *L, int line) except -1
    int JJ_TICKS
    int JJ_CheckConstants(object constants, Py_ssize_t expected) except -1

    # Handled-exception state and tracebacks
    object JJ_PushExcInfo(object exc)
    void JJ_PopExcept(object prev)
    object JJ_GetExcState()
    int JJ_ExcMark()
    void JJ_ExcUnmark(int mark, object saved)
    object JJ_Caught(object exc, object tbcode, object state, int *L)
    void JJ_ChainThrown(object exc, object saved)

    # Locals, globals, cells
    int JJ_RaiseUnboundLocal(object name) except -1
    object JJ_LoadGlobal(object globals, object builtins, object name)
    int JJ_StoreGlobal(object globals, object name, object value) except -1
    int JJ_DeleteGlobal(object globals, object name) except -1
    object JJ_NewCell(object initial)
    object JJ_NewEmptyCell()
    object JJ_FreeCell(object closure, Py_ssize_t index)
    object JJ_LoadDeref(object cell, object name, int is_free)
    int JJ_StoreDeref(object cell, object value) except -1
    int JJ_DeleteDeref(object cell, object name, int is_free) except -1

    # Operators
    object JJ_Power(object a, object b)
    object JJ_InPlacePower(object a, object b)
    object JJ_Not(object value)
    object JJ_Contains(object item, object container, int negate)
    int JJ_DelAttr(object obj, object name) except -1

    # Calls and functions
    object JJ_Call(object func, object kwnames, Py_ssize_t n, ...)
    object JJ_CallEx(object func, object args, object kwargs, PyObject *state, PyObject *tbcode,
                     int *L)
    object JJ_MakeFunction(object code, object globals, object defaults, object kwdefaults,
                           object annotations, object closure)
    object JJ_LoadBuildClass(object builtins)
    object JJ_AssertionError()
    object JJ_ImportName(object builtins, object globals, object name, object fromlist,
                         object level)
    object JJ_ImportFrom(object module, object name)

    # Containers and strings
    object JJ_BuildSet(Py_ssize_t n, ...)
    object JJ_BuildMap(Py_ssize_t n, ...)
    object JJ_BuildConstKeyMap(object keys, Py_ssize_t n, ...)
    object JJ_BuildString(Py_ssize_t n, ...)
    object JJ_FormatValue(object value, int conversion, object spec, int has_spec)
    int JJ_ListExtend(object list_, object iterable) except -1
    int JJ_SetUpdate(object set_, object iterable) except -1
    int JJ_DictUpdate(object dict_, object mapping) except -1
    int JJ_DictMerge(object dict_, object mapping, object func) except -1

    # Iteration and unpacking
    object JJ_ForIter(object iterator, object done)
    object JJ_GetYieldFromIter(object iterable, int is_coroutine)
    tuple JJ_UnpackSequence(object src, int n)
    tuple JJ_UnpackEx(object src, int before, int after)

    # Raising, except, except*, with
    int JJ_Raise(object exc, object cause, int has_exc, int has_cause, int *L) except -1
    int JJ_Reraise(object exc, int *L) except -1
    object JJ_CheckExcMatch(object exc, object match_type)
    tuple JJ_CheckEgMatch(object exc, object match_type)
    object JJ_PrepReraiseStar(object orig, object raised)
    tuple JJ_BeforeWith(object manager)
    object JJ_WithExceptStart(object exit_func, object exc)

    # Pattern matching
    object JJ_GetLen(object obj)
    object JJ_MatchMapping(object subject)
    object JJ_MatchSequence(object subject)
    object JJ_MatchKeys(object subject, object keys)
    object JJ_MatchClass(object subject, object cls, object names, Py_ssize_t nargs)

    # Fast paths (see "Fast paths" in jj_runtime.h): the same results as the generic C-API
    # calls above, with the common exact builtin types handled inline. Their operands are
    # borrowed PyObject* (a register cast with <PyObject *>, or a constant's __jj_k entry).
    object JJ_Add(PyObject *a, PyObject *b)
    object JJ_InPlaceAdd(PyObject *a, PyObject *b)
    object JJ_Subtract(PyObject *a, PyObject *b)
    object JJ_InPlaceSubtract(PyObject *a, PyObject *b)
    object JJ_Multiply(PyObject *a, PyObject *b)
    object JJ_InPlaceMultiply(PyObject *a, PyObject *b)
    object JJ_TrueDivide(PyObject *a, PyObject *b)
    object JJ_InPlaceTrueDivide(PyObject *a, PyObject *b)
    object JJ_FloorDivide(PyObject *a, PyObject *b)
    object JJ_InPlaceFloorDivide(PyObject *a, PyObject *b)
    object JJ_Remainder(PyObject *a, PyObject *b)
    object JJ_InPlaceRemainder(PyObject *a, PyObject *b)
    # The same, `dying` (1: a, 2: b, 3: both) naming operands that are temporaries dying here.
    object JJ_Add_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_InPlaceAdd_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_Subtract_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_InPlaceSubtract_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_Multiply_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_InPlaceMultiply_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_TrueDivide_Reuse(PyObject *a, PyObject *b, int dying)
    object JJ_InPlaceTrueDivide_Reuse(PyObject *a, PyObject *b, int dying)
    int JJ_CompareFast(PyObject *a, PyObject *b, int op)  # -1: not handled (no exception)
    object JJ_RichCompare(PyObject *a, PyObject *b, int op)
    object JJ_RichCompareGeneric "PyObject_RichCompare" (PyObject *a, PyObject *b, int op)
    int JJ_IsTrue(PyObject *o) except -1
    object JJ_GetItem(PyObject *o, PyObject *key)
    int JJ_SetItem(PyObject *o, PyObject *key, PyObject *value) except -1
    int JJ_ForIterNext(object iterator, PyObject **item) except -1
    int JJ_ForIterNextInto(object iterator, PyObject **item, PyObject *old) except -1

    # Per-site caches: module-level arrays, zero-initialized.
    ctypedef struct JJ_GlobalCache:
        pass
    ctypedef struct JJ_AttrCache:
        pass
    ctypedef struct JJ_CallCache:
        pass
    object JJ_LoadGlobalCached(JJ_GlobalCache *cache, PyObject *globals, PyObject *builtins,
                               PyObject *name)
    object JJ_GetAttrCached(JJ_AttrCache *cache, PyObject *obj, PyObject *name)
    # (typed code's GlobalIs / ModuleAttrIs: no reference made, no exception left)
    bint JJ_GlobalIs(JJ_GlobalCache *cache, PyObject *globals, PyObject *builtins,
                     PyObject *name, PyObject *expected)
    bint JJ_ModuleAttrIs(JJ_AttrCache *cache, PyObject *module, PyObject *name,
                         PyObject *expected)
    int JJ_SetAttrCached(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                         PyObject *value) except -1
    int JJ_SetAttrFloat(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                        double value) except -1
    object JJ_LoadMethod(JJ_AttrCache *cache, PyObject *obj, PyObject *name, int *found)
    # CALL: `found` and `self` as JJ_LoadMethod made them (0 and NULL for a plain callable);
    # `state`, `tbcode`, `L`: the calling function's __jj_state, traceback code and __jj_L
    # (for warnings.warn, see JJ_Warn).
    object JJ_Call0(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self)
    object JJ_Call1(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self, PyObject *a0)
    object JJ_Call2(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self, PyObject *a0, PyObject *a1)
    object JJ_Call3(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self, PyObject *a0, PyObject *a1,
                    PyObject *a2)
    object JJ_Call4(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self, PyObject *a0, PyObject *a1,
                    PyObject *a2, PyObject *a3)
    object JJ_Call5(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self, PyObject *a0, PyObject *a1,
                    PyObject *a2, PyObject *a3, PyObject *a4)
    object JJ_Call6(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                    PyObject *func, int found, PyObject *self, PyObject *a0, PyObject *a1,
                    PyObject *a2, PyObject *a3, PyObject *a4, PyObject *a5)
    object JJ_CallAny(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                      PyObject *func, int found, PyObject *self, PyObject *kwnames,
                      Py_ssize_t n, ...)
    object JJ_Exit(PyObject *res, object tbcode, object state, int *L)
    PyObject *JJ_ExitRaw "JJ_Exit" (PyObject *res, PyObject *tbcode, PyObject *state, int *L)
    int JJ_ExportFastEntry(object module_dict, void *entry, Py_ssize_t nargs) except -1
    int JJ_LeafReady(void *tstate)
    void *PyThreadState_Get()
    int JJ_SelfReady(JJ_CallCache *cache, PyObject *func, PyObject *state, void *own_entry,
                     Py_ssize_t n)

    # Generators
    object JJ_NewGenerator(object inner, object code, object tbcode, object state, object name,
                           object qualname)
    object JJ_Received(object value)
    object JJ_YieldFromProxy(object it)


# Typed code (jj_typed.h): C values in specialized code. The helpers of ops that may deopt
# return 1, writing nothing, where the generic code must run the operation instead.
from libc.stdint cimport int64_t, uint32_t

cdef extern from "jj_typed.h":
    # A deopt test: gcc then lays the typed path out as the hot one (see typed_dispatch)
    bint JJ_UNLIKELY(bint deopt)
    bint JJ_GuardInt(PyObject *o)
    bint JJ_GuardFloat(PyObject *o)
    bint JJ_GuardBool(PyObject *o)
    bint JJ_GuardNone(PyObject *o)
    bint JJ_GuardStr(PyObject *o)
    bint JJ_GuardBytes(PyObject *o)
    bint JJ_GuardList(PyObject *o)
    bint JJ_GuardTuple(PyObject *o)
    bint JJ_GuardDict(PyObject *o)
    bint JJ_GuardSet(PyObject *o)
    bint JJ_GuardComplex(PyObject *o)
    bint JJ_GuardClass(PyObject *o, PyObject *cls)
    int64_t JJ_UnboxInt(PyObject *o)
    double JJ_UnboxFloat(PyObject *o)
    bint JJ_UnboxBool(PyObject *o)
    object JJ_BoxInt "PyLong_FromLongLong" (int64_t v)
    object JJ_BoxFloat "PyFloat_FromDouble" (double v)
    object JJ_BoxRange(int64_t start, int64_t stop, int64_t step)
    object JJ_BoxRangeIter(int64_t cur, int64_t stop, int64_t step)
    int64_t JJ_Len_str(PyObject *o)
    int64_t JJ_Len_bytes(PyObject *o)
    int64_t JJ_Len_list(PyObject *o)
    int64_t JJ_Len_tuple(PyObject *o)
    int64_t JJ_Len_dict(PyObject *o)
    int64_t JJ_Len_set(PyObject *o)
    double JJ_DoubleFromBits(uint32_t high, uint32_t low)
    bint JJ_SeqLoad_list_obj(PyObject *seq, int64_t i, PyObject **r)
    bint JJ_SeqLoad_list_i64(PyObject *seq, int64_t i, int64_t *r)
    bint JJ_SeqLoad_list_f64(PyObject *seq, int64_t i, double *r)
    bint JJ_SeqLoad_tuple_obj(PyObject *seq, int64_t i, PyObject **r)
    bint JJ_SeqLoad_tuple_i64(PyObject *seq, int64_t i, int64_t *r)
    bint JJ_SeqLoad_tuple_f64(PyObject *seq, int64_t i, double *r)
    bint JJ_ListStore(PyObject *seq, int64_t i, PyObject *v)
    bint JJ_ListStoreFloat(PyObject *seq, int64_t i, double v)
    bint JJ_ListStoreBool(PyObject *seq, int64_t i, bint v)
    int64_t JJ_DIRECT_MAGIC_i64
    double JJ_DIRECT_MAGIC_f64
    int JJ_DIRECT_MAGIC_b1
    int64_t JJ_DirectDirty_i64(PyObject *result, PyObject **slot)
    double JJ_DirectDirty_f64(PyObject *result, PyObject **slot)
    int JJ_DirectDirty_b1(PyObject *result, PyObject **slot)
    int JJ_DirectOutcome_i64(int64_t value, PyObject **slot) except -1
    int JJ_DirectOutcome_f64(double value, PyObject **slot) except -1
    int JJ_DirectOutcome_b1(int value, PyObject **slot) except -1
    bint JJ_DirectRaised_i64(int64_t value, PyObject *slot)
    bint JJ_DirectRaised_f64(double value, PyObject *slot)
    bint JJ_DirectRaised_b1(int value, PyObject *slot)
    object JJ_DirectTake(PyObject **slot)
    void JJ_RecursionSet(int remaining)
    bint JJ_IntAdd(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntPow(int64_t a, int64_t b, int64_t *r)
    double JJ_RoundHalfEven(double x)
    bint JJ_FloatPow(double a, double b, double *r)
    bint JJ_IntSub(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntMul(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntFloorDiv(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntMod(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntLshift(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntRshift(int64_t a, int64_t b, int64_t *r)
    bint JJ_IntNeg(int64_t a, int64_t *r)
    bint JJ_IntAbs(int64_t a, int64_t *r)
    int64_t JJ_IntMin(int64_t a, int64_t b)
    int64_t JJ_IntMax(int64_t a, int64_t b)
    double JJ_FloatMin(double r, double x)
    double JJ_FloatMax(double r, double x)
    bint JJ_FloatDiv(double a, double b, double *r)
    bint JJ_FloatMod(double a, double b, double *r)
    bint JJ_FloatFloorDiv(double a, double b, double *r)
    bint JJ_IntToFloatExact(int64_t a, double *r)
    bint JJ_FloatToInt(double a, int64_t *r)
    double fabs(double x)
    bint JJ_Math_sqrt(double x, double *r)
    bint JJ_Math_exp(double x, double *r)
    bint JJ_Math_log(double x, double *r)
    bint JJ_Math_log2(double x, double *r)
    bint JJ_Math_log10(double x, double *r)
    bint JJ_Math_sin(double x, double *r)
    bint JJ_Math_cos(double x, double *r)
    bint JJ_Math_tan(double x, double *r)
    bint JJ_Math_asin(double x, double *r)
    bint JJ_Math_acos(double x, double *r)
    bint JJ_Math_atan(double x, double *r)
    bint JJ_Math_sinh(double x, double *r)
    bint JJ_Math_cosh(double x, double *r)
    bint JJ_Math_tanh(double x, double *r)
    bint JJ_Math_asinh(double x, double *r)
    bint JJ_Math_acosh(double x, double *r)
    bint JJ_Math_atanh(double x, double *r)
    bint JJ_Math_fabs(double x, double *r)
    bint JJ_Math_expm1(double x, double *r)
    bint JJ_Math_floor(double x, double *r)
    bint JJ_Math_ceil(double x, double *r)
    bint JJ_Math_trunc(double x, double *r)
    bint JJ_RangeHas(int64_t cur, int64_t stop, int64_t step)
    int64_t JJ_RangeAdvance(int64_t cur, int64_t stop, int64_t step)
    object JJ_CallNext(PyObject *next, int *L, Py_ssize_t n, ...)


# numpy arrays and scalars in typed code (jj_numpy.h): `op` is the operator's character.
cdef extern from "jj_numpy.h":
    bint JJ_GuardArray_int32(PyObject *o, PyObject *cls, int ndim, char layout)
    bint JJ_GuardArray_int64(PyObject *o, PyObject *cls, int ndim, char layout)
    bint JJ_GuardArray_float32(PyObject *o, PyObject *cls, int ndim, char layout)
    bint JJ_GuardArray_float64(PyObject *o, PyObject *cls, int ndim, char layout)
    char *JJ_NpSlot1_int32(PyObject *o, int64_t i, bint write)
    char *JJ_NpSlot1_int64(PyObject *o, int64_t i, bint write)
    char *JJ_NpSlot1_float32(PyObject *o, int64_t i, bint write)
    char *JJ_NpSlot1_float64(PyObject *o, int64_t i, bint write)
    char *JJ_NpSlot2_int32(PyObject *o, int64_t i, int64_t j, bint write)
    char *JJ_NpSlot2_int64(PyObject *o, int64_t i, int64_t j, bint write)
    char *JJ_NpSlot2_float32(PyObject *o, int64_t i, int64_t j, bint write)
    char *JJ_NpSlot2_float64(PyObject *o, int64_t i, int64_t j, bint write)
    bint JJ_ArrayLoad_int32(char *p, int64_t *r)
    bint JJ_ArrayLoad_int64(char *p, int64_t *r)
    bint JJ_ArrayLoad_float32(char *p, double *r)
    bint JJ_ArrayLoad_float64(char *p, double *r)
    bint JJ_ArrayStore_int32_i64(char *p, int64_t v)
    bint JJ_ArrayStore_int64_i64(char *p, int64_t v)
    bint JJ_ArrayStore_float32_f64(char *p, double v)
    bint JJ_ArrayStore_float64_f64(char *p, double v)
    bint JJ_ArrayStore_float32_round(char *p, double v)
    bint JJ_ArrayStore_int32_trunc(char *p, double v)
    bint JJ_ArrayStore_int64_trunc(char *p, double v)
    bint JJ_NpArith_int32(char op, int64_t a, int64_t b, int64_t *r)
    bint JJ_NpArith_int64(char op, int64_t a, int64_t b, int64_t *r)
    bint JJ_NpArith_float32(char op, double a, double b, double *r)
    bint JJ_NpArith_float64(char op, double a, double b, double *r)
    object JJ_BoxNumpy_int32(PyObject *cls, int64_t v)
    object JJ_BoxNumpy_int64(PyObject *cls, int64_t v)
    object JJ_BoxNumpy_float32(PyObject *cls, double v)
    object JJ_BoxNumpy_float64(PyObject *cls, double v)
