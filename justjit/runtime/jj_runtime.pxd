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
    object JJ_CallEx(object func, object args, object kwargs)
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

    # Generators
    object JJ_NewGenerator(object inner, object code, object tbcode, object state, object name,
                           object qualname)
    object JJ_Received(object value)
