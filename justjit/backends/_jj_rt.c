/* _jj_rt.c - the runtime support module of the LLVM backend (justjit.backends._jj_rt).
 *
 * Machine code made by the LLVM backend calls two kinds of functions:
 *
 * - the CPython C API, resolved by name in the running process;
 * - the JJ_* helpers of justjit/runtime/jj_runtime.h (the same ones the Cython path uses, so
 *   both backends share one implementation of every bytecode's semantics and error messages),
 *   plus a few JJL_* helpers below that only the LLVM path needs.
 *
 * The helpers are `static` C functions. This module is compiled once (at `pip install`, or
 * on first use into the cache directory; see justjit/backends/llvm_runtime.py), and
 * `addresses()` returns {name: address} so that the backend can register each helper with
 * LLVM's symbol resolver (llvmlite's add_symbol). No C compiler runs per function.
 */
#define PY_SSIZE_T_CLEAN
#include "jj_runtime.h"
#include "jj_numpy.h" /* numpy typed ops: llvm_lower.py inlines element access, calls the rest */

#ifndef JJ_RT_SOURCE_DIGEST
#define JJ_RT_SOURCE_DIGEST "unknown"
#endif

/* ------------------------------------------------------------------------------------------ */
/* Helpers of the LLVM path                                                                   */

/* The exception being raised, fetched and normalized as ceval's exception_unwind does before
   it pushes the exception for a handler: the traceback collected so far becomes
   exc.__traceback__. A failure reported without an exception becomes a SystemError (what
   CPython's _Py_CheckFunctionResult reports for a C function returning NULL without one).
   Returns a new reference. */
static PyObject *JJL_FetchNormalized(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        PyErr_SetString(PyExc_SystemError,
                        "justjit: an operation failed without setting an exception");
        PyErr_Fetch(&type, &value, &tb);
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) {  /* normalization cannot produce an instance: keep what we have */
        value = Py_None;
        Py_INCREF(value);
    }
    if (PyExceptionInstance_Check(value)) {
        PyException_SetTraceback(value, tb != NULL ? tb : Py_None);
    }
    Py_XDECREF(tb);
    Py_XDECREF(type);
    return value;
}

/* The traceback entry of the compiled frame for `line`, in front of `next` (tb_create_raw's
   work): its frame is this call's frame object, made on first use (a frame named like the
   original function, without locals) and kept in *tbframe, a slot of the compiled code's own
   register frame that is released with it: one frame object per call, as in CPython. */
static PyObject *jjl_new_traceback(PyObject *next, PyObject *tbcode, PyObject *globals,
                                   int line, PyObject **tbframe)
{
    PyObject *frame = *tbframe;
    if (frame == NULL) {
        if (!PyCode_Check(tbcode) || !PyDict_Check(globals)) {
            return NULL;
        }
        frame = (PyObject *)PyFrame_New(PyThreadState_GET(), (PyCodeObject *)tbcode, globals,
                                        NULL);
        if (frame == NULL) {
            return NULL;
        }
        *tbframe = frame;
    }
    if (next != NULL && !PyTraceBack_Check(next)) {
        next = NULL;
    }
    PyTracebackObject *tb = PyObject_GC_New(PyTracebackObject, &PyTraceBack_Type);
    if (tb == NULL) {
        return NULL;
    }
    Py_XINCREF(next);
    tb->tb_next = (PyTracebackObject *)next;
    Py_INCREF(frame);
    tb->tb_frame = (PyFrameObject *)frame;
    tb->tb_lasti = -1;  /* no instruction offset: tracebacks show the line, without carets */
    tb->tb_lineno = line;
    PyObject_GC_Track(tb);
    return (PyObject *)tb;
}

/* PyTraceBack_Here for the compiled frame: prepend its entry to the traceback of the
   exception being raised. A failure to make the entry never changes what the program does. */
static void jjl_traceback_here(PyObject *tbcode, PyObject *globals, int line,
                               PyObject **tbframe)
{
    PyObject *type, *value, *tb;
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_SystemError,
                        "justjit: an operation failed without setting an exception");
    }
    PyErr_Fetch(&type, &value, &tb);
    PyObject *newtb = jjl_new_traceback(tb, tbcode, globals, line, tbframe);
    if (newtb == NULL) {
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return;
    }
    Py_XDECREF(tb);
    PyErr_Restore(type, value, newtb);
}

/* An exception arrives at a handler of the compiled function (the exception edge of a
   block): the traceback entry CPython's frame adds (unless `add_entry` is 0: RERAISE and a
   bare `raise` add none), then the exception fetched and normalized for the handler's
   register, as ceval's exception_unwind does. New reference. */
static PyObject *JJL_Catch(PyObject *tbcode, PyObject *globals, int line, int add_entry,
                           PyObject **tbframe)
{
    if (add_entry) {
        jjl_traceback_here(tbcode, globals, line, tbframe);
    }
    return JJL_FetchNormalized();
}

/* An exception leaves the compiled function: add the frame's traceback entry; the exception
   stays set (the caller then returns NULL), unnormalized if it was, as in CPython. */
static void JJL_Unwind(PyObject *tbcode, PyObject *globals, int line, PyObject **tbframe)
{
    jjl_traceback_here(tbcode, globals, line, tbframe);
}

/* FOR_ITER after tp_iternext returned NULL: 0 when the iterator is exhausted (a StopIteration
   it raised is cleared), -1 on error. */
static int JJL_IterError(void)
{
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
            return -1;
        }
        PyErr_Clear();
    }
    return 0;
}

/* FOR_ITER on an object whose type has no tp_iternext. */
static void JJL_NotIterator(PyObject *iter)
{
    PyErr_Format(PyExc_TypeError, "'%.200s' object is not an iterator", Py_TYPE(iter)->tp_name);
}

/* The native entry was called with the wrong number of arguments (never happens through the
   dispatcher, which binds the call first). */
static void JJL_ArgCountError(Py_ssize_t got, Py_ssize_t expected)
{
    PyErr_Format(PyExc_TypeError,
                 "justjit: compiled entry expects the state tuple and %zd argument(s), got %zd "
                 "value(s)", expected - 1, got);
}

/* Release every reference in the compiled function's frame (its register slots) at an exit:
   the value-stack registers first, last slot first (as ceval pops the stack), then the locals
   and cells in order (as the frame is cleared). Slots are NULLed before each release. */
static void JJL_ReleaseFrame(PyObject **frame, Py_ssize_t nlocals, Py_ssize_t n)
{
    for (Py_ssize_t i = n - 1; i >= nlocals; i--) {
        PyObject *o = frame[i];
        if (o != NULL) {
            frame[i] = NULL;
            Py_DECREF(o);
        }
    }
    for (Py_ssize_t i = 0; i < nlocals; i++) {
        PyObject *o = frame[i];
        if (o != NULL) {
            frame[i] = NULL;
            Py_DECREF(o);
        }
    }
}

/* Arguments a typed specialization's entry guards rejected go to the next entry of the
   dispatcher's chain (justjit/dispatcher.py `_chain`): `link` is the module's @jj_chain,
   {next entry or NULL, the dispatcher's continue marker}, written by NativeCode.chain, which
   owns both references; `args` is the entry's own (state, arguments...) vector. Returns 0
   when this module's generic code is to run them (no next entry, or it answered with the
   marker); else 1 with *result the next entry's answer (NULL: it raised, and its own frame
   is in the traceback). The entry is held across the call: relinking may drop it meanwhile. */
static int JJL_ChainNext(PyObject **link, PyObject *const *args, Py_ssize_t nargs,
                         PyObject **result)
{
    PyObject *next = link[0], *res;
    if (next == NULL)
        return 0;
    Py_INCREF(next);
    res = PyObject_Vectorcall(next, args, (size_t)nargs, NULL);
    Py_DECREF(next);
    if (res != NULL && res == link[1]) {
        Py_DECREF(res);
        return 0;
    }
    *result = res;
    return 1;
}

/* The first argument of the native entry is not the (globals, builtins, closure) tuple. */
static void JJL_BadState(void)
{
    PyErr_SetString(PyExc_TypeError,
                    "justjit: compiled entry expects a (globals, builtins, closure) tuple first");
}

/* Direct self-calls (ir.ops.SelfCall; justjit/backends/llvm_lower.py, "Direct self-calls").
   jj_runtime.h's JJ_SelfReady for LLVM code, whose entry is not a registered C entry but a
   builtin function: with own_entry NULL, JJ_SelfReady accepts a trampoline taking n
   arguments whose target has no registered C entry, with `state` (this call's dispatcher
   state), if the recursion limit allows one more call; that target must then be this very
   compiled entry, the builtin function whose self is this module's constants tuple `consts`.
   Returns the recursion budget to give the direct body, or -1 to decline (the generic call
   runs, and raises the RecursionError if that is why). */
static int JJL_SelfReady(JJ_CallCache *cache, PyObject *func, PyObject *consts, PyObject *state,
                         Py_ssize_t n)
{
    int budget = JJ_SelfReady(cache, func, state, NULL, n);
    if (budget >= 0 && (!PyCFunction_CheckExact(cache->target) ||
                        PyCFunction_GET_SELF(cache->target) != consts)) {
        return -1;
    }
    return budget;
}

/* A direct body counts the recursion depth in an argument; where it goes on in generic code,
   and where the outermost SelfCall returns, the thread's own counter is set to match. */
static void JJL_RecursionSet(int remaining)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    PyThreadState_GET()->recursion_remaining = remaining;
#else
    (void)remaining;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Fast paths                                                                                 */
/*
 * What CPython 3.11's specialized instructions do for exact ints and floats
 * (BINARY_OP_ADD_INT, BINARY_OP_MULTIPLY_FLOAT, COMPARE_OP_INT_JUMP, BINARY_SUBSCR_LIST_INT,
 * LOAD_GLOBAL_BUILTIN, ...), decided at each execution instead of by an adaptive interpreter:
 * the same results as the generic C-API call they stand for (exact types have no overrides),
 * reached without the generic dispatch. Anything else goes to that C-API call (or JJ_*
 * helper), which also produces every exception.
 */

/* An exact int of at most one 30-bit digit (3.11's layout: ob_size is the signed number of
   digits): its value (jj_runtime.h's branch-free JJ_MEDIUM_VALUE). */
static inline int jjl_medium(PyObject *o, long *v)
{
    if (!JJ_MEDIUM(o)) {
        return 0;
    }
    *v = (long)JJ_MEDIUM_VALUE(o);
    return 1;
}

#define JJL_BOTH_MEDIUM(a, b, x, y) \
    (PyLong_CheckExact(a) && PyLong_CheckExact(b) && jjl_medium(a, &x) && jjl_medium(b, &y))
#define JJL_BOTH_FLOAT(a, b) (PyFloat_CheckExact(a) && PyFloat_CheckExact(b))

/* int/int and float/float +, -, *; ints: &, |, ^. `generic` is the C-API fallback. */
#define JJL_ARITH(NAME, GENERIC, INT_EXPR, FLOAT_EXPR)                                         \
    static PyObject *NAME(PyObject *a, PyObject *b)                                            \
    {                                                                                          \
        long x, y;                                                                             \
        if (JJL_BOTH_MEDIUM(a, b, x, y)) {                                                     \
            return PyLong_FromLong(INT_EXPR);                                                  \
        }                                                                                      \
        if (JJL_BOTH_FLOAT(a, b)) {                                                            \
            double u = PyFloat_AS_DOUBLE(a), w = PyFloat_AS_DOUBLE(b);                         \
            (void)u;                                                                           \
            (void)w;                                                                           \
            FLOAT_EXPR;                                                                        \
        }                                                                                      \
        return GENERIC(a, b);                                                                  \
    }

#define JJL_FLOAT_RESULT(e) return PyFloat_FromDouble(e)
#define JJL_NO_FLOAT ((void)0)

JJL_ARITH(JJL_Add, PyNumber_Add, x + y, JJL_FLOAT_RESULT(u + w))
JJL_ARITH(JJL_InPlaceAdd, PyNumber_InPlaceAdd, x + y, JJL_FLOAT_RESULT(u + w))
JJL_ARITH(JJL_Subtract, PyNumber_Subtract, x - y, JJL_FLOAT_RESULT(u - w))
JJL_ARITH(JJL_InPlaceSubtract, PyNumber_InPlaceSubtract, x - y, JJL_FLOAT_RESULT(u - w))
JJL_ARITH(JJL_Multiply, PyNumber_Multiply, x * y, JJL_FLOAT_RESULT(u * w))
JJL_ARITH(JJL_InPlaceMultiply, PyNumber_InPlaceMultiply, x * y, JJL_FLOAT_RESULT(u * w))
JJL_ARITH(JJL_And, PyNumber_And, x & y, JJL_NO_FLOAT)
JJL_ARITH(JJL_InPlaceAnd, PyNumber_InPlaceAnd, x & y, JJL_NO_FLOAT)
JJL_ARITH(JJL_Or, PyNumber_Or, x | y, JJL_NO_FLOAT)
JJL_ARITH(JJL_InPlaceOr, PyNumber_InPlaceOr, x | y, JJL_NO_FLOAT)
JJL_ARITH(JJL_Xor, PyNumber_Xor, x ^ y, JJL_NO_FLOAT)
JJL_ARITH(JJL_InPlaceXor, PyNumber_InPlaceXor, x ^ y, JJL_NO_FLOAT)

/* int // int and int % int with Python's rounding (towards minus infinity); a zero divisor
   goes to the generic call, which raises. */
static inline long jjl_floordiv(long x, long y)
{
    long q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) {
        q -= 1;
    }
    return q;
}

static inline long jjl_mod(long x, long y)
{
    long r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
        r += y;
    }
    return r;
}

#define JJL_INTDIV(NAME, GENERIC, FUNC)                                                        \
    static PyObject *NAME(PyObject *a, PyObject *b)                                            \
    {                                                                                          \
        long x, y;                                                                             \
        if (JJL_BOTH_MEDIUM(a, b, x, y) && y != 0) {                                           \
            return PyLong_FromLong(FUNC(x, y));                                                \
        }                                                                                      \
        return GENERIC(a, b);                                                                  \
    }

JJL_INTDIV(JJL_FloorDivide, PyNumber_FloorDivide, jjl_floordiv)
JJL_INTDIV(JJL_InPlaceFloorDivide, PyNumber_InPlaceFloorDivide, jjl_floordiv)
JJL_INTDIV(JJL_Remainder, PyNumber_Remainder, jjl_mod)
JJL_INTDIV(JJL_InPlaceRemainder, PyNumber_InPlaceRemainder, jjl_mod)

/* int / int (both exactly representable as doubles: long_true_divide's own fast path) and
   float / float; a zero divisor goes to the generic call. */
#define JJL_TRUEDIV(NAME, GENERIC)                                                             \
    static PyObject *NAME(PyObject *a, PyObject *b)                                            \
    {                                                                                          \
        long x, y;                                                                             \
        if (JJL_BOTH_MEDIUM(a, b, x, y) && y != 0) {                                           \
            return PyFloat_FromDouble((double)x / (double)y);                                  \
        }                                                                                      \
        if (JJL_BOTH_FLOAT(a, b) && PyFloat_AS_DOUBLE(b) != 0.0) {                             \
            return PyFloat_FromDouble(PyFloat_AS_DOUBLE(a) / PyFloat_AS_DOUBLE(b));            \
        }                                                                                      \
        return GENERIC(a, b);                                                                  \
    }

JJL_TRUEDIV(JJL_TrueDivide, PyNumber_TrueDivide)
JJL_TRUEDIV(JJL_InPlaceTrueDivide, PyNumber_InPlaceTrueDivide)

/* COMPARE_OP: int/int and float/float give a bool directly. */
static PyObject *JJL_RichCompare(PyObject *a, PyObject *b, int op)
{
    long x, y;
    int r;
    if (JJL_BOTH_MEDIUM(a, b, x, y)) {
        switch (op) {
        case Py_LT: r = x < y; break;
        case Py_LE: r = x <= y; break;
        case Py_EQ: r = x == y; break;
        case Py_NE: r = x != y; break;
        case Py_GT: r = x > y; break;
        default: r = x >= y; break;
        }
        return Py_NewRef(r ? Py_True : Py_False);
    }
    if (JJL_BOTH_FLOAT(a, b)) {
        double u = PyFloat_AS_DOUBLE(a), w = PyFloat_AS_DOUBLE(b);
        switch (op) {
        case Py_LT: r = u < w; break;
        case Py_LE: r = u <= w; break;
        case Py_EQ: r = u == w; break;
        case Py_NE: r = u != w; break;
        case Py_GT: r = u > w; break;
        default: r = u >= w; break;
        }
        return Py_NewRef(r ? Py_True : Py_False);
    }
    return PyObject_RichCompare(a, b, op);
}

/* BINARY_SUBSCR on an exact list or tuple with an exact int index in range. */
static PyObject *JJL_GetItem(PyObject *o, PyObject *key)
{
    long i;
    if (PyLong_CheckExact(key) && jjl_medium(key, &i)) {
        if (PyList_CheckExact(o)) {
            Py_ssize_t n = PyList_GET_SIZE(o);
            if (i < 0) {
                i += n;
            }
            if (i >= 0 && i < n) {
                return Py_NewRef(PyList_GET_ITEM(o, i));
            }
        }
        else if (PyTuple_CheckExact(o)) {
            Py_ssize_t n = PyTuple_GET_SIZE(o);
            if (i < 0) {
                i += n;
            }
            if (i >= 0 && i < n) {
                return Py_NewRef(PyTuple_GET_ITEM(o, i));
            }
        }
    }
    return PyObject_GetItem(o, key);
}

/* LOAD_GLOBAL with a per-site cache (the compiled code's own writable memory): while neither
   dict has changed since the lookup (PEP 509 version tags, unique across all dicts), the value
   found then is still the one both dicts give, and still alive (the dict holds it). */
typedef struct {
    uint64_t globals_version;
    uint64_t builtins_version;
    PyObject *value;  /* borrowed: owned by one of the two dicts while the versions match */
} jjl_global_cache;
/* The LLVM code checks a hit inline (llvm_lower.py's op_LoadGlobal, GCACHE_*). */
_Static_assert(offsetof(jjl_global_cache, builtins_version) == 8 &&
               offsetof(jjl_global_cache, value) == 16, "jjl_global_cache layout");

static PyObject *JJL_LoadGlobalCached(PyObject *globals, PyObject *builtins, PyObject *name,
                                      jjl_global_cache *cache)
{
    if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins)) {
        return JJ_LoadGlobal(globals, builtins, name);
    }
    uint64_t gv = ((PyDictObject *)globals)->ma_version_tag;
    uint64_t bv = ((PyDictObject *)builtins)->ma_version_tag;
    if (cache->value != NULL && cache->globals_version == gv && cache->builtins_version == bv) {
        return Py_NewRef(cache->value);
    }
    PyObject *v = JJ_LoadGlobal(globals, builtins, name);
    if (v != NULL) {
        /* The lookup ran no Python code (exact dicts, str keys hash without it... a key with
           a user __eq__ could): store only if nothing changed meanwhile. */
        if (((PyDictObject *)globals)->ma_version_tag == gv &&
            ((PyDictObject *)builtins)->ma_version_tag == bv) {
            cache->globals_version = gv;
            cache->builtins_version = bv;
            cache->value = v;
        }
        else {
            cache->value = NULL;
        }
    }
    return v;
}

/* LOAD_ATTR with a per-site cache: jj_runtime.h's JJ_GetAttrCached (a module's attribute is
   the one found in its dict while the dict's version tag stays), shared with the Cython path.
   The LLVM code reserves JJL_ATTR_CACHE_WORDS zeroed words per site. */
#define JJL_ATTR_CACHE_WORDS 5
_Static_assert(sizeof(JJ_AttrCache) == JJL_ATTR_CACHE_WORDS * 8, "JJ_AttrCache layout");
/* The LLVM code checks a module attribute's hit inline (llvm_lower.py's module_attr_cached). */
_Static_assert(offsetof(JJ_AttrCache, version) == 0 && offsetof(JJ_AttrCache, value) == 8,
               "JJ_AttrCache fields");

/* A call site's JJ_CallCache (jj_runtime.h): JJL_CALL_CACHE_WORDS zeroed words of the LLVM
   code's data, passed to JJ_VectorcallCached. */
#define JJL_CALL_CACHE_WORDS 6
_Static_assert(sizeof(JJ_CallCache) == JJL_CALL_CACHE_WORDS * 8, "JJ_CallCache layout");

static PyObject *JJL_GetAttrCached(PyObject *obj, PyObject *name, JJ_AttrCache *cache)
{
    return JJ_GetAttrCached(cache, obj, name);
}

/* Typed code's GlobalIs and ModuleAttrIs when their inline check misses (llvm_lower.py):
   as jj_runtime.h's JJ_GlobalIsSlow (with this file's global cache) and JJ_ModuleAttrIsSlow. */
static int JJL_GlobalIs(PyObject *globals, PyObject *builtins, PyObject *name,
                        jjl_global_cache *cache, PyObject *expected)
{
    if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins)) {
        return 0;
    }
    return JJ_FoundIs(JJL_LoadGlobalCached(globals, builtins, name, cache), expected);
}

static int JJL_ModuleAttrIs(PyObject *module, PyObject *name, JJ_AttrCache *cache,
                            PyObject *expected)
{
    return JJ_ModuleAttrIsSlow(cache, module, name, expected);
}

static int JJL_SetAttrFloat(PyObject *obj, PyObject *name, double value, JJ_AttrCache *cache)
{
    return JJ_SetAttrFloat(cache, obj, name, value);
}

static int JJL_SetAttrCached(PyObject *obj, PyObject *name, PyObject *value, JJ_AttrCache *cache)
{
    return JJ_SetAttrCached(cache, obj, name, value);
}

/* LOAD_METHOD with a per-site cache (LOAD_METHOD_NO_DICT): for an object whose type has no
   instance dict and the generic attribute lookup, the method found depends on the type
   alone, so while the type's version tag is unchanged (it changes whenever the type or a
   base is modified, and is never reused) the method descriptor found then is the answer,
   still held by the type's dict. Anything else is _PyObject_GetMethod. */
typedef struct {
    PyTypeObject *type;
    unsigned int version;
    PyObject *descr;  /* borrowed, see above */
} jjl_method_cache;
/* The LLVM code checks a hit inline (llvm_lower.py's MCACHE_*). */
_Static_assert(offsetof(jjl_method_cache, version) == 8 &&
               offsetof(jjl_method_cache, descr) == 16, "jjl_method_cache layout");

static int JJL_GetMethodCached(PyObject *obj, PyObject *name, PyObject **method,
                               jjl_method_cache *cache)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (cache->descr != NULL && cache->type == tp && tp->tp_version_tag == cache->version &&
        (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        *method = Py_NewRef(cache->descr);
        return 1;
    }
    *method = NULL;
    int found = _PyObject_GetMethod(obj, name, method);
    if (found == 1 && tp->tp_getattro == PyObject_GenericGetAttr && tp->tp_dictoffset == 0 &&
        (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) && PyUnicode_CheckExact(name)) {
        cache->type = tp;
        cache->version = tp->tp_version_tag;
        cache->descr = *method;
    }
    return found;
}

/* ------------------------------------------------------------------------------------------ */
/* Generators                                                                                 */
/*
 * A compiled generator function returns the same `justjit.generator` object as the Cython
 * path (jj_runtime.h's JJ_NewGenerator), which gets CPython's protocol right: frame states,
 * the order of send()/throw()/close()'s checks, finalization. Its `inner` object, which runs
 * the body, is here a JJL_GenFrame: the compiled code's register slots on the heap, and a
 * resume function made by the LLVM backend, a state machine:
 *
 *     PyObject *resume(consts, state, slots, sent, mode, int *resume_point, PyObject **yf)
 *
 * `*resume_point` is 0 before the first run, k while suspended at the k-th yield point, -1
 * once finished. The function returns the value it yields (leaving *resume_point > 0), the
 * value it returns (setting -1) or NULL with an exception (setting -1). On resumption,
 * `mode` says what happens at the suspended yield: 0 `sent` is the value sent in; 1 (only at
 * a `yield from`) the delegate finished with the value `sent`; 2 an exception is set and is
 * raised at the yield. While suspended in a `yield from`, *yf holds the delegate
 * (gi_yieldfrom), and throw()/close() go through it as genobject.c's _gen_throw does.
 *
 * Resuming pushes the generator's own handled-exception item on the thread's stack, as
 * gen_send_ex2 does, so sys.exc_info() and PUSH_EXC_INFO/POP_EXCEPT inside the body behave as
 * in CPython; an exception thrown in is chained to that item (_PyErr_ChainStackItem).
 */

typedef PyObject *(*jjl_resume_fn)(PyObject *consts, PyObject *state, PyObject **slots,
                                   PyObject *sent, int mode, int *resume_point,
                                   PyObject **yieldfrom);

typedef struct {
    PyObject_VAR_HEAD
    PyObject *consts;        /* the compiled function's constants (keeps its code alive) */
    PyObject *state;         /* (globals, builtins, closure) */
    jjl_resume_fn resume;
    int resume_point;        /* 0 not started, > 0 suspended, -1 finished */
    Py_ssize_t nlocals;      /* slots [0, nlocals) are locals and cells (JJL_ReleaseFrame) */
    PyObject *yieldfrom;     /* the delegate while suspended in a `yield from` */
    _PyErr_StackItem exc_state;
    PyObject *slots[1];
} JJL_GenFrame;

/* Internal to CPython 3.11 (pycore_pyerrors.h) but exported: what gen_send_ex2 calls when it
   resumes a generator with an exception. */
PyAPI_FUNC(void) _PyErr_ChainStackItem(_PyErr_StackItem *exc_info);

static PyTypeObject *jjl_genframe_type = NULL;
static PyObject *jjl_id_close = NULL;

/* Run the body one step: gen_send_ex2 after its checks. */
static PySendResult jjl_gen_run(JJL_GenFrame *f, PyObject *sent, int mode, PyObject **result)
{
    *result = NULL;
    if (f->resume_point < 0) {
        if (mode == 2) {
            return PYGEN_ERROR;  /* the exception stays set */
        }
        *result = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    PyThreadState *tstate = PyThreadState_GET();
    f->exc_state.previous_item = tstate->exc_info;
    tstate->exc_info = &f->exc_state;
    if (mode == 2) {
        _PyErr_ChainStackItem(NULL);
    }
    Py_INCREF(f);  /* the body may drop the last other reference */
    PyObject *r = f->resume(f->consts, f->state, f->slots, sent, mode, &f->resume_point,
                            &f->yieldfrom);
    tstate->exc_info = f->exc_state.previous_item;
    f->exc_state.previous_item = NULL;
    PySendResult status;
    if (r != NULL && f->resume_point > 0) {
        status = PYGEN_NEXT;
    }
    else {
        f->resume_point = -1;
        if (r == NULL) {
            if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
                _PyErr_FormatFromCause(PyExc_RuntimeError, "%s",
                                       "generator raised StopIteration");
            }
            status = PYGEN_ERROR;
        }
        else {
            status = PYGEN_RETURN;
        }
        /* generator can't be rerun: drop what the handled-exception item still holds */
        Py_CLEAR(f->exc_state.exc_value);
    }
    Py_DECREF(f);
    *result = r;
    return status;
}

/* am_send: `arg` is the value sent in, or a JJ_ThrowBox (throw()/close() into a suspended
   plain yield), whose exception is then raised at the yield. */
static PySendResult JJL_GenFrameSend(PyObject *self, PyObject *arg, PyObject **result)
{
    JJL_GenFrame *f = (JJL_GenFrame *)self;
    if (arg != NULL && Py_TYPE(arg) == jj_throwbox_type) {
        PyObject *value = JJ_Received(arg);  /* NULL: the exception is restored */
        if (value != NULL) {
            Py_DECREF(value);
            PyErr_SetString(PyExc_SystemError, "justjit: bad thrown exception");
        }
        return jjl_gen_run(f, NULL, 2, result);
    }
    return jjl_gen_run(f, arg != NULL ? arg : Py_None, 0, result);
}

static PyObject *JJL_GenFrameIterNext(PyObject *self)
{
    PyObject *result;
    PySendResult status = JJL_GenFrameSend(self, Py_None, &result);
    return JJ_GenMethodResult(status, result);
}

/* gen_close_iter */
static int jjl_close_iter(PyObject *yf)
{
    PyObject *retval = NULL;
    PyObject *meth;
    if (_PyObject_LookupAttr(yf, jjl_id_close, &meth) < 0) {
        PyErr_WriteUnraisable(yf);
    }
    if (meth) {
        retval = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        if (retval == NULL) {
            return -1;
        }
    }
    Py_XDECREF(retval);
    return 0;
}

/* throw(typ[, val[, tb]]): the wrapper calls it only while the body is suspended in a `yield
   from` (_gen_throw with close_on_genexit=1: the delegate first). */
static PyObject *JJL_GenFrameThrow(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    JJL_GenFrame *f = (JJL_GenFrame *)self;
    PyObject *result;
    PySendResult status;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expects 1 to 3 arguments");
        return NULL;
    }
    if (nargs == 1 && Py_TYPE(args[0]) == jj_throwbox_type) {
        /* The generator object's close() while delegating (JJ_GenClose): the delegate is
           closed; the box's exception is raised at the `yield from`. */
        JJ_ThrowBox *box = (JJ_ThrowBox *)args[0];
        Py_CLEAR(f->yieldfrom);
        PyErr_Restore(Py_NewRef(box->type), Py_XNewRef(box->value), Py_XNewRef(box->tb));
        status = jjl_gen_run(f, NULL, 2, &result);
        return JJ_GenMethodResult(status, result);
    }
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : NULL;
    PyObject *tb = nargs > 2 ? args[2] : NULL;
    PyObject *yf = f->yieldfrom;
    if (yf != NULL && f->resume_point > 0) {
        PyObject *ret;
        Py_INCREF(yf);
        if (PyErr_GivenExceptionMatches(typ, PyExc_GeneratorExit)) {
            int err = jjl_close_iter(yf);
            Py_DECREF(yf);
            if (err < 0) {
                Py_CLEAR(f->yieldfrom);
                status = jjl_gen_run(f, NULL, 2, &result);
                return JJ_GenMethodResult(status, result);
            }
            goto throw_here;
        }
        PyObject *meth;
        if (_PyObject_LookupAttr(yf, JJ_ID(throw), &meth) < 0) {
            Py_DECREF(yf);
            return NULL;
        }
        if (meth == NULL) {
            Py_DECREF(yf);
            goto throw_here;
        }
        ret = PyObject_CallFunctionObjArgs(meth, typ, val, tb, NULL);
        Py_DECREF(meth);
        Py_DECREF(yf);
        if (ret != NULL) {
            return ret;  /* the delegate yielded: still suspended in the `yield from` */
        }
        Py_CLEAR(f->yieldfrom);
        PyObject *value;
        if (_PyGen_FetchStopIterationValue(&value) == 0) {
            status = jjl_gen_run(f, value, 1, &result);
            Py_DECREF(value);
        }
        else {
            status = jjl_gen_run(f, NULL, 2, &result);
        }
        return JJ_GenMethodResult(status, result);
    }
throw_here:
    if (JJ_NormalizeThrown(&typ, &val, &tb) < 0) {
        return NULL;
    }
    Py_CLEAR(f->yieldfrom);
    PyErr_Restore(typ, val, tb);
    status = jjl_gen_run(f, NULL, 2, &result);
    return JJ_GenMethodResult(status, result);
}

static PyObject *JJL_GenFrameYieldFrom(PyObject *self, void *context)
{
    JJL_GenFrame *f = (JJL_GenFrame *)self;
    (void)context;
    return Py_NewRef(f->yieldfrom != NULL ? f->yieldfrom : Py_None);
}

static int JJL_GenFrameTraverse(PyObject *self, visitproc visit, void *arg)
{
    JJL_GenFrame *f = (JJL_GenFrame *)self;
    Py_VISIT(f->consts);
    Py_VISIT(f->state);
    Py_VISIT(f->yieldfrom);
    Py_VISIT(f->exc_state.exc_value);
    for (Py_ssize_t i = 0; i < Py_SIZE(f); i++) {
        Py_VISIT(f->slots[i]);
    }
    return 0;
}

static int JJL_GenFrameClear(PyObject *self)
{
    JJL_GenFrame *f = (JJL_GenFrame *)self;
    f->resume_point = -1;
    JJL_ReleaseFrame(f->slots, f->nlocals, Py_SIZE(f));
    Py_CLEAR(f->yieldfrom);
    Py_CLEAR(f->exc_state.exc_value);
    Py_CLEAR(f->state);
    return 0;
}

static void JJL_GenFrameDealloc(PyObject *self)
{
    JJL_GenFrame *f = (JJL_GenFrame *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    JJL_GenFrameClear(self);
    Py_CLEAR(f->consts);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef jjl_genframe_methods[] = {
    {"throw", (PyCFunction)(void (*)(void))JJL_GenFrameThrow, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef jjl_genframe_getset[] = {
    {"gi_yieldfrom", JJL_GenFrameYieldFrom, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot jjl_genframe_slots[] = {
    {Py_tp_dealloc, (void *)JJL_GenFrameDealloc},
    {Py_tp_traverse, (void *)JJL_GenFrameTraverse},
    {Py_tp_clear, (void *)JJL_GenFrameClear},
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)JJL_GenFrameIterNext},
    {Py_tp_methods, (void *)jjl_genframe_methods},
    {Py_tp_getset, (void *)jjl_genframe_getset},
    {Py_am_send, (void *)JJL_GenFrameSend},
    {0, NULL},
};

static PyType_Spec jjl_genframe_spec = {
    "justjit.llvm_generator_frame", offsetof(JJL_GenFrame, slots), sizeof(PyObject *),
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    jjl_genframe_slots,
};

/* What a compiled generator function's entry returns: the generator over a new frame of
   `nslots` slots whose first `nargs` hold the arguments. */
static PyObject *JJL_NewGenerator(PyObject *consts, PyObject *state, PyObject *const *args,
                                  Py_ssize_t nargs, Py_ssize_t nslots, Py_ssize_t nlocals,
                                  jjl_resume_fn resume, PyObject *code, PyObject *tbcode,
                                  PyObject *name, PyObject *qualname)
{
    if (jjl_genframe_type == NULL) {
        PyErr_SetString(PyExc_SystemError, "justjit: LLVM runtime not initialised");
        return NULL;
    }
    JJL_GenFrame *f = PyObject_GC_NewVar(JJL_GenFrame, jjl_genframe_type, nslots);
    if (f == NULL) {
        return NULL;
    }
    f->consts = Py_NewRef(consts);
    f->state = Py_NewRef(state);
    f->resume = resume;
    f->resume_point = 0;
    f->nlocals = nlocals;
    f->yieldfrom = NULL;
    f->exc_state.exc_value = NULL;
    f->exc_state.previous_item = NULL;
    for (Py_ssize_t i = 0; i < nslots; i++) {
        f->slots[i] = i < nargs ? Py_NewRef(args[i]) : NULL;
    }
    PyObject_GC_Track(f);
    PyObject *gen = JJ_NewGenerator((PyObject *)f, code, tbcode, state, name, qualname);
    Py_DECREF(f);
    return gen;
}

static int jjl_init_generators(void)
{
    if (jjl_id_close == NULL && (jjl_id_close = PyUnicode_InternFromString("close")) == NULL) {
        return -1;
    }
    if (jjl_genframe_type == NULL) {
        jjl_genframe_type = (PyTypeObject *)PyType_FromSpec(&jjl_genframe_spec);
        if (jjl_genframe_type == NULL) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The address table                                                                          */

typedef struct {
    const char *name;
    void *address;
} jjl_symbol;

#define JJL_SYM(f) {#f, (void *)(f)}

static const jjl_symbol jjl_symbols[] = {
    /* jj_runtime.h */
    JJL_SYM(JJ_PushExcInfo),
    JJL_SYM(JJ_PopExcept),
    JJL_SYM(JJ_GetExcState),
    JJL_SYM(JJ_AddTraceback),
    JJL_SYM(JJ_RaiseUnboundLocal),
    JJL_SYM(JJ_LoadGlobal),
    JJL_SYM(JJ_StoreGlobal),
    JJL_SYM(JJ_DeleteGlobal),
    JJL_SYM(JJ_NewCell),
    JJL_SYM(JJ_NewEmptyCell),
    JJL_SYM(JJ_FreeCell),
    JJL_SYM(JJ_LoadDeref),
    JJL_SYM(JJ_StoreDeref),
    JJL_SYM(JJ_DeleteDeref),
    JJL_SYM(JJ_Power),
    JJL_SYM(JJ_InPlacePower),
    JJL_SYM(JJ_Not),
    JJL_SYM(JJ_Contains),
    JJL_SYM(JJ_DelAttr),
    JJL_SYM(JJ_Call),
    JJL_SYM(JJ_VectorcallCached),
    JJL_SYM(JJ_Call1),
    JJL_SYM(JJ_Call2),
    JJL_SYM(JJ_CallEx),
    JJL_SYM(JJ_Warn),
    /* data: the address of the slot holding warnings.warn (compared with a call's callable) */
    {"jj_warnings_warn", (void *)&jj_warnings_warn},
    JJL_SYM(JJ_MakeFunction),
    JJL_SYM(JJ_LoadBuildClass),
    JJL_SYM(JJ_AssertionError),
    JJL_SYM(JJ_ImportName),
    JJL_SYM(JJ_ImportFrom),
    JJL_SYM(JJ_BuildSet),
    JJL_SYM(JJ_BuildMap),
    JJL_SYM(JJ_BuildConstKeyMap),
    JJL_SYM(JJ_BuildString),
    JJL_SYM(JJ_FormatValue),
    JJL_SYM(JJ_ListExtend),
    JJL_SYM(JJ_SetUpdate),
    JJL_SYM(JJ_DictUpdate),
    JJL_SYM(JJ_DictMerge),
    JJL_SYM(JJ_ForIter),
    JJL_SYM(JJ_GetYieldFromIter),
    JJL_SYM(JJ_UnpackSequence),
    JJL_SYM(JJ_UnpackEx),
    JJL_SYM(JJ_Raise),
    JJL_SYM(JJ_Reraise),
    JJL_SYM(JJ_CheckExcMatch),
    JJL_SYM(JJ_CheckEgMatch),
    JJL_SYM(JJ_PrepReraiseStar),
    JJL_SYM(JJ_BeforeWith),
    JJL_SYM(JJ_WithExceptStart),
    JJL_SYM(JJ_GetLen),
    JJL_SYM(JJ_SetItem),
    JJL_SYM(JJ_MatchMapping),
    JJL_SYM(JJ_MatchSequence),
    JJL_SYM(JJ_MatchKeys),
    JJL_SYM(JJ_MatchClass),
    /* this file */
    JJL_SYM(JJL_Catch),
    JJL_SYM(JJL_Unwind),
    JJL_SYM(JJL_IterError),
    JJL_SYM(JJL_NotIterator),
    JJL_SYM(JJL_ArgCountError),
    JJL_SYM(JJL_BadState),
    JJL_SYM(JJL_ChainNext),
    JJL_SYM(JJL_SelfReady),
    JJL_SYM(JJL_RecursionSet),
    JJL_SYM(JJL_ReleaseFrame),
    JJL_SYM(JJL_Add),
    JJL_SYM(JJL_InPlaceAdd),
    JJL_SYM(JJL_Subtract),
    JJL_SYM(JJL_InPlaceSubtract),
    JJL_SYM(JJL_Multiply),
    JJL_SYM(JJL_InPlaceMultiply),
    JJL_SYM(JJL_And),
    JJL_SYM(JJL_InPlaceAnd),
    JJL_SYM(JJL_Or),
    JJL_SYM(JJL_InPlaceOr),
    JJL_SYM(JJL_Xor),
    JJL_SYM(JJL_InPlaceXor),
    JJL_SYM(JJL_FloorDivide),
    JJL_SYM(JJL_InPlaceFloorDivide),
    JJL_SYM(JJL_Remainder),
    JJL_SYM(JJL_InPlaceRemainder),
    JJL_SYM(JJL_TrueDivide),
    JJL_SYM(JJL_InPlaceTrueDivide),
    JJL_SYM(JJL_RichCompare),
    JJL_SYM(JJL_GetItem),
    JJL_SYM(JJL_LoadGlobalCached),
    JJL_SYM(JJL_NewGenerator),
    JJL_SYM(JJL_GetMethodCached),
    JJL_SYM(JJL_GetAttrCached),
    JJL_SYM(JJL_SetAttrCached),
    JJL_SYM(JJL_SetAttrFloat),
    JJL_SYM(JJL_GlobalIs),
    JJL_SYM(JJL_ModuleAttrIs),
    JJL_SYM(JJ_HandlePending),
    JJL_SYM(JJ_LeafReady),
    /* jj_typed.h: ** (llvm_lower.py's IntArith "**" and FloatPow) */
    JJL_SYM(JJ_IntPowOrMin),
    JJL_SYM(JJ_FloatPowOrNan),
    /* jj_numpy.h (the rest of the numpy typed ops is inline: llvm_lower.py, numpy section) */
    JJL_SYM(JJ_GuardArray_int32),
    JJL_SYM(JJ_GuardArray_int64),
    JJL_SYM(JJ_GuardArray_float32),
    JJL_SYM(JJ_GuardArray_float64),
    JJL_SYM(JJ_BoxNumpy_int32),
    JJL_SYM(JJ_BoxNumpy_int64),
    JJL_SYM(JJ_BoxNumpy_float32),
    JJL_SYM(JJ_BoxNumpy_float64),
    JJL_SYM(JJ_ArrayStore_int32_trunc),
    JJL_SYM(JJ_ArrayStore_int64_trunc),
    JJL_SYM(JJ_ArrayStore_float32_round),
    {NULL, NULL},
};

static PyObject *jjl_addresses(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    PyObject *table = PyDict_New();
    if (table == NULL) {
        return NULL;
    }
    for (const jjl_symbol *s = jjl_symbols; s->name != NULL; s++) {
        PyObject *address = PyLong_FromVoidPtr(s->address);
        if (address == NULL || PyDict_SetItemString(table, s->name, address) < 0) {
            Py_XDECREF(address);
            Py_DECREF(table);
            return NULL;
        }
        Py_DECREF(address);
    }
    return table;
}

static PyMethodDef jjl_methods[] = {
    {"addresses", jjl_addresses, METH_NOARGS,
     "addresses() -> {helper name: address} of every runtime helper compiled code may call."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef jjl_module = {
    PyModuleDef_HEAD_INIT,
    "_jj_rt",
    "Runtime helpers of JustJIT's LLVM backend (see justjit/backends/llvm_runtime.py).",
    -1,
    jjl_methods,
};

PyMODINIT_FUNC PyInit__jj_rt(void)
{
    if (JJ_InitRuntime() < 0 || JJ_InitGenerators() < 0 || jjl_init_generators() < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&jjl_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SOURCE_DIGEST", JJ_RT_SOURCE_DIGEST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
