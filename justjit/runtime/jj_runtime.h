/* jj_runtime.h - the C helpers that JustJIT's generated Cython modules call.
 *
 * One helper per IR operation whose semantics are more than a single C-API call. Each one
 * reproduces what CPython 3.11's ceval.c does for the corresponding bytecode: the same C-API
 * calls in the same order, the same error types and messages. Object-returning helpers return a
 * new reference, or NULL with an exception set; int-returning helpers return -1 with an
 * exception set (the .pxd declares them `except -1`).
 *
 * Four groups need explaining:
 *
 * 1. Handled-exception state (sys.exc_info()). CPython keeps a stack of "exception being
 *    handled" items: one per running generator plus the thread's base item; PUSH_EXC_INFO and
 *    POP_EXCEPT read and write the *current* item (tstate->exc_info), while
 *    sys.exc_info() reports the topmost non-empty one. JJ_PushExcInfo / JJ_PopExcept do exactly
 *    that. Cython's own try/except (which the generated code uses only to *catch*, never to
 *    handle) saves the topmost value on entry and writes it back into the current item when an
 *    except clause ends; JJ_ExcMark / JJ_ExcUnmark undo that one asymmetry (see the pyx
 *    emitter).
 *
 * 2. Tracebacks. An exception leaving compiled code must show the original function, file and
 *    line. The generated code tracks the current source line in a C int and, where CPython
 *    would add a traceback entry for the frame (an exception arriving at a handler or leaving
 *    the function, except after a re-raise), calls JJ_Caught, which prepends an entry whose
 *    frame has a code object named like the original function. Cython's own traceback
 *    entries (pointing into the generated .pyx) are suppressed: this header redefines
 *    PyTraceBack_Here, the only call Cython's __Pyx_AddTraceback makes to add one, for the
 *    rest of the translation unit (define JJ_KEEP_CYTHON_TRACEBACKS to keep them, e.g. when
 *    debugging the generated code).
 *
 * 3. Fast paths and caches (the "Fast paths" section): what 3.11's specializing interpreter
 *    does for common operand types (exact ints, floats, lists, dicts, method calls, global
 *    lookups), with the same results and errors: anything unusual takes the generic call.
 *    LOAD_GLOBAL, attribute and call sites keep per-site caches keyed by dict and type version
 *    tags, so they stay exact whatever changes. A call to a jitted function goes straight to
 *    the compiled code (no trampoline frame, no argument parsing), with the recursion check
 *    that frame would have made.
 *
 * 4. Private CPython functions. Where ceval uses a function that 3.11 exports
 *    (_PyDict_MergeEx, _PyList_Extend, _PySet_Update, _PyObject_FunctionStr, ...) we call it;
 *    where it is internal (_PyExc_PrepReraiseStar, _PyModuleSpec_IsInitializing, ...) the logic
 *    is re-implemented here with the same observable behaviour.
 */
#ifndef JJ_RUNTIME_H
#define JJ_RUNTIME_H

#include <Python.h>
#include <frameobject.h>
#include <structmember.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "jj_runtime.h reproduces CPython 3.11 semantics; this is another version"
#endif

#if defined(__GNUC__)
#define JJ_UNUSED __attribute__((unused))
#else
#define JJ_UNUSED
#endif
#define JJ_FUNC static JJ_UNUSED

/* Hot paths of generated code: JJ_INLINE is inlined even in very large functions; what they
   fall back to is JJ_NOINLINE, to keep each inlined copy small. */
#if defined(__GNUC__)
#define JJ_INLINE static inline __attribute__((always_inline)) JJ_UNUSED
#define JJ_NOINLINE static __attribute__((noinline)) JJ_UNUSED
#define JJ_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define JJ_INLINE static inline JJ_UNUSED
#define JJ_NOINLINE static JJ_UNUSED
#define JJ_LIKELY(x) (x)
#endif

/* ------------------------------------------------------------------------------------------ */
/* Small utilities                                                                             */

#define JJ_STACK_ARGS 8

/* The non-NULL-terminated argument vector of a varargs helper: the caller's buffer when it is
   big enough, else a heap block (freed with JJ_FreeArgs). `buf` has room for `JJ_STACK_ARGS + 1`
   pointers; slot 0 stays free so that PY_VECTORCALL_ARGUMENTS_OFFSET may be used. */
JJ_FUNC PyObject **JJ_AllocArgs(PyObject **buf, Py_ssize_t n)
{
    if (n <= JJ_STACK_ARGS) {
        return buf;
    }
    PyObject **p = (PyObject **)PyMem_Malloc((size_t)(n + 1) * sizeof(PyObject *));
    if (p == NULL) {
        PyErr_NoMemory();
    }
    return p;
}

JJ_FUNC void JJ_FreeArgs(PyObject **buf, PyObject **p)
{
    if (p != buf && p != NULL) {
        PyMem_Free(p);
    }
}

/* Interned attribute names, made once by JJ_InitRuntime (called by every generated module's
   __jj_init before any compiled code runs). JJ_ID(x) is a borrowed reference. */
static PyObject *jj_id___build_class__ = NULL;
static PyObject *jj_id___enter__ = NULL;
static PyObject *jj_id___exit__ = NULL;
static PyObject *jj_id___import__ = NULL;
static PyObject *jj_id___name__ = NULL;
static PyObject *jj_id___notes__ = NULL;
static PyObject *jj_id___spec__ = NULL;
static PyObject *jj_id__initializing = NULL;
static PyObject *jj_id_get = NULL;
static PyObject *jj_id_gi_yieldfrom = NULL;
static PyObject *jj_id_throw = NULL;
static PyObject *jj_id_append = NULL;
#define JJ_ID(name) (jj_id_##name)

/* The method descriptors dict.get and list.append (borrowed from their static types), which
   calls recognize (see JJ_VectorcallCached). */
static PyObject *jj_dict_get = NULL;
static PyObject *jj_list_append = NULL;

static void JJ_InitIterators(void);
static void JJ_InitWarnings(void);

JJ_FUNC int JJ_InitRuntime(void)
{
#define JJ_INTERN(name) \
    if (jj_id_##name == NULL && (jj_id_##name = PyUnicode_InternFromString(#name)) == NULL) \
        return -1;
    JJ_INTERN(__build_class__)
    JJ_INTERN(__enter__)
    JJ_INTERN(__exit__)
    JJ_INTERN(__import__)
    JJ_INTERN(__name__)
    JJ_INTERN(__notes__)
    JJ_INTERN(__spec__)
    JJ_INTERN(_initializing)
    JJ_INTERN(get)
    JJ_INTERN(gi_yieldfrom)
    JJ_INTERN(throw)
    JJ_INTERN(append)
#undef JJ_INTERN
    jj_dict_get = _PyType_Lookup(&PyDict_Type, JJ_ID(get));
    jj_list_append = _PyType_Lookup(&PyList_Type, JJ_ID(append));
    JJ_InitIterators();
    JJ_InitWarnings();
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Handled-exception state                                                                    */

/* PUSH_EXC_INFO: prev = the current item's exception (None if empty); `exc` becomes it. */
JJ_FUNC PyObject *JJ_PushExcInfo(PyObject *exc)
{
    _PyErr_StackItem *info = PyThreadState_GET()->exc_info;
    PyObject *prev = info->exc_value;
    if (prev == NULL) {
        prev = Py_None;
        Py_INCREF(prev);
    }
    /* The item's reference moves to the returned `prev`. */
    Py_INCREF(exc);
    info->exc_value = exc;
    return prev;
}

/* POP_EXCEPT: the current item's exception becomes `prev` (stored as is, None included). */
JJ_FUNC void JJ_PopExcept(PyObject *prev)
{
    _PyErr_StackItem *info = PyThreadState_GET()->exc_info;
    PyObject *old = info->exc_value;
    Py_INCREF(prev);
    info->exc_value = prev;
    Py_XDECREF(old);
}

/* The current item's exception (None if empty): saved around a generator's yield, because
   Cython clears the generator's exception state when it suspends outside one of its own
   except clauses, while CPython keeps it. Restored with JJ_PopExcept. */
JJ_FUNC PyObject *JJ_GetExcState(void)
{
    PyObject *value = PyThreadState_GET()->exc_info->exc_value;
    if (value == NULL) {
        value = Py_None;
    }
    Py_INCREF(value);
    return value;
}

/* Before a Cython try statement: 0 if the current item holds an exception, 1 if it is NULL,
   2 if it is None. */
JJ_FUNC int JJ_ExcMark(void)
{
    PyObject *value = PyThreadState_GET()->exc_info->exc_value;
    if (value == NULL) {
        return 1;
    }
    return value == Py_None ? 2 : 0;
}

/* After a Cython except clause ended: Cython wrote the *topmost* exception (saved when the try
   began) into the *current* item. Put back what the current item held when the exception was
   raised: mark 1 or 2 (it was empty at the try, nothing changed it since): empty it again;
   mark 3 (an op inside the try changed it): `saved`, the value after that op; mark 0: the
   value Cython wrote back is the right one. */
JJ_FUNC void JJ_ExcUnmark(int mark, PyObject *saved)
{
    if (mark == 0) {
        return;
    }
    _PyErr_StackItem *info = PyThreadState_GET()->exc_info;
    PyObject *old = info->exc_value;
    if (mark == 3) {
        Py_INCREF(saved);
        info->exc_value = saved;
    }
    else if (mark == 2) {
        Py_INCREF(Py_None);
        info->exc_value = Py_None;
    }
    else {
        info->exc_value = NULL;
    }
    Py_XDECREF(old);
}

/* An exception thrown into a generator suspended at a yield (throw(), close()) is chained by
   CPython to the generator's handled exception (_PyErr_ChainStackItem, with the cycle checks
   of _PyErr_SetObject). Cython clears that state while the generator is suspended, so the
   generated code saves it (`saved`) and calls this where it catches the thrown exception. */
JJ_FUNC void JJ_ChainThrown(PyObject *exc, PyObject *saved)
{
    if (saved == NULL || saved == Py_None || saved == exc || !PyExceptionInstance_Check(exc)) {
        return;
    }
    _PyErr_StackItem *info = PyThreadState_GET()->exc_info;
    PyObject *current = info->exc_value;
    PyObject *pending_type, *pending_value, *pending_tb;
    PyErr_Fetch(&pending_type, &pending_value, &pending_tb);
    info->exc_value = saved;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);  /* sets exc.__context__ */
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    info->exc_value = current;
    PyErr_Restore(pending_type, pending_value, pending_tb);
}

/* ------------------------------------------------------------------------------------------ */
/* Tracebacks                                                                                 */

/* Prepend a traceback entry (frame with code `tbcode` and globals `globals`, line `line`) to
   exc.__traceback__. tb_lasti is -1, so `traceback` reports tb_lineno and no column range. */
JJ_FUNC int JJ_AddTraceback(PyObject *exc, PyObject *tbcode, PyObject *globals, int line)
{
    if (!PyExceptionInstance_Check(exc) || !PyCode_Check(tbcode) || !PyDict_Check(globals)) {
        return 0;
    }
    PyFrameObject *frame = PyFrame_New(PyThreadState_GET(), (PyCodeObject *)tbcode, globals,
                                       NULL);
    if (frame == NULL) {
        return -1;
    }
    PyObject *next = PyException_GetTraceback(exc);
    if (next == NULL) {
        next = Py_None;
        Py_INCREF(next);
    }
    PyObject *tb = PyObject_CallFunction((PyObject *)&PyTraceBack_Type, "OOii", next,
                                         (PyObject *)frame, -1, line);
    Py_DECREF(next);
    Py_DECREF(frame);
    if (tb == NULL) {
        return -1;
    }
    int res = PyException_SetTraceback(exc, tb);
    Py_DECREF(tb);
    return res;
}

/* Where CPython's frame sees an exception arrive at a handler or leave the function.
   state[0] is the function's globals; L[0] is the current source line; L[1] is 1 right after a
   re-raise (RERAISE or a bare `raise`), which adds no entry. Returns a new reference to `exc`.
   Failing to add the entry (out of memory) never changes what the program does. */
JJ_FUNC PyObject *JJ_Caught(PyObject *exc, PyObject *tbcode, PyObject *state, int *L)
{
    if (L[1]) {
        L[1] = 0;
    }
    else {
        PyObject *globals = (PyTuple_Check(state) && PyTuple_GET_SIZE(state) > 0)
                                ? PyTuple_GET_ITEM(state, 0) : Py_None;
        if (JJ_AddTraceback(exc, tbcode, globals, L[0]) < 0) {
            PyErr_Clear();
        }
    }
    Py_INCREF(exc);
    return exc;
}

/* ------------------------------------------------------------------------------------------ */
/* Locals, globals, cells                                                                     */

/* Called when a local is unbound: always fails. */
JJ_FUNC int JJ_RaiseUnboundLocal(PyObject *name)
{
    PyErr_Format(PyExc_UnboundLocalError,
                 "cannot access local variable '%U' where it is not associated with a value",
                 name);
    return -1;
}

/* format_exc_check_arg for NameError: the message, then exc.name = name. */
JJ_FUNC void JJ_SetNameError(const char *format, PyObject *name)
{
    PyErr_Format(PyExc_NameError, format, name);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && PyErr_GivenExceptionMatches(value, PyExc_NameError)) {
        PyObject *current = PyObject_GetAttrString(value, "name");
        if (current == NULL) {
            PyErr_Clear();
        }
        if (current == NULL || current == Py_None) {
            if (PyObject_SetAttrString(value, "name", name) < 0) {
                PyErr_Clear();
            }
        }
        Py_XDECREF(current);
    }
    PyErr_Restore(type, value, tb);
}

#define JJ_NAME_ERROR_MSG "name '%U' is not defined"

/* LOAD_GLOBAL: globals, then builtins. */
JJ_FUNC PyObject *JJ_LoadGlobal(PyObject *globals, PyObject *builtins, PyObject *name)
{
    PyObject *v;
    if (PyDict_CheckExact(globals) && PyDict_CheckExact(builtins)) {
        v = PyDict_GetItemWithError(globals, name);
        if (v == NULL && !PyErr_Occurred()) {
            v = PyDict_GetItemWithError(builtins, name);
            if (v == NULL && !PyErr_Occurred()) {
                JJ_SetNameError(JJ_NAME_ERROR_MSG, name);
            }
        }
        Py_XINCREF(v);
        return v;
    }
    v = PyObject_GetItem(globals, name);
    if (v != NULL) {
        return v;
    }
    if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
        return NULL;
    }
    PyErr_Clear();
    v = PyObject_GetItem(builtins, name);
    if (v == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        JJ_SetNameError(JJ_NAME_ERROR_MSG, name);
    }
    return v;
}

/* STORE_GLOBAL */
JJ_FUNC int JJ_StoreGlobal(PyObject *globals, PyObject *name, PyObject *value)
{
    return PyDict_SetItem(globals, name, value);
}

/* DELETE_GLOBAL */
JJ_FUNC int JJ_DeleteGlobal(PyObject *globals, PyObject *name)
{
    if (PyDict_DelItem(globals, name) != 0) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            JJ_SetNameError(JJ_NAME_ERROR_MSG, name);
        }
        return -1;
    }
    return 0;
}

/* MAKE_CELL */
JJ_FUNC PyObject *JJ_NewCell(PyObject *initial)
{
    return PyCell_New(initial);
}

JJ_FUNC PyObject *JJ_NewEmptyCell(void)
{
    return PyCell_New(NULL);
}

/* COPY_FREE_VARS: closure[index] */
JJ_FUNC PyObject *JJ_FreeCell(PyObject *closure, Py_ssize_t index)
{
    if (!PyTuple_Check(closure) || index >= PyTuple_GET_SIZE(closure)) {
        PyErr_SetString(PyExc_SystemError, "justjit: the closure does not match the code");
        return NULL;
    }
    PyObject *cell = PyTuple_GET_ITEM(closure, index);
    Py_INCREF(cell);
    return cell;
}

/* format_exc_unbound */
JJ_FUNC void JJ_RaiseUnboundDeref(PyObject *name, int is_free)
{
    if (PyErr_Occurred()) {
        return;
    }
    if (is_free) {
        JJ_SetNameError("cannot access free variable '%U' where it is not associated with a "
                        "value in enclosing scope", name);
    }
    else {
        JJ_RaiseUnboundLocal(name);
    }
}

/* LOAD_DEREF */
JJ_FUNC PyObject *JJ_LoadDeref(PyObject *cell, PyObject *name, int is_free)
{
    PyObject *value = PyCell_GET(cell);
    if (value == NULL) {
        JJ_RaiseUnboundDeref(name, is_free);
        return NULL;
    }
    Py_INCREF(value);
    return value;
}

/* STORE_DEREF */
JJ_FUNC int JJ_StoreDeref(PyObject *cell, PyObject *value)
{
    PyObject *old = PyCell_GET(cell);
    Py_INCREF(value);
    PyCell_SET(cell, value);
    Py_XDECREF(old);
    return 0;
}

/* DELETE_DEREF */
JJ_FUNC int JJ_DeleteDeref(PyObject *cell, PyObject *name, int is_free)
{
    PyObject *old = PyCell_GET(cell);
    if (old != NULL) {
        PyCell_SET(cell, NULL);
        Py_DECREF(old);
        return 0;
    }
    JJ_RaiseUnboundDeref(name, is_free);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Operators                                                                                  */

JJ_FUNC PyObject *JJ_Power(PyObject *a, PyObject *b)
{
    return PyNumber_Power(a, b, Py_None);
}

JJ_FUNC PyObject *JJ_InPlacePower(PyObject *a, PyObject *b)
{
    return PyNumber_InPlacePower(a, b, Py_None);
}

/* UNARY_NOT */
JJ_FUNC PyObject *JJ_Not(PyObject *value)
{
    int err = PyObject_IsTrue(value);
    if (err < 0) {
        return NULL;
    }
    PyObject *res = err ? Py_False : Py_True;
    Py_INCREF(res);
    return res;
}

/* CONTAINS_OP */
JJ_FUNC PyObject *JJ_Contains(PyObject *item, PyObject *container, int negate)
{
    int res = PySequence_Contains(container, item);
    if (res < 0) {
        return NULL;
    }
    PyObject *b = (res ^ negate) ? Py_True : Py_False;
    Py_INCREF(b);
    return b;
}

/* DELETE_ATTR */
JJ_FUNC int JJ_DelAttr(PyObject *obj, PyObject *name)
{
    return PyObject_SetAttr(obj, name, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Calls and functions                                                                        */

/* warnings.warn called from compiled code.
 *
 * CPython's warnings.warn (the C function _warnings.warn) finds where a warning comes from by
 * walking the interpreter frames from the current one: stacklevel 1 is the frame that called
 * warn, 2 that frame's caller, and so on (setup_context in Python/_warnings.c; frames whose
 * file name contains both "importlib" and "_bootstrap" are skipped, unless the walk starts in
 * one). Compiled code has no frame of its own: the current frame is the trampoline that
 * entered it (its line is the `def` line, its globals a private dict), or the dispatcher's on
 * a first call. So a call from compiled code whose callable *is* _warnings.warn is done here
 * instead, as warn does it, with the compiled function in the place of its missing frame:
 *  - the arguments are parsed by CPython's own clinic parser (the same TypeErrors), then the
 *    category is checked (get_category);
 *  - level 1 is the compiled function: its file (tbcode), its current line (L[0]) and its
 *    globals (state[0]), which give the module name and the __warningregistry__;
 *  - the levels above are the interpreter frames above it, less those that stand for it: the
 *    dispatcher's (justjit.dispatcher, justjit.autojit) and then the trampoline of the same
 *    function (same file, name and first line). A @jit trampoline met further up stands for
 *    its own function: its globals are taken from its state;
 *  - then _warnings.warn_explicit(message, category, filename, lineno, module, registry),
 *    which is what warn does once it has its context.
 * What this does not see: a compiled function that called this one without a frame (a call
 * between compiled functions, or a compiled generator driven by compiled code) is missing
 * from the walk, which then goes on with the interpreter frame above it; and warnings issued
 * by other code on behalf of compiled code (PyErr_WarnEx in a C function, a Python function
 * warning with stacklevel=2) still find the trampoline frame.
 */
static PyObject *jj_warnings_warn = NULL;          /* _warnings.warn (strong reference) */
static PyObject *jj_warnings_warn_explicit = NULL; /* _warnings.warn_explicit */

/* Called by JJ_InitRuntime. Without _warnings (never in CPython) calls are not recognized. */
JJ_FUNC void JJ_InitWarnings(void)
{
    if (jj_warnings_warn != NULL) {
        return;
    }
    PyObject *module = PyImport_ImportModule("_warnings");
    PyObject *warn = module ? PyObject_GetAttrString(module, "warn") : NULL;
    PyObject *warn_explicit = warn ? PyObject_GetAttrString(module, "warn_explicit") : NULL;
    Py_XDECREF(module);
    if (warn_explicit == NULL) {
        Py_XDECREF(warn);
        PyErr_Clear();
        return;
    }
    jj_warnings_warn_explicit = warn_explicit;
    jj_warnings_warn = warn;
}

/* is_internal_frame: a file name containing "importlib" and "_bootstrap". */
JJ_FUNC int JJ_IsInternalFilename(PyObject *filename)
{
    static PyObject *importlib = NULL, *bootstrap = NULL;
    if (filename == NULL || !PyUnicode_Check(filename)) {
        return 0;
    }
    if (importlib == NULL) {
        importlib = PyUnicode_InternFromString("importlib");
        bootstrap = importlib ? PyUnicode_InternFromString("_bootstrap") : NULL;
        if (bootstrap == NULL) {
            Py_CLEAR(importlib);
            PyErr_Clear();
            return 0;
        }
    }
    int found = PyUnicode_Contains(filename, importlib);
    if (found > 0) {
        found = PyUnicode_Contains(filename, bootstrap);
    }
    if (found < 0) {
        PyErr_Clear();
        return 0;
    }
    return found;
}

JJ_FUNC int JJ_FrameIsInternal(PyFrameObject *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    int internal = JJ_IsInternalFilename(code->co_filename);
    Py_DECREF(code);
    return internal;
}

/* The frame's caller (new reference, or NULL); releases `frame`. */
JJ_FUNC PyFrameObject *JJ_FrameBack(PyFrameObject *frame)
{
    PyFrameObject *back = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    return back;
}

/* A frame of the dispatcher's own code (justjit.dispatcher or justjit.autojit), which sits
   between a trampoline and the compiled code on a first call. */
JJ_FUNC int JJ_FrameIsDispatcher(PyFrameObject *frame)
{
    static const char *const modules[] = {"justjit.dispatcher", "justjit.autojit"};
    PyObject *globals = PyFrame_GetGlobals(frame);
    int found = 0;
    for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]) && !found; i++) {
        PyObject *name = PyUnicode_FromString(modules[i]);
        PyObject *module = name ? PyImport_GetModule(name) : NULL;
        Py_XDECREF(name);
        if (module != NULL && PyModule_Check(module)) {
            found = PyModule_GetDict(module) == globals;
        }
        Py_XDECREF(module);
    }
    PyErr_Clear();
    Py_DECREF(globals);
    return found;
}

/* The frame is a trampoline of the function compiled with traceback code `tbcode`: a frame
   of a code object with the same file, name, qualified name and first line. */
JJ_FUNC int JJ_FrameStandsFor(PyFrameObject *frame, PyObject *tbcode)
{
    if (!PyCode_Check(tbcode)) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyCodeObject *tb = (PyCodeObject *)tbcode;
    int same = code->co_firstlineno == tb->co_firstlineno;
    PyObject *pairs[3][2] = {{code->co_filename, tb->co_filename},
                             {code->co_name, tb->co_name},
                             {code->co_qualname, tb->co_qualname}};
    for (int i = 0; i < 3 && same; i++) {
        same = PyObject_RichCompareBool(pairs[i][0], pairs[i][1], Py_EQ) == 1;
    }
    PyErr_Clear();
    Py_DECREF(code);
    return same;
}

/* `name` is a str starting with `prefix` (no exception). */
JJ_FUNC int JJ_HasPrefix(PyObject *name, const char *prefix)
{
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (text == NULL) {
        PyErr_Clear();
        return 0;
    }
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* The globals of the code running in `frame` (new reference): for a @jit trampoline
   (justjit/dispatcher.py), whose two names (_justjit_target..., _justjit_state...) are read
   from a private dict, the function's own globals, state[0]. */
JJ_FUNC PyObject *JJ_FrameGlobals(PyFrameObject *frame)
{
    PyObject *globals = PyFrame_GetGlobals(frame);
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *names = code->co_names;
    if (PyDict_Check(globals) && PyTuple_Check(names) && PyTuple_GET_SIZE(names) == 2 &&
        JJ_HasPrefix(PyTuple_GET_ITEM(names, 0), "_justjit_target") &&
        JJ_HasPrefix(PyTuple_GET_ITEM(names, 1), "_justjit_state")) {
        PyObject *state = PyDict_GetItemWithError(globals, PyTuple_GET_ITEM(names, 1));
        if (state != NULL && PyTuple_Check(state) && PyTuple_GET_SIZE(state) > 0 &&
            PyDict_Check(PyTuple_GET_ITEM(state, 0))) {
            Py_SETREF(globals, Py_NewRef(PyTuple_GET_ITEM(state, 0)));
        }
        PyErr_Clear();
    }
    Py_DECREF(code);
    return globals;
}

/* The first interpreter frame above a compiled function (new reference, or NULL): the
   current frame, past the dispatcher's frames and the function's own trampoline. */
JJ_FUNC PyFrameObject *JJ_FrameAbove(PyObject *tbcode)
{
    PyFrameObject *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    while (frame != NULL && JJ_FrameIsDispatcher(frame)) {
        frame = JJ_FrameBack(frame);
    }
    if (frame != NULL && JJ_FrameStandsFor(frame, tbcode)) {
        frame = JJ_FrameBack(frame);
    }
    return frame;
}

/* get_category: the class of a Warning instance `message`, else `category` (None or absent:
   UserWarning), which must be a Warning subclass. Borrowed reference, or NULL. */
JJ_FUNC PyObject *JJ_WarningCategory(PyObject *message, PyObject *category)
{
    int is_warning = PyObject_IsInstance(message, PyExc_Warning);
    if (is_warning < 0) {
        return NULL;
    }
    if (is_warning) {
        category = (PyObject *)Py_TYPE(message);
    }
    else if (category == NULL || category == Py_None) {
        category = PyExc_UserWarning;
    }
    int ok = PyObject_IsSubclass(category, PyExc_Warning);
    if (ok != 1) {  /* (-1: PyErr_Format below replaces the error, as in CPython) */
        PyErr_Format(PyExc_TypeError, "category must be a Warning subclass, not '%s'",
                     Py_TYPE(category)->tp_name);
        return NULL;
    }
    return category;
}

/* warnings.warn(message, category=None, stacklevel=1, source=None) called by the compiled
   function with globals state[0], traceback code `tbcode` and current line L[0]; the call's
   arguments as a vectorcall's (kwnames a tuple or NULL). */
JJ_NOINLINE PyObject *JJ_Warn(PyObject *state, PyObject *tbcode, int *L, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const keywords[] = {"message", "category", "stacklevel", "source", NULL};
    static _PyArg_Parser parser = {NULL, keywords, "warn", 0};
    PyObject *globals = (PyTuple_Check(state) && PyTuple_GET_SIZE(state) > 0)
                            ? PyTuple_GET_ITEM(state, 0) : NULL;
    if (globals == NULL || !PyDict_Check(globals) || !PyCode_Check(tbcode)) {
        return PyObject_Vectorcall(jj_warnings_warn, args, (size_t)nargs, kwnames);
    }
    PyObject *argsbuf[4];
    Py_ssize_t noptargs = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0) - 1;
    PyObject *const *a = _PyArg_UnpackKeywords(args, nargs, NULL, kwnames, &parser, 1, 4, 0,
                                               argsbuf);
    if (a == NULL) {
        return NULL;
    }
    PyObject *message = a[0], *category = Py_None, *source = Py_None;
    Py_ssize_t stacklevel = 1;
    if (noptargs > 0 && a[1] != NULL) {
        category = a[1];
        noptargs--;
    }
    if (noptargs > 0 && a[2] != NULL) {
        PyObject *index = PyNumber_Index(a[2]);
        stacklevel = index != NULL ? PyLong_AsSsize_t(index) : -1;
        Py_XDECREF(index);
        if (stacklevel == -1 && PyErr_Occurred()) {
            return NULL;
        }
        noptargs--;
    }
    if (noptargs > 0) {
        source = a[3];
    }
    category = JJ_WarningCategory(message, category);
    if (category == NULL) {
        return NULL;
    }
    /* setup_context */
    PyObject *filename;
    int lineno;
    if (stacklevel <= 1) {
        Py_INCREF(globals);
        filename = Py_NewRef(((PyCodeObject *)tbcode)->co_filename);
        lineno = L[0];
    }
    else {
        int raw = JJ_IsInternalFilename(((PyCodeObject *)tbcode)->co_filename);
        PyFrameObject *frame = JJ_FrameAbove(tbcode);
        for (Py_ssize_t level = 1; level < stacklevel && frame != NULL; level++) {
            if (level > 1) {
                frame = JJ_FrameBack(frame);
            }
            /* (the dispatcher's frames, on a first call further up, are never a level) */
            while (frame != NULL &&
                   ((!raw && JJ_FrameIsInternal(frame)) || JJ_FrameIsDispatcher(frame))) {
                frame = JJ_FrameBack(frame);
            }
        }
        if (frame == NULL) {
            PyObject *sys = PyImport_ImportModule("sys");
            globals = sys != NULL ? Py_NewRef(PyModule_GetDict(sys)) : NULL;
            Py_XDECREF(sys);
            if (globals == NULL) {
                return NULL;
            }
            filename = PyUnicode_FromString("sys");
            lineno = 1;
        }
        else {
            PyCodeObject *code = PyFrame_GetCode(frame);
            filename = Py_NewRef(code->co_filename);
            Py_DECREF(code);
            lineno = PyFrame_GetLineNumber(frame);
            globals = JJ_FrameGlobals(frame);
            Py_DECREF(frame);
        }
        if (filename == NULL) {
            Py_DECREF(globals);
            return NULL;
        }
    }
    PyObject *result = NULL, *module = NULL, *line = NULL;
    PyObject *registry = PyDict_GetItemString(globals, "__warningregistry__");
    if (registry != NULL) {
        Py_INCREF(registry);
    }
    else {
        registry = PyDict_New();
        if (registry == NULL || PyDict_SetItemString(globals, "__warningregistry__",
                                                     registry) < 0) {
            goto done;
        }
    }
    module = PyDict_GetItemWithError(globals, JJ_ID(__name__));
    if (module == Py_None || (module != NULL && PyUnicode_Check(module))) {
        Py_INCREF(module);
    }
    else if (PyErr_Occurred()) {
        module = NULL;
        goto done;
    }
    else {
        module = PyUnicode_FromString("<string>");
        if (module == NULL) {
            goto done;
        }
    }
    line = PyLong_FromLong(lineno);
    if (line != NULL) {
        PyObject *call[8] = {message, category, filename, line, module, registry, Py_None,
                             source};
        result = PyObject_Vectorcall(jj_warnings_warn_explicit, call, 8, NULL);
    }
done:
    Py_XDECREF(line);
    Py_XDECREF(module);
    Py_XDECREF(registry);
    Py_DECREF(filename);
    Py_DECREF(globals);
    return result;
}

/* CALL: func(*args) where the last len(kwnames) arguments are keywords. kwnames is a tuple of
   str or None. The n arguments follow as PyObject* varargs. */
JJ_FUNC PyObject *JJ_Call(PyObject *func, PyObject *kwnames, Py_ssize_t n, ...)
{
    PyObject *buf[JJ_STACK_ARGS + 1];
    PyObject **stack = JJ_AllocArgs(buf, n);
    if (stack == NULL) {
        return NULL;
    }
    va_list ap;
    va_start(ap, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        stack[i + 1] = va_arg(ap, PyObject *);
    }
    va_end(ap);
    Py_ssize_t nkw = 0;
    if (kwnames == Py_None) {
        kwnames = NULL;
    }
    else {
        nkw = PyTuple_GET_SIZE(kwnames);
        if (nkw == 0) {
            kwnames = NULL;
        }
    }
    PyObject *res = PyObject_Vectorcall(func, stack + 1,
                                        (size_t)(n - nkw) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                        kwnames);
    JJ_FreeArgs(buf, stack);
    return res;
}

/* format_kwargs_error */
JJ_FUNC void JJ_FormatKwargsError(PyObject *func, PyObject *kwargs)
{
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        PyObject *funcstr = _PyObject_FunctionStr(func);
        if (funcstr != NULL) {
            PyErr_Format(PyExc_TypeError, "%U argument after ** must be a mapping, not %.200s",
                         funcstr, Py_TYPE(kwargs)->tp_name);
            Py_DECREF(funcstr);
        }
    }
    else if (PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyObject *exc, *val, *tb;
        PyErr_Fetch(&exc, &val, &tb);
        if (val && PyTuple_Check(val) && PyTuple_GET_SIZE(val) == 1) {
            PyObject *funcstr = _PyObject_FunctionStr(func);
            if (funcstr != NULL) {
                PyObject *key = PyTuple_GET_ITEM(val, 0);
                PyErr_Format(PyExc_TypeError,
                             "%U got multiple values for keyword argument '%S'", funcstr, key);
                Py_DECREF(funcstr);
            }
            Py_XDECREF(exc);
            Py_XDECREF(val);
            Py_XDECREF(tb);
        }
        else {
            PyErr_Restore(exc, val, tb);
        }
    }
}

/* warnings.warn(*args, **kw) from compiled code (see JJ_Warn), kw an exact dict or NULL: the
   keywords become a vectorcall's, as PyObject_Call does for a vectorcall callable
   (_PyStack_UnpackDict: "keywords must be strings"). */
JJ_NOINLINE PyObject *JJ_WarnCallEx(PyObject *state, PyObject *tbcode, int *L, PyObject *args,
                                    PyObject *kw)
{
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (kw == NULL || PyDict_GET_SIZE(kw) == 0) {
        return JJ_Warn(state, tbcode, L, &PyTuple_GET_ITEM(args, 0), nargs, NULL);
    }
    Py_ssize_t nkw = PyDict_GET_SIZE(kw);
    PyObject **stack = (PyObject **)PyMem_Malloc((size_t)(nargs + nkw + 1) * sizeof(PyObject *));
    PyObject *kwnames = stack != NULL ? PyTuple_New(nkw) : NULL;
    if (kwnames == NULL) {
        PyMem_Free(stack);
        return stack == NULL ? PyErr_NoMemory() : NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        stack[i] = PyTuple_GET_ITEM(args, i);
    }
    PyObject *key, *value, *res = NULL;
    Py_ssize_t pos = 0, i = 0;
    int strings = 1;
    while (PyDict_Next(kw, &pos, &key, &value)) {
        strings &= PyUnicode_Check(key);
        PyTuple_SET_ITEM(kwnames, i, Py_NewRef(key));
        stack[nargs + i] = Py_NewRef(value);  /* `kw` may be the caller's own dict */
        i++;
    }
    if (!strings) {
        PyErr_SetString(PyExc_TypeError, "keywords must be strings");
    }
    else {
        res = JJ_Warn(state, tbcode, L, stack, nargs, kwnames);
    }
    for (i = 0; i < nkw; i++) {
        Py_DECREF(stack[nargs + i]);
    }
    Py_DECREF(kwnames);
    PyMem_Free(stack);
    return res;
}

/* CALL_FUNCTION_EX: kwargs is a dict or None (no keywords). `state`, `tbcode` and `L` are the
   calling compiled function's (for warnings.warn, see JJ_Warn). */
JJ_FUNC PyObject *JJ_CallEx(PyObject *func, PyObject *callargs, PyObject *kwargs,
                            PyObject *state, PyObject *tbcode, int *L)
{
    PyObject *kw = NULL;
    if (kwargs != Py_None) {
        if (!PyDict_CheckExact(kwargs)) {
            kw = PyDict_New();
            if (kw == NULL) {
                return NULL;
            }
            if (_PyDict_MergeEx(kw, kwargs, 2) < 0) {
                Py_DECREF(kw);
                JJ_FormatKwargsError(func, kwargs);
                return NULL;
            }
        }
        else {
            kw = kwargs;
            Py_INCREF(kw);
        }
    }
    PyObject *args;
    if (!PyTuple_CheckExact(callargs)) {
        if (Py_TYPE(callargs)->tp_iter == NULL && !PySequence_Check(callargs)) {
            PyErr_Clear();
            PyObject *funcstr = _PyObject_FunctionStr(func);
            if (funcstr != NULL) {
                PyErr_Format(PyExc_TypeError,
                             "%U argument after * must be an iterable, not %.200s",
                             funcstr, Py_TYPE(callargs)->tp_name);
                Py_DECREF(funcstr);
            }
            Py_XDECREF(kw);
            return NULL;
        }
        args = PySequence_Tuple(callargs);
        if (args == NULL) {
            Py_XDECREF(kw);
            return NULL;
        }
    }
    else {
        args = callargs;
        Py_INCREF(args);
    }
    PyObject *res = (func == jj_warnings_warn && func != NULL)
                        ? JJ_WarnCallEx(state, tbcode, L, args, kw)
                        : PyObject_Call(func, args, kw);
    Py_DECREF(args);
    Py_XDECREF(kw);
    return res;
}

/* MAKE_FUNCTION: absent parts are None. */
JJ_FUNC PyObject *JJ_MakeFunction(PyObject *code, PyObject *globals, PyObject *defaults,
                                  PyObject *kwdefaults, PyObject *annotations, PyObject *closure)
{
    PyObject *func = PyFunction_New(code, globals);
    if (func == NULL) {
        return NULL;
    }
    PyFunctionObject *f = (PyFunctionObject *)func;
    if (closure != Py_None) {
        Py_INCREF(closure);
        Py_XSETREF(f->func_closure, closure);
    }
    if (annotations != Py_None) {
        Py_INCREF(annotations);
        Py_XSETREF(f->func_annotations, annotations);
    }
    if (kwdefaults != Py_None) {
        Py_INCREF(kwdefaults);
        Py_XSETREF(f->func_kwdefaults, kwdefaults);
    }
    if (defaults != Py_None) {
        Py_INCREF(defaults);
        Py_XSETREF(f->func_defaults, defaults);
    }
    return func;
}

/* LOAD_BUILD_CLASS */
JJ_FUNC PyObject *JJ_LoadBuildClass(PyObject *builtins)
{
    PyObject *bc;
    if (PyDict_CheckExact(builtins)) {
        bc = PyDict_GetItemWithError(builtins, JJ_ID(__build_class__));
        if (bc == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_NameError, "__build_class__ not found");
            }
            return NULL;
        }
        Py_INCREF(bc);
        return bc;
    }
    bc = PyObject_GetItem(builtins, JJ_ID(__build_class__));
    if (bc == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_SetString(PyExc_NameError, "__build_class__ not found");
    }
    return bc;
}

/* LOAD_ASSERTION_ERROR */
JJ_FUNC PyObject *JJ_AssertionError(void)
{
    Py_INCREF(PyExc_AssertionError);
    return PyExc_AssertionError;
}

/* IMPORT_NAME (import_name in ceval.c; a function frame has no f_locals, so locals is None). */
JJ_FUNC PyObject *JJ_ImportName(PyObject *builtins, PyObject *globals, PyObject *name,
                                PyObject *fromlist, PyObject *level)
{
    PyObject *import_func;
    if (PyDict_Check(builtins)) {
        import_func = PyDict_GetItemWithError(builtins, JJ_ID(__import__));
        if (import_func == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ImportError, "__import__ not found");
            }
            return NULL;
        }
        Py_INCREF(import_func);
    }
    else {
        import_func = PyObject_GetItem(builtins, JJ_ID(__import__));
        if (import_func == NULL) {
            if (PyErr_ExceptionMatches(PyExc_KeyError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_ImportError, "__import__ not found");
            }
            return NULL;
        }
    }
    PyObject *stack[5] = {name, globals, Py_None, fromlist, level};
    PyObject *res = PyObject_Vectorcall(import_func, stack, 5, NULL);
    Py_DECREF(import_func);
    return res;
}

/* _PyModuleSpec_IsInitializing */
JJ_FUNC int JJ_SpecIsInitializing(PyObject *spec)
{
    if (spec != NULL) {
        PyObject *value;
        int ok = _PyObject_LookupAttr(spec, JJ_ID(_initializing), &value);
        if (ok == 0) {
            return 0;
        }
        if (value != NULL) {
            int initializing = PyObject_IsTrue(value);
            Py_DECREF(value);
            if (initializing >= 0) {
                return initializing;
            }
        }
    }
    PyErr_Clear();
    return 0;
}

/* IMPORT_FROM (import_from in ceval.c) */
JJ_FUNC PyObject *JJ_ImportFrom(PyObject *v, PyObject *name)
{
    PyObject *x;
    PyObject *fullmodname, *pkgname, *pkgpath, *pkgname_or_unknown, *errmsg;

    if (_PyObject_LookupAttr(v, name, &x) != 0) {
        return x;
    }
    /* Fall back on sys.modules (circular relative imports). */
    pkgname = PyObject_GetAttr(v, JJ_ID(__name__));
    if (pkgname == NULL) {
        goto error;
    }
    if (!PyUnicode_Check(pkgname)) {
        Py_CLEAR(pkgname);
        goto error;
    }
    fullmodname = PyUnicode_FromFormat("%U.%U", pkgname, name);
    if (fullmodname == NULL) {
        Py_DECREF(pkgname);
        return NULL;
    }
    x = PyImport_GetModule(fullmodname);
    Py_DECREF(fullmodname);
    if (x == NULL && !PyErr_Occurred()) {
        goto error;
    }
    Py_DECREF(pkgname);
    return x;
error:
    pkgpath = PyModule_GetFilenameObject(v);
    if (pkgname == NULL) {
        pkgname_or_unknown = PyUnicode_FromString("<unknown module name>");
        if (pkgname_or_unknown == NULL) {
            Py_XDECREF(pkgpath);
            return NULL;
        }
    }
    else {
        pkgname_or_unknown = pkgname;
    }

    if (pkgpath == NULL || !PyUnicode_Check(pkgpath)) {
        PyErr_Clear();
        errmsg = PyUnicode_FromFormat("cannot import name %R from %R (unknown location)",
                                      name, pkgname_or_unknown);
        PyErr_SetImportError(errmsg, pkgname, NULL);
    }
    else {
        PyObject *spec = PyObject_GetAttr(v, JJ_ID(__spec__));
        const char *fmt = JJ_SpecIsInitializing(spec)
            ? "cannot import name %R from partially initialized module %R "
              "(most likely due to a circular import) (%S)"
            : "cannot import name %R from %R (%S)";
        Py_XDECREF(spec);
        errmsg = PyUnicode_FromFormat(fmt, name, pkgname_or_unknown, pkgpath);
        PyErr_SetImportError(errmsg, pkgname, pkgpath);
    }
    Py_XDECREF(errmsg);
    Py_XDECREF(pkgname_or_unknown);
    Py_XDECREF(pkgpath);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Containers and strings                                                                     */

/* BUILD_SET: n items as PyObject* varargs, added in order. */
JJ_FUNC PyObject *JJ_BuildSet(Py_ssize_t n, ...)
{
    PyObject *set = PySet_New(NULL);
    va_list ap;
    va_start(ap, n);
    int err = (set == NULL);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = va_arg(ap, PyObject *);
        if (err == 0) {
            err = PySet_Add(set, item);
        }
    }
    va_end(ap);
    if (err != 0) {
        Py_XDECREF(set);
        return NULL;
    }
    return set;
}

/* BUILD_MAP: n key/value pairs as 2n PyObject* varargs k0, v0, k1, v1, ... */
JJ_FUNC PyObject *JJ_BuildMap(Py_ssize_t n, ...)
{
    PyObject *map = _PyDict_NewPresized(n);
    va_list ap;
    va_start(ap, n);
    int err = (map == NULL);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = va_arg(ap, PyObject *);
        PyObject *value = va_arg(ap, PyObject *);
        if (err == 0) {
            err = PyDict_SetItem(map, key, value);
        }
    }
    va_end(ap);
    if (err != 0) {
        Py_XDECREF(map);
        return NULL;
    }
    return map;
}

/* BUILD_CONST_KEY_MAP: keys is a tuple of n keys; the n values follow as varargs. */
JJ_FUNC PyObject *JJ_BuildConstKeyMap(PyObject *keys, Py_ssize_t n, ...)
{
    if (!PyTuple_CheckExact(keys) || PyTuple_GET_SIZE(keys) != n) {
        PyErr_SetString(PyExc_SystemError, "bad BUILD_CONST_KEY_MAP keys argument");
        return NULL;
    }
    PyObject *map = _PyDict_NewPresized(n);
    va_list ap;
    va_start(ap, n);
    int err = (map == NULL);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = va_arg(ap, PyObject *);
        if (err == 0) {
            err = PyDict_SetItem(map, PyTuple_GET_ITEM(keys, i), value);
        }
    }
    va_end(ap);
    if (err != 0) {
        Py_XDECREF(map);
        return NULL;
    }
    return map;
}

/* BUILD_STRING: "".join of n str parts (PyObject* varargs). */
JJ_FUNC PyObject *JJ_BuildString(Py_ssize_t n, ...)
{
    PyObject *buf[JJ_STACK_ARGS + 1];
    PyObject **parts = JJ_AllocArgs(buf, n);
    if (parts == NULL) {
        return NULL;
    }
    va_list ap;
    va_start(ap, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        parts[i + 1] = va_arg(ap, PyObject *);
    }
    va_end(ap);
    PyObject *empty = PyUnicode_New(0, 0);
    PyObject *res = NULL;
    if (empty != NULL) {
        res = _PyUnicode_JoinArray(empty, parts + 1, n);
        Py_DECREF(empty);
    }
    JJ_FreeArgs(buf, parts);
    return res;
}

/* FORMAT_VALUE: conversion 0 none, 1 str, 2 repr, 3 ascii; spec is used when has_spec. */
JJ_FUNC PyObject *JJ_FormatValue(PyObject *value, int conversion, PyObject *spec, int has_spec)
{
    PyObject *converted = NULL;
    switch (conversion) {
    case 0:
        break;
    case 1:
        converted = PyObject_Str(value);
        break;
    case 2:
        converted = PyObject_Repr(value);
        break;
    case 3:
        converted = PyObject_ASCII(value);
        break;
    default:
        PyErr_Format(PyExc_SystemError, "unexpected conversion flag %d", conversion);
        return NULL;
    }
    if (conversion != 0) {
        if (converted == NULL) {
            return NULL;
        }
        value = converted;
    }
    PyObject *res;
    if (PyUnicode_CheckExact(value) && !has_spec) {
        Py_INCREF(value);
        res = value;
    }
    else {
        res = PyObject_Format(value, has_spec ? spec : NULL);
    }
    Py_XDECREF(converted);
    return res;
}

/* LIST_EXTEND */
JJ_FUNC int JJ_ListExtend(PyObject *list, PyObject *iterable)
{
    PyObject *none_val = _PyList_Extend((PyListObject *)list, iterable);
    if (none_val == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) &&
            (Py_TYPE(iterable)->tp_iter == NULL && !PySequence_Check(iterable))) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "Value after * must be an iterable, not %.200s",
                         Py_TYPE(iterable)->tp_name);
        }
        return -1;
    }
    Py_DECREF(none_val);
    return 0;
}

/* SET_UPDATE */
JJ_FUNC int JJ_SetUpdate(PyObject *set, PyObject *iterable)
{
    return _PySet_Update(set, iterable);
}

/* DICT_UPDATE */
JJ_FUNC int JJ_DictUpdate(PyObject *dict, PyObject *update)
{
    if (PyDict_Update(dict, update) < 0) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Format(PyExc_TypeError, "'%.200s' object is not a mapping",
                         Py_TYPE(update)->tp_name);
        }
        return -1;
    }
    return 0;
}

/* DICT_MERGE (f(**m)): func is the callable, for the messages. */
JJ_FUNC int JJ_DictMerge(PyObject *dict, PyObject *update, PyObject *func)
{
    if (_PyDict_MergeEx(dict, update, 2) < 0) {
        JJ_FormatKwargsError(func, update);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Iteration and unpacking                                                                    */

/* FOR_ITER: the next item, or a new reference to `done` when the iterator is exhausted
   (a StopIteration it raised is cleared), or NULL on error. */
JJ_FUNC PyObject *JJ_ForIter(PyObject *iter, PyObject *done)
{
    iternextfunc next_fn = Py_TYPE(iter)->tp_iternext;
    if (next_fn == NULL) {
        PyErr_Format(PyExc_TypeError, "'%.200s' object is not an iterator",
                     Py_TYPE(iter)->tp_name);
        return NULL;
    }
    PyObject *next = next_fn(iter);
    if (next != NULL) {
        return next;
    }
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
            return NULL;
        }
        PyErr_Clear();
    }
    Py_INCREF(done);
    return done;
}

/* FOR_ITER: 1 with *item the next item (a new reference), 0 when the iterator is exhausted (a
   StopIteration it raised is cleared), -1 on error. List and range iterators are stepped
   inline, as listiter_next and rangeiter_next do (their layouts are checked once, see
   JJ_InitIterators; if they differ, their tp_iternext is called like any other). */
typedef struct {
    PyObject_HEAD
    Py_ssize_t it_index;
    PyListObject *it_seq;  /* NULL once exhausted */
} JJ_ListIter;

typedef struct {
    PyObject_HEAD
    long index;
    long start;
    long step;
    long len;
} JJ_RangeIter;

static int jj_inline_list_iter = 0;
static int jj_inline_range_iter = 0;

/* Check the layouts above against this interpreter's iterators. */
static void JJ_InitIterators(void)
{
    PyObject *list = Py_BuildValue("[iii]", 7, 8, 9);
    PyObject *it = list == NULL ? NULL : PyObject_GetIter(list);
    if (it != NULL && Py_IS_TYPE(it, &PyListIter_Type)) {
        JJ_ListIter *li = (JJ_ListIter *)it;
        int ok = li->it_index == 0 && li->it_seq == (PyListObject *)list;
        PyObject *first = ok ? PyIter_Next(it) : NULL;
        ok = ok && first == PyList_GET_ITEM(list, 0) && li->it_index == 1;
        Py_XDECREF(first);
        jj_inline_list_iter = ok;
    }
    Py_XDECREF(it);
    Py_XDECREF(list);
    PyObject *range = PyObject_CallFunction((PyObject *)&PyRange_Type, "iii", 5, 100, 7);
    it = range == NULL ? NULL : PyObject_GetIter(range);
    if (it != NULL && Py_IS_TYPE(it, &PyRangeIter_Type)) {
        JJ_RangeIter *ri = (JJ_RangeIter *)it;
        int ok = ri->index == 0 && ri->start == 5 && ri->step == 7 && ri->len == 14;
        PyObject *first = ok ? PyIter_Next(it) : NULL;
        ok = ok && first != NULL && PyLong_AsLong(first) == 5 && ri->index == 1 &&
             ri->start == 5 && ri->len == 14;
        Py_XDECREF(first);
        jj_inline_range_iter = ok;
    }
    Py_XDECREF(it);
    Py_XDECREF(range);
    PyErr_Clear();
}

JJ_NOINLINE int JJ_ForIterNextSlow(PyObject *iter, PyObject **item)
{
    PyTypeObject *t = Py_TYPE(iter);
    if (t == &PyListIter_Type && jj_inline_list_iter) {  /* exhausted */
        JJ_ListIter *it = (JJ_ListIter *)iter;
        PyListObject *seq = it->it_seq;
        if (seq != NULL) {
            it->it_seq = NULL;
            Py_DECREF(seq);
        }
        return 0;
    }
    if (t == &PyRangeIter_Type && jj_inline_range_iter) {  /* exhausted */
        return 0;
    }
    if (t->tp_iternext == NULL) {
        PyErr_Format(PyExc_TypeError, "'%.200s' object is not an iterator", t->tp_name);
        return -1;
    }
    PyObject *v = t->tp_iternext(iter);
    if (v != NULL) {
        *item = v;
        return 1;
    }
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
            return -1;
        }
        PyErr_Clear();
    }
    return 0;
}

/* FOR_ITER into a variable that holds `old` (an owned reference, or NULL): 2, taking no
   reference, when the list's next item is `old` itself; storing it would incref it and decref
   `old`, which cancel out, and nothing runs in between. A loop over a list of flags otherwise
   spends its time in that incref/decref pair on the same object (a dependency through memory:
   the sieve's count loop, 3.6 ns an element). Else 1 with the item (a new reference) in
   *item, 0 when the iterator is exhausted, -1 with an exception. */
JJ_INLINE int JJ_ForIterNextInto(PyObject *iter, PyObject **item, PyObject *old)
{
    if (Py_IS_TYPE(iter, &PyListIter_Type) && jj_inline_list_iter) {
        JJ_ListIter *it = (JJ_ListIter *)iter;
        PyListObject *seq = it->it_seq;
        if (seq != NULL && JJ_LIKELY(it->it_index < PyList_GET_SIZE(seq))) {
            PyObject *v = PyList_GET_ITEM(seq, it->it_index);
            ++it->it_index;
            if (v == old) {
                return 2;
            }
            Py_INCREF(v);
            *item = v;
            return 1;
        }
    }
    else if (Py_IS_TYPE(iter, &PyRangeIter_Type) && jj_inline_range_iter) {
        JJ_RangeIter *r = (JJ_RangeIter *)iter;
        if (JJ_LIKELY(r->index < r->len)) {
            PyObject *v = PyLong_FromLong((long)(r->start + (unsigned long)(r->index++) * r->step));
            if (v == NULL) {
                return -1;
            }
            *item = v;
            return 1;
        }
    }
    return JJ_ForIterNextSlow(iter, item);
}

/* FOR_ITER: 1 with the item (a new reference), 0 when exhausted, -1 with an exception. */
#define JJ_ForIterNext(iter, item) JJ_ForIterNextInto((iter), (item), NULL)

/* GET_YIELD_FROM_ITER; is_coroutine: the code has CO_COROUTINE or CO_ITERABLE_COROUTINE. */
JJ_FUNC PyObject *JJ_GetYieldFromIter(PyObject *iterable, int is_coroutine)
{
    if (PyCoro_CheckExact(iterable)) {
        if (!is_coroutine) {
            PyErr_SetString(PyExc_TypeError,
                            "cannot 'yield from' a coroutine object in a non-coroutine "
                            "generator");
            return NULL;
        }
    }
    else if (!PyGen_CheckExact(iterable)) {
        return PyObject_GetIter(iterable);
    }
    Py_INCREF(iterable);
    return iterable;
}

/* unpack_iterable in ceval.c: `argcnt` leading items, then (argcntafter >= 0) a list of the
   rest less `argcntafter` trailing items. Returns a tuple of the results, first item first. */
JJ_FUNC PyObject *JJ_Unpack(PyObject *v, int argcnt, int argcntafter)
{
    Py_ssize_t total = argcnt + (argcntafter >= 0 ? 1 + argcntafter : 0);
    PyObject *out = PyTuple_New(total);
    if (out == NULL) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(v);
    if (it == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) &&
            Py_TYPE(v)->tp_iter == NULL && !PySequence_Check(v)) {
            PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                         Py_TYPE(v)->tp_name);
        }
        Py_DECREF(out);
        return NULL;
    }
    int i;
    for (i = 0; i < argcnt; i++) {
        PyObject *w = PyIter_Next(it);
        if (w == NULL) {
            if (!PyErr_Occurred()) {
                if (argcntafter == -1) {
                    PyErr_Format(PyExc_ValueError,
                                 "not enough values to unpack (expected %d, got %d)",
                                 argcnt, i);
                }
                else {
                    PyErr_Format(PyExc_ValueError,
                                 "not enough values to unpack (expected at least %d, got %d)",
                                 argcnt + argcntafter, i);
                }
            }
            goto error;
        }
        PyTuple_SET_ITEM(out, i, w);
    }
    if (argcntafter == -1) {
        PyObject *w = PyIter_Next(it);
        if (w == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            Py_DECREF(it);
            return out;
        }
        Py_DECREF(w);
        PyErr_Format(PyExc_ValueError, "too many values to unpack (expected %d)", argcnt);
        goto error;
    }
    PyObject *l = PySequence_List(it);
    if (l == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(out, argcnt, l);
    Py_ssize_t ll = PyList_GET_SIZE(l);
    if (ll < argcntafter) {
        PyErr_Format(PyExc_ValueError,
                     "not enough values to unpack (expected at least %d, got %zd)",
                     argcnt + argcntafter, argcnt + ll);
        goto error;
    }
    for (int j = 0; j < argcntafter; j++) {
        PyObject *w = PyList_GET_ITEM(l, ll - argcntafter + j);
        Py_INCREF(w);
        PyTuple_SET_ITEM(out, argcnt + 1 + j, w);
    }
    if (argcntafter > 0) {
        if (PyList_SetSlice(l, ll - argcntafter, ll, NULL) < 0) {
            goto error;
        }
    }
    Py_DECREF(it);
    return out;
error:
    Py_DECREF(it);
    Py_DECREF(out);
    return NULL;
}

JJ_FUNC PyObject *JJ_UnpackSequence(PyObject *v, int n)
{
    return JJ_Unpack(v, n, -1);
}

JJ_FUNC PyObject *JJ_UnpackEx(PyObject *v, int before, int after)
{
    return JJ_Unpack(v, before, after);
}

/* ------------------------------------------------------------------------------------------ */
/* Raising                                                                                    */

/* RAISE_VARARGS (do_raise in ceval.c). exc/cause are used when has_exc/has_cause. Always
   returns -1; sets L[1] = 1 when it re-raised the handled exception (bare `raise`), which
   CPython does without adding a traceback entry. */
JJ_FUNC int JJ_Raise(PyObject *exc, PyObject *cause, int has_exc, int has_cause, int *L)
{
    PyObject *type = NULL, *value = NULL;

    if (!has_exc) {
        PyObject *handled = PyErr_GetHandledException();
        if (handled == NULL || handled == Py_None) {
            Py_XDECREF(handled);
            PyErr_SetString(PyExc_RuntimeError, "No active exception to reraise");
            return -1;
        }
        type = (PyObject *)Py_TYPE(handled);
        Py_INCREF(type);
        PyErr_Restore(type, handled, PyException_GetTraceback(handled));
        L[1] = 1;
        return -1;
    }

    if (PyExceptionClass_Check(exc)) {
        type = exc;
        Py_INCREF(type);
        value = PyObject_CallNoArgs(exc);
        if (value == NULL) {
            goto raise_error;
        }
        if (!PyExceptionInstance_Check(value)) {
            PyErr_Format(PyExc_TypeError,
                         "calling %R should have returned an instance of BaseException, "
                         "not %R", type, Py_TYPE(value));
            goto raise_error;
        }
    }
    else if (PyExceptionInstance_Check(exc)) {
        value = exc;
        Py_INCREF(value);
        type = (PyObject *)Py_TYPE(exc);
        Py_INCREF(type);
    }
    else {
        PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
        goto raise_error;
    }

    if (has_cause) {
        PyObject *fixed_cause;
        if (PyExceptionClass_Check(cause)) {
            fixed_cause = PyObject_CallNoArgs(cause);
            if (fixed_cause == NULL) {
                goto raise_error;
            }
        }
        else if (PyExceptionInstance_Check(cause)) {
            fixed_cause = cause;
            Py_INCREF(fixed_cause);
        }
        else if (cause == Py_None) {
            fixed_cause = NULL;
        }
        else {
            PyErr_SetString(PyExc_TypeError,
                            "exception causes must derive from BaseException");
            goto raise_error;
        }
        PyException_SetCause(value, fixed_cause);
    }

    PyErr_SetObject(type, value);
raise_error:
    Py_XDECREF(value);
    Py_XDECREF(type);
    return -1;
}

/* RERAISE: raise `exc` again, keeping its traceback; no new traceback entry (L[1] = 1). */
JJ_FUNC int JJ_Reraise(PyObject *exc, int *L)
{
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_SystemError, "justjit: RERAISE of a non-exception");
        return -1;
    }
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    Py_INCREF(exc);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
    L[1] = 1;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* except, except*, with                                                                      */

#define JJ_CANNOT_CATCH_MSG \
    "catching classes that do not inherit from BaseException is not allowed"

/* check_except_type_valid */
JJ_FUNC int JJ_CheckExceptTypeValid(PyObject *right)
{
    if (PyTuple_Check(right)) {
        Py_ssize_t length = PyTuple_GET_SIZE(right);
        for (Py_ssize_t i = 0; i < length; i++) {
            if (!PyExceptionClass_Check(PyTuple_GET_ITEM(right, i))) {
                PyErr_SetString(PyExc_TypeError, JJ_CANNOT_CATCH_MSG);
                return -1;
            }
        }
    }
    else if (!PyExceptionClass_Check(right)) {
        PyErr_SetString(PyExc_TypeError, JJ_CANNOT_CATCH_MSG);
        return -1;
    }
    return 0;
}

/* CHECK_EXC_MATCH */
JJ_FUNC PyObject *JJ_CheckExcMatch(PyObject *exc, PyObject *match_type)
{
    if (JJ_CheckExceptTypeValid(match_type) < 0) {
        return NULL;
    }
    PyObject *res = PyErr_GivenExceptionMatches(exc, match_type) ? Py_True : Py_False;
    Py_INCREF(res);
    return res;
}

#define JJ_IS_EG(x) PyObject_TypeCheck((x), (PyTypeObject *)PyExc_BaseExceptionGroup)

/* check_except_star_type_valid */
JJ_FUNC int JJ_CheckExceptStarTypeValid(PyObject *right)
{
    if (JJ_CheckExceptTypeValid(right) < 0) {
        return -1;
    }
    int is_subclass = 0;
    if (PyTuple_Check(right)) {
        Py_ssize_t length = PyTuple_GET_SIZE(right);
        for (Py_ssize_t i = 0; i < length; i++) {
            is_subclass = PyObject_IsSubclass(PyTuple_GET_ITEM(right, i),
                                              PyExc_BaseExceptionGroup);
            if (is_subclass < 0) {
                return -1;
            }
            if (is_subclass) {
                break;
            }
        }
    }
    else {
        is_subclass = PyObject_IsSubclass(right, PyExc_BaseExceptionGroup);
        if (is_subclass < 0) {
            return -1;
        }
    }
    if (is_subclass) {
        PyErr_SetString(PyExc_TypeError,
                        "catching ExceptionGroup with except* is not allowed. "
                        "Use except instead.");
        return -1;
    }
    return 0;
}

/* _PyExc_CreateExceptionGroup */
JJ_FUNC PyObject *JJ_CreateExceptionGroup(const char *msg_str, PyObject *excs)
{
    PyObject *msg = PyUnicode_FromString(msg_str);
    if (msg == NULL) {
        return NULL;
    }
    PyObject *args = PyTuple_Pack(2, msg, excs);
    Py_DECREF(msg);
    if (args == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_CallObject(PyExc_BaseExceptionGroup, args);
    Py_DECREF(args);
    return result;
}

/* CHECK_EG_MATCH: returns the tuple (rest, match). No match: (exc, None). A match also makes
   `match` the handled exception. */
JJ_FUNC PyObject *JJ_CheckEgMatch(PyObject *exc_value, PyObject *match_type)
{
    if (JJ_CheckExceptStarTypeValid(match_type) < 0) {
        return NULL;
    }
    PyObject *match = NULL, *rest = NULL;
    if (exc_value == Py_None) {
        match = Py_None;
        Py_INCREF(match);
        rest = Py_None;
        Py_INCREF(rest);
    }
    else if (PyErr_GivenExceptionMatches(exc_value, match_type)) {
        if (JJ_IS_EG(exc_value)) {
            match = exc_value;
            Py_INCREF(match);
        }
        else {
            PyObject *excs = PyTuple_Pack(1, exc_value);
            if (excs == NULL) {
                return NULL;
            }
            match = JJ_CreateExceptionGroup("", excs);
            Py_DECREF(excs);
            if (match == NULL) {
                return NULL;
            }
        }
        rest = Py_None;
        Py_INCREF(rest);
    }
    else if (JJ_IS_EG(exc_value)) {
        PyObject *pair = PyObject_CallMethod(exc_value, "split", "(O)", match_type);
        if (pair == NULL) {
            return NULL;
        }
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            PyErr_SetString(PyExc_SystemError, "split() did not return a pair");
            return NULL;
        }
        match = PyTuple_GET_ITEM(pair, 0);
        Py_INCREF(match);
        rest = PyTuple_GET_ITEM(pair, 1);
        Py_INCREF(rest);
        Py_DECREF(pair);
    }
    else {
        match = Py_None;
        Py_INCREF(match);
        rest = Py_None;
        Py_INCREF(rest);
    }
    PyObject *result;
    if (match == Py_None) {
        Py_DECREF(rest);
        result = PyTuple_Pack(2, exc_value, match);
    }
    else {
        result = PyTuple_Pack(2, rest, match);
        Py_DECREF(rest);
        if (result != NULL) {
            PyErr_SetHandledException(match);
        }
    }
    Py_DECREF(match);
    return result;
}

/* collect_exception_group_leaf_ids */
JJ_FUNC int JJ_CollectLeafIds(PyObject *exc, PyObject *leaf_ids)
{
    if (exc == Py_None) {
        return 0;
    }
    if (!JJ_IS_EG(exc)) {
        PyObject *exc_id = PyLong_FromVoidPtr(exc);
        if (exc_id == NULL) {
            return -1;
        }
        int res = PySet_Add(leaf_ids, exc_id);
        Py_DECREF(exc_id);
        return res;
    }
    PyObject *excs = ((PyBaseExceptionGroupObject *)exc)->excs;
    Py_ssize_t n = PyTuple_GET_SIZE(excs);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (Py_EnterRecursiveCall(" in collect_exception_group_leaf_ids")) {
            return -1;
        }
        int res = JJ_CollectLeafIds(PyTuple_GET_ITEM(excs, i), leaf_ids);
        Py_LeaveRecursiveCall();
        if (res < 0) {
            return -1;
        }
    }
    return 0;
}

/* exceptiongroup_subset: orig.derive(excs) with orig's traceback, context, cause, notes copied;
   *result = NULL when excs is empty. */
JJ_FUNC int JJ_EgSubset(PyObject *orig, PyObject *excs, PyObject **result)
{
    *result = NULL;
    Py_ssize_t num_excs = PySequence_Size(excs);
    if (num_excs < 0) {
        return -1;
    }
    if (num_excs == 0) {
        return 0;
    }
    PyObject *eg = PyObject_CallMethod(orig, "derive", "(O)", excs);
    if (eg == NULL) {
        return -1;
    }
    if (!JJ_IS_EG(eg)) {
        PyErr_SetString(PyExc_TypeError,
                        "derive must return an instance of BaseExceptionGroup");
        goto error;
    }
    PyObject *tb = PyException_GetTraceback(orig);
    if (tb) {
        int res = PyException_SetTraceback(eg, tb);
        Py_DECREF(tb);
        if (res < 0) {
            goto error;
        }
    }
    PyException_SetContext(eg, PyException_GetContext(orig));
    PyException_SetCause(eg, PyException_GetCause(orig));
    PyObject *notes;
    if (_PyObject_LookupAttr(orig, JJ_ID(__notes__), &notes) < 0) {
        goto error;
    }
    if (notes) {
        if (PySequence_Check(notes)) {
            PyObject *notes_copy = PySequence_List(notes);
            Py_DECREF(notes);
            if (notes_copy == NULL) {
                goto error;
            }
            int res = PyObject_SetAttr(eg, JJ_ID(__notes__), notes_copy);
            Py_DECREF(notes_copy);
            if (res < 0) {
                goto error;
            }
        }
        else {
            Py_DECREF(notes);
        }
    }
    *result = eg;
    return 0;
error:
    Py_DECREF(eg);
    return -1;
}

/* exceptiongroup_split_recursive with the "leaf ids" matcher and no rest. */
JJ_FUNC int JJ_EgProjectRecursive(PyObject *exc, PyObject *leaf_ids, PyObject **match)
{
    *match = NULL;
    if (!JJ_IS_EG(exc)) {
        PyObject *exc_id = PyLong_FromVoidPtr(exc);
        if (exc_id == NULL) {
            return -1;
        }
        int res = PySet_Contains(leaf_ids, exc_id);
        Py_DECREF(exc_id);
        if (res < 0) {
            return -1;
        }
        if (res) {
            Py_INCREF(exc);
            *match = exc;
        }
        return 0;
    }
    PyObject *excs = ((PyBaseExceptionGroupObject *)exc)->excs;
    Py_ssize_t n = PyTuple_GET_SIZE(excs);
    PyObject *match_list = PyList_New(0);
    if (match_list == NULL) {
        return -1;
    }
    int retval = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = NULL;
        if (Py_EnterRecursiveCall(" in exceptiongroup_split_recursive")) {
            goto done;
        }
        int res = JJ_EgProjectRecursive(PyTuple_GET_ITEM(excs, i), leaf_ids, &rec);
        Py_LeaveRecursiveCall();
        if (res < 0) {
            goto done;
        }
        if (rec != NULL) {
            res = PyList_Append(match_list, rec);
            Py_DECREF(rec);
            if (res < 0) {
                goto done;
            }
        }
    }
    if (JJ_EgSubset(exc, match_list, match) < 0) {
        goto done;
    }
    retval = 0;
done:
    Py_DECREF(match_list);
    return retval;
}

/* PREP_RERAISE_STAR (_PyExc_PrepReraiseStar, which 3.11 does not export). */
JJ_FUNC PyObject *JJ_PrepReraiseStar(PyObject *orig, PyObject *excs)
{
    if (!PyList_Check(excs)) {
        PyErr_SetString(PyExc_SystemError, "PREP_RERAISE_STAR expects a list");
        return NULL;
    }
    Py_ssize_t numexcs = PyList_GET_SIZE(excs);
    if (numexcs == 0) {
        Py_RETURN_NONE;
    }
    if (!JJ_IS_EG(orig)) {
        /* A naked exception was caught and wrapped: at most one exception to raise. */
        PyObject *e = PyList_GET_ITEM(excs, 0);
        Py_INCREF(e);
        return e;
    }
    PyObject *raised_list = PyList_New(0);
    PyObject *reraised_list = PyList_New(0);
    PyObject *leaf_ids = NULL, *reraised_eg = NULL, *result = NULL;
    if (raised_list == NULL || reraised_list == NULL) {
        goto done;
    }
    PyBaseExceptionObject *o = (PyBaseExceptionObject *)orig;
    for (Py_ssize_t i = 0; i < numexcs; i++) {
        PyObject *e = PyList_GET_ITEM(excs, i);
        if (e == Py_None) {
            continue;
        }
        int is_reraise = 0;
        if (PyExceptionInstance_Check(e)) {
            PyBaseExceptionObject *x = (PyBaseExceptionObject *)e;
            is_reraise = (x->notes == o->notes && x->traceback == o->traceback &&
                          x->cause == o->cause && x->context == o->context);
        }
        if (PyList_Append(is_reraise ? reraised_list : raised_list, e) < 0) {
            goto done;
        }
    }
    /* reraised_eg: orig restricted to the leaves of the re-raised exceptions */
    leaf_ids = PySet_New(NULL);
    if (leaf_ids == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(reraised_list); i++) {
        if (JJ_CollectLeafIds(PyList_GET_ITEM(reraised_list, i), leaf_ids) < 0) {
            goto done;
        }
    }
    if (JJ_EgProjectRecursive(orig, leaf_ids, &reraised_eg) < 0) {
        goto done;
    }
    if (reraised_eg == NULL) {
        reraised_eg = Py_None;
        Py_INCREF(reraised_eg);
    }
    if (PyList_GET_SIZE(raised_list) == 0) {
        result = reraised_eg;
        Py_INCREF(result);
    }
    else {
        if (reraised_eg != Py_None && PyList_Append(raised_list, reraised_eg) < 0) {
            goto done;
        }
        if (PyList_GET_SIZE(raised_list) > 1) {
            result = JJ_CreateExceptionGroup("", raised_list);
        }
        else {
            result = PyList_GET_ITEM(raised_list, 0);
            Py_INCREF(result);
        }
    }
done:
    Py_XDECREF(raised_list);
    Py_XDECREF(reraised_list);
    Py_XDECREF(leaf_ids);
    Py_XDECREF(reraised_eg);
    return result;
}

/* _PyObject_LookupSpecial: look `attr` up on the type and bind it. NULL without an exception
   when absent. */
JJ_FUNC PyObject *JJ_LookupSpecial(PyObject *self, PyObject *attr)
{
    PyObject *res = _PyType_Lookup(Py_TYPE(self), attr);
    if (res != NULL) {
        descrgetfunc f = Py_TYPE(res)->tp_descr_get;
        if (f == NULL) {
            Py_INCREF(res);
        }
        else {
            res = f(res, self, (PyObject *)Py_TYPE(self));
        }
    }
    return res;
}

/* BEFORE_WITH: returns the tuple (bound __exit__, result of __enter__()). */
JJ_FUNC PyObject *JJ_BeforeWith(PyObject *mgr)
{
    PyObject *enter = JJ_LookupSpecial(mgr, JJ_ID(__enter__));
    if (enter == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError,
                         "'%.200s' object does not support the context manager protocol",
                         Py_TYPE(mgr)->tp_name);
        }
        return NULL;
    }
    PyObject *exit = JJ_LookupSpecial(mgr, JJ_ID(__exit__));
    if (exit == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError,
                         "'%.200s' object does not support the context manager protocol "
                         "(missed __exit__ method)", Py_TYPE(mgr)->tp_name);
        }
        Py_DECREF(enter);
        return NULL;
    }
    PyObject *res = PyObject_CallNoArgs(enter);
    Py_DECREF(enter);
    if (res == NULL) {
        Py_DECREF(exit);
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(exit);
        Py_DECREF(res);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, exit);
    PyTuple_SET_ITEM(pair, 1, res);
    return pair;
}

/* WITH_EXCEPT_START: exit(type(exc), exc, exc.__traceback__) */
JJ_FUNC PyObject *JJ_WithExceptStart(PyObject *exit_func, PyObject *val)
{
    PyObject *exc = (PyObject *)Py_TYPE(val);
    PyObject *tb = PyException_GetTraceback(val);
    PyObject *stack[4] = {NULL, exc, val, tb != NULL ? tb : Py_None};
    PyObject *res = PyObject_Vectorcall(exit_func, stack + 1,
                                        3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_XDECREF(tb);
    return res;
}

/* ------------------------------------------------------------------------------------------ */
/* Pattern matching                                                                           */

/* GET_LEN */
JJ_FUNC PyObject *JJ_GetLen(PyObject *obj)
{
    Py_ssize_t len_i = PyObject_Length(obj);
    if (len_i < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(len_i);
}

/* MATCH_MAPPING */
JJ_FUNC PyObject *JJ_MatchMapping(PyObject *subject)
{
    PyObject *res = (Py_TYPE(subject)->tp_flags & Py_TPFLAGS_MAPPING) ? Py_True : Py_False;
    Py_INCREF(res);
    return res;
}

/* MATCH_SEQUENCE */
JJ_FUNC PyObject *JJ_MatchSequence(PyObject *subject)
{
    PyObject *res = (Py_TYPE(subject)->tp_flags & Py_TPFLAGS_SEQUENCE) ? Py_True : Py_False;
    Py_INCREF(res);
    return res;
}

/* MATCH_KEYS (match_keys in ceval.c): a tuple of the values, or None if a key is missing. */
JJ_FUNC PyObject *JJ_MatchKeys(PyObject *map, PyObject *keys)
{
    if (!PyTuple_CheckExact(keys)) {
        PyErr_SetString(PyExc_SystemError, "MATCH_KEYS expects a tuple of keys");
        return NULL;
    }
    Py_ssize_t nkeys = PyTuple_GET_SIZE(keys);
    if (!nkeys) {
        return PyTuple_New(0);
    }
    PyObject *seen = NULL, *dummy = NULL, *values = NULL, *get = NULL;
    int meth_found = _PyObject_GetMethod(map, JJ_ID(get), &get);
    if (get == NULL) {
        goto fail;
    }
    seen = PySet_New(NULL);
    if (seen == NULL) {
        goto fail;
    }
    dummy = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (dummy == NULL) {
        goto fail;
    }
    values = PyTuple_New(nkeys);
    if (values == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < nkeys; i++) {
        PyObject *key = PyTuple_GET_ITEM(keys, i);
        if (PySet_Contains(seen, key) || PySet_Add(seen, key)) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_ValueError, "mapping pattern checks duplicate key (%R)",
                             key);
            }
            goto fail;
        }
        PyObject *args[] = {map, key, dummy};
        PyObject *value;
        if (meth_found) {
            value = PyObject_Vectorcall(get, args, 3, NULL);
        }
        else {
            value = PyObject_Vectorcall(get, &args[1], 2, NULL);
        }
        if (value == NULL) {
            goto fail;
        }
        if (value == dummy) {
            Py_DECREF(value);
            Py_DECREF(values);
            Py_INCREF(Py_None);
            values = Py_None;
            goto done;
        }
        PyTuple_SET_ITEM(values, i, value);
    }
done:
    Py_DECREF(get);
    Py_DECREF(seen);
    Py_DECREF(dummy);
    return values;
fail:
    Py_XDECREF(get);
    Py_XDECREF(seen);
    Py_XDECREF(dummy);
    Py_XDECREF(values);
    return NULL;
}

/* match_class_attr */
JJ_FUNC PyObject *JJ_MatchClassAttr(PyObject *subject, PyObject *type, PyObject *name,
                                    PyObject *seen)
{
    if (PySet_Contains(seen, name) || PySet_Add(seen, name)) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple sub-patterns for attribute %R",
                         ((PyTypeObject *)type)->tp_name, name);
        }
        return NULL;
    }
    PyObject *attr = PyObject_GetAttr(subject, name);
    if (attr == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
    }
    return attr;
}

/* match_class: NULL without an exception means "no match". */
JJ_FUNC PyObject *JJ_MatchClassImpl(PyObject *subject, PyObject *type, Py_ssize_t nargs,
                                    PyObject *kwargs)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "called match pattern must be a type");
        return NULL;
    }
    if (!PyTuple_CheckExact(kwargs)) {
        PyErr_SetString(PyExc_SystemError, "MATCH_CLASS expects a tuple of names");
        return NULL;
    }
    if (PyObject_IsInstance(subject, type) <= 0) {
        return NULL;
    }
    PyObject *seen = PySet_New(NULL);
    if (seen == NULL) {
        return NULL;
    }
    PyObject *attrs = PyList_New(0);
    if (attrs == NULL) {
        Py_DECREF(seen);
        return NULL;
    }
    PyObject *match_args = NULL;
    if (nargs) {
        int match_self = 0;
        match_args = PyObject_GetAttrString(type, "__match_args__");
        if (match_args) {
            if (!PyTuple_CheckExact(match_args)) {
                PyErr_Format(PyExc_TypeError, "%s.__match_args__ must be a tuple (got %s)",
                             ((PyTypeObject *)type)->tp_name, Py_TYPE(match_args)->tp_name);
                goto fail;
            }
        }
        else if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            match_args = PyTuple_New(0);
            if (match_args == NULL) {
                goto fail;
            }
            match_self = PyType_HasFeature((PyTypeObject *)type, _Py_TPFLAGS_MATCH_SELF);
        }
        else {
            goto fail;
        }
        Py_ssize_t allowed = match_self ? 1 : PyTuple_GET_SIZE(match_args);
        if (allowed < nargs) {
            const char *plural = (allowed == 1) ? "" : "s";
            PyErr_Format(PyExc_TypeError,
                         "%s() accepts %zd positional sub-pattern%s (%zd given)",
                         ((PyTypeObject *)type)->tp_name, allowed, plural, nargs);
            goto fail;
        }
        if (match_self) {
            if (PyList_Append(attrs, subject) < 0) {
                goto fail;
            }
        }
        else {
            for (Py_ssize_t i = 0; i < nargs; i++) {
                PyObject *name = PyTuple_GET_ITEM(match_args, i);
                if (!PyUnicode_CheckExact(name)) {
                    PyErr_Format(PyExc_TypeError,
                                 "__match_args__ elements must be strings (got %s)",
                                 Py_TYPE(name)->tp_name);
                    goto fail;
                }
                PyObject *attr = JJ_MatchClassAttr(subject, type, name, seen);
                if (attr == NULL) {
                    goto fail;
                }
                int res = PyList_Append(attrs, attr);
                Py_DECREF(attr);
                if (res < 0) {
                    goto fail;
                }
            }
        }
        Py_CLEAR(match_args);
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwargs); i++) {
        PyObject *name = PyTuple_GET_ITEM(kwargs, i);
        PyObject *attr = JJ_MatchClassAttr(subject, type, name, seen);
        if (attr == NULL) {
            goto fail;
        }
        int res = PyList_Append(attrs, attr);
        Py_DECREF(attr);
        if (res < 0) {
            goto fail;
        }
    }
    Py_SETREF(attrs, PyList_AsTuple(attrs));
    Py_DECREF(seen);
    return attrs;
fail:
    Py_XDECREF(match_args);
    Py_DECREF(seen);
    Py_XDECREF(attrs);
    return NULL;
}

/* MATCH_CLASS: the tuple of extracted attributes, or None when there is no match. */
JJ_FUNC PyObject *JJ_MatchClass(PyObject *subject, PyObject *type, PyObject *names,
                                Py_ssize_t nargs)
{
    PyObject *attrs = JJ_MatchClassImpl(subject, type, nargs, names);
    if (attrs != NULL) {
        return attrs;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Generators                                                                                 */
/*
 * A compiled generator function returns a JJ generator (type `generator` of module `justjit`)
 * that owns the Cython generator running the body. Cython's generator object differs from
 * CPython 3.11's in ways that no code inside the body can fix, because they happen before or
 * after the body runs:
 *  - send(non-None) to a just-started generator: Cython raises the TypeError from inside the
 *    body, which finishes the generator; CPython raises it before starting, and the generator
 *    can still be started;
 *  - close() when the body *returns a value* after catching GeneratorExit: Cython reports
 *    "generator ignored GeneratorExit"; CPython's close() (3.11) discards the value and
 *    returns None;
 *  - throw(): Cython raises the exception with PyErr_SetObject in the *caller*, so it gets the
 *    caller's handled exception as __context__, and an argument that is not an exception is
 *    thrown into the body as a TypeError; CPython validates the arguments first (raising in
 *    the caller, generator untouched), then restores the exception unchanged and chains it
 *    only to the generator's own handled exception (the catch site's JJ_ChainThrown).
 *
 * Why a wrapper and not a state machine of our own: the wrapper only has to get the protocol
 * right (genobject.c's frame states CREATED / SUSPENDED / RUNNING / CLOSED and the order of
 * its checks) and can leave suspending and resuming the body to Cython; next() costs one
 * extra C call. How it resumes the body:
 *  - next() and send() call the Cython generator's tp_iternext / am_send directly;
 *  - throw() and close() into a body suspended at a plain `yield` *send* the exception in a
 *    box (JJ_ThrowBox). The generated code passes every yield's result through JJ_Received,
 *    which raises a boxed exception right at the yield with PyErr_Restore, as CPython's
 *    throw() does;
 *  - while the body delegates (`yield from`, gi_yieldfrom is set), throw() and close() do
 *    genobject.c's delegation themselves (the delegate's throw() or close()), then hand
 *    the outcome to the body in a box through Cython's throw() and the proxy Cython
 *    delegates to (JJ_YieldFromProxy, JJ_GenThrowThroughProxy); the LLVM path's frame
 *    (_jj_rt.c) delegates itself.
 * The wrapper's tp_finalize closes an unfinished body, as _PyGen_Finalize does; the Cython
 * generator's own finalizer is disarmed (JJ_NewGenerator).
 * Residual difference: a StopIteration thrown into a Cython body delegating to an iterator
 * that has no throw() method still gets the caller's handled exception as __context__
 * (Cython raises it: see JJ_GenFinishDelegation).
 *
 * The three types are made once per interpreter and shared by every generated module (they are
 * kept in the interpreter's state dict under JJ_SHARED_TYPES_KEY), as CPython has one
 * generator type. Change the key's version whenever the structs or the behaviour change.
 */

#define JJ_SHARED_TYPES_KEY "justjit.runtime.generator-types.v2"

enum { JJ_GEN_CREATED = 0, JJ_GEN_SUSPENDED = 1, JJ_GEN_RUNNING = 2, JJ_GEN_CLOSED = 3 };

typedef struct {
    PyObject_HEAD
    PyObject *inner;       /* the Cython generator running the body; NULL once closed */
    PyObject *code;        /* gi_code: the original function's code object */
    PyObject *tbcode;      /* the code of traceback entries, and of gi_frame */
    PyObject *state;       /* the function's (globals, builtins, closure) */
    PyObject *name;        /* __name__ */
    PyObject *qualname;    /* __qualname__ */
    PyObject *frame;       /* gi_frame, made on first use */
    PyObject *weakreflist;
    int gen_state;         /* JJ_GEN_* */
} JJ_GenObject;

/* An exception on its way into a suspended body (see JJ_Received). */
typedef struct {
    PyObject_HEAD
    PyObject *type;
    PyObject *value;
    PyObject *tb;
} JJ_ThrowBox;

static PyTypeObject *jj_generator_type = NULL;
static PyTypeObject *jj_throwbox_type = NULL;
static PyTypeObject *jj_yieldfrom_type = NULL;

/* The delegate of a Cython body's `yield from` (see JJ_YieldFromProxy). */
typedef struct {
    PyObject_HEAD
    PyObject *it;     /* what GET_YIELD_FROM_ITER gave */
    int hide_throw;   /* `throw` reads as missing (JJ_GenThrowThroughProxy) */
} JJ_YieldFromObject;

JJ_FUNC void JJ_GenRunningError(void)
{
    PyErr_SetString(PyExc_ValueError, "generator already executing");
}

JJ_FUNC PyObject *JJ_GenGlobals(JJ_GenObject *gen)
{
    PyObject *state = gen->state;
    if (state != NULL && PyTuple_Check(state) && PyTuple_GET_SIZE(state) > 0) {
        return PyTuple_GET_ITEM(state, 0);
    }
    return Py_None;
}

/* The body has finished (or will never run): the generator is closed and lets go of the
   Cython generator (whose body has already released its locals). Keeps a pending exception. */
JJ_FUNC void JJ_GenFinish(JJ_GenObject *gen)
{
    PyObject *inner = gen->inner;
    PyObject *frame = gen->frame;
    gen->gen_state = JJ_GEN_CLOSED;
    gen->inner = NULL;
    gen->frame = NULL;
    if (inner != NULL || frame != NULL) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        Py_XDECREF(inner);
        Py_XDECREF(frame);
        PyErr_Restore(t, v, tb);
    }
}

/* Before the body runs: CPython enters a generator's frame with the recursion check of every
   frame (so nested generators, `yield from` chains included, raise RecursionError instead of
   exhausting the C stack). When it fails, the frame unwinds at once, running nothing, and the
   generator is finished: -1 with the RecursionError. Pair with Py_LeaveRecursiveCall. */
JJ_FUNC int JJ_GenEnter(JJ_GenObject *gen)
{
    if (Py_EnterRecursiveCall("")) {
        JJ_GenFinish(gen);
        return -1;
    }
    return 0;
}

/* Resume the suspended or just-started body with `arg` (a value, or a JJ_ThrowBox). */
JJ_FUNC PySendResult JJ_GenResume(JJ_GenObject *gen, PyObject *arg, PyObject **result)
{
    if (JJ_GenEnter(gen) < 0) {
        *result = NULL;
        return PYGEN_ERROR;
    }
    PyObject *inner = gen->inner;
    Py_INCREF(inner);
    gen->gen_state = JJ_GEN_RUNNING;
    PySendResult status = PyIter_Send(inner, arg, result);
    Py_DECREF(inner);
    Py_LeaveRecursiveCall();
    if (status == PYGEN_NEXT) {
        gen->gen_state = JJ_GEN_SUSPENDED;
    }
    else {
        JJ_GenFinish(gen);
    }
    return status;
}

/* What a method returns for the outcome of one step (gen_send_ex: a return value becomes
   StopIteration(value)). */
JJ_FUNC PyObject *JJ_GenMethodResult(PySendResult status, PyObject *result)
{
    if (status == PYGEN_RETURN) {
        if (result == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            _PyGen_SetStopIterationValue(result);
        }
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* 1 if the body is suspended in a `yield from` (Cython's gi_yieldfrom is set), 0 if not,
   -1 on error. Only for a suspended generator. */
JJ_FUNC int JJ_GenDelegating(JJ_GenObject *gen)
{
    PyObject *yf = PyObject_GetAttr(gen->inner, JJ_ID(gi_yieldfrom));
    if (yf == NULL) {
        return -1;
    }
    int delegating = yf != Py_None;
    Py_DECREF(yf);
    return delegating;
}

/* tp_iternext (gen_iternext) */
JJ_FUNC PyObject *JJ_GenIterNext(PyObject *self)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    if (gen->gen_state >= JJ_GEN_RUNNING) {
        if (gen->gen_state == JJ_GEN_RUNNING) {
            JJ_GenRunningError();
        }
        return NULL;  /* closed: exhausted, no exception */
    }
    if (JJ_GenEnter(gen) < 0) {
        return NULL;
    }
    PyObject *inner = gen->inner;
    Py_INCREF(inner);
    gen->gen_state = JJ_GEN_RUNNING;
    PyObject *result = Py_TYPE(inner)->tp_iternext(inner);
    Py_DECREF(inner);
    Py_LeaveRecursiveCall();
    if (result != NULL) {
        gen->gen_state = JJ_GEN_SUSPENDED;
    }
    else {
        JJ_GenFinish(gen);
    }
    return result;
}

/* am_send (gen_send_ex2's checks, in its order) */
JJ_FUNC PySendResult JJ_GenAmSend(PyObject *self, PyObject *arg, PyObject **result)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    *result = NULL;
    switch (gen->gen_state) {
    case JJ_GEN_CREATED:
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send non-None value to a just-started generator");
            return PYGEN_ERROR;
        }
        break;
    case JJ_GEN_RUNNING:
        JJ_GenRunningError();
        return PYGEN_ERROR;
    case JJ_GEN_CLOSED:
        Py_INCREF(Py_None);
        *result = Py_None;
        return PYGEN_RETURN;
    default:
        break;
    }
    return JJ_GenResume(gen, arg, result);
}

/* send(value) */
JJ_FUNC PyObject *JJ_GenSend(PyObject *self, PyObject *arg)
{
    PyObject *result;
    PySendResult status = JJ_GenAmSend(self, arg, &result);
    return JJ_GenMethodResult(status, result);
}

/* throw()'s own checks of its arguments (the part of _gen_throw after `throw_here`), on new
   references: afterwards *typ is the class, *val the instance and *tb the traceback or NULL.
   Returns -1 (references released) with the TypeError that throw() raises in its caller. */
JJ_FUNC int JJ_NormalizeThrown(PyObject **ptyp, PyObject **pval, PyObject **ptb)
{
    PyObject *typ = *ptyp, *val = *pval, *tb = *ptb;
    if (tb == Py_None) {
        tb = NULL;
    }
    else if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
        return -1;
    }
    Py_INCREF(typ);
    Py_XINCREF(val);
    Py_XINCREF(tb);
    if (PyExceptionClass_Check(typ)) {
        PyErr_NormalizeException(&typ, &val, &tb);
    }
    else if (PyExceptionInstance_Check(typ)) {
        if (val != NULL && val != Py_None) {
            PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
            goto failed;
        }
        Py_XDECREF(val);
        val = typ;
        typ = (PyObject *)Py_TYPE(val);
        Py_INCREF(typ);
        if (tb == NULL) {
            tb = PyException_GetTraceback(val);
        }
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from BaseException, "
                     "not %s", Py_TYPE(typ)->tp_name);
        goto failed;
    }
    *ptyp = typ;
    *pval = val;
    *ptb = tb;
    return 0;
failed:
    Py_DECREF(typ);
    Py_XDECREF(val);
    Py_XDECREF(tb);
    return -1;
}

/* An exception thrown into a generator that has not started: CPython runs the frame, which
   raises at once (a traceback entry on the `def` line, co_firstlineno), the generator is
   finished, and a StopIteration becomes RuntimeError (PEP 479). Steals the references. */
JJ_FUNC void JJ_GenRaiseAtStart(JJ_GenObject *gen, PyObject *typ, PyObject *val, PyObject *tb)
{
    JJ_GenFinish(gen);
    if (val != NULL && PyExceptionInstance_Check(val) && gen->tbcode != NULL &&
        PyCode_Check(gen->tbcode)) {
        if (PyException_SetTraceback(val, tb != NULL ? tb : Py_None) < 0 ||
            JJ_AddTraceback(val, gen->tbcode, JJ_GenGlobals(gen),
                            ((PyCodeObject *)gen->tbcode)->co_firstlineno) < 0) {
            PyErr_Clear();  /* a missing entry never changes what the program does */
        }
        Py_XDECREF(tb);
        tb = PyException_GetTraceback(val);
    }
    PyErr_Restore(typ, val, tb);
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        _PyErr_FormatFromCause(PyExc_RuntimeError, "%s", "generator raised StopIteration");
    }
}

/* A JJ_ThrowBox holding (typ, val, tb); steals the references (released on failure). */
JJ_FUNC PyObject *JJ_NewThrowBox(PyObject *typ, PyObject *val, PyObject *tb)
{
    JJ_ThrowBox *box = PyObject_New(JJ_ThrowBox, jj_throwbox_type);
    if (box == NULL) {
        Py_XDECREF(typ);
        Py_XDECREF(val);
        Py_XDECREF(tb);
        return NULL;
    }
    box->type = typ;
    box->value = val;
    box->tb = tb;
    return (PyObject *)box;
}

/* Throw the exception (typ, val, tb) into the generator, not through a delegate. Steals. */
JJ_FUNC PyObject *JJ_GenThrowHere(JJ_GenObject *gen, PyObject *typ, PyObject *val, PyObject *tb)
{
    switch (gen->gen_state) {
    case JJ_GEN_RUNNING:
        Py_DECREF(typ);
        Py_XDECREF(val);
        Py_XDECREF(tb);
        JJ_GenRunningError();
        return NULL;
    case JJ_GEN_CLOSED:
        PyErr_Restore(typ, val, tb);
        return NULL;
    case JJ_GEN_CREATED:
        JJ_GenRaiseAtStart(gen, typ, val, tb);
        return NULL;
    default:
        break;
    }
    PyObject *box = JJ_NewThrowBox(typ, val, tb);
    if (box == NULL) {
        return NULL;
    }
    PyObject *result;
    PySendResult status = JJ_GenResume(gen, box, &result);
    Py_DECREF(box);
    return JJ_GenMethodResult(status, result);
}

/* Cython's throw(*args), for a generator suspended in a `yield from`. */
JJ_FUNC PyObject *JJ_GenThrowToDelegate(JJ_GenObject *gen, PyObject *const *args,
                                        Py_ssize_t nargs)
{
    PyObject *callargs[4];
    if (JJ_GenEnter(gen) < 0) {
        return NULL;
    }
    PyObject *inner = gen->inner;
    Py_INCREF(inner);
    callargs[0] = inner;
    for (Py_ssize_t i = 0; i < nargs && i < 3; i++) {
        callargs[i + 1] = args[i];
    }
    gen->gen_state = JJ_GEN_RUNNING;
    PyObject *result = PyObject_VectorcallMethod(JJ_ID(throw), callargs, (size_t)nargs + 1,
                                                 NULL);
    gen->gen_state = JJ_GEN_SUSPENDED;
    Py_LeaveRecursiveCall();
    if (result == NULL) {
        /* Finished, except when Cython could not look up the delegate's throw method: then
           the delegate is still set (as in _gen_throw, the generator is left as it was). */
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        int delegating = JJ_GenDelegating(gen);
        if (delegating < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(t, v, tb);
        if (delegating != 1) {
            JJ_GenFinish(gen);
        }
    }
    Py_DECREF(inner);
    return result;
}

/* gen_close_iter for a delegate that is not a generator of CPython's: its close(), if any.
   0, or -1 with the exception close() raised. */
JJ_FUNC int JJ_CloseIter(PyObject *yf)
{
    static PyObject *close_name = NULL;
    if (close_name == NULL && (close_name = PyUnicode_InternFromString("close")) == NULL) {
        return -1;
    }
    PyObject *meth;
    if (_PyObject_LookupAttr(yf, close_name, &meth) < 0) {
        PyErr_WriteUnraisable(yf);
    }
    if (meth == NULL) {
        return 0;
    }
    PyObject *res = PyObject_CallNoArgs(meth);
    Py_DECREF(meth);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* Resume a Cython body suspended in a `yield from` through its proxy with the outcome of the
   delegation in a box: the exception (typ, val, tb) raised at the `yield from`, or, with typ
   NULL, the value `val` the delegate returned. Cython's throw() passes the box to the
   proxy's throw(), which restores the exception (or StopIteration(val)) unchanged, and then
   finishes the delegation as CPython does after a delegate's throw() failed: the value
   becomes the `yield from`'s, the exception is raised there. One outcome cannot go through
   that path: a StopIteration to be raised, which Cython would take for the delegate's
   return. It is raised by Cython's throw() itself (the proxy's `throw` hidden), which also
   chains it to the caller's handled exception. Steals the references. */
JJ_FUNC PyObject *JJ_GenFinishDelegation(JJ_GenObject *gen, JJ_YieldFromObject *proxy,
                                         PyObject *typ, PyObject *val, PyObject *tb)
{
    PyObject *result;
    if (typ != NULL && PyErr_GivenExceptionMatches(typ, PyExc_StopIteration)) {
        PyObject *args[3] = {typ, val != NULL ? val : Py_None, tb != NULL ? tb : Py_None};
        proxy->hide_throw = 1;
        result = JJ_GenThrowToDelegate(gen, args, 3);
        proxy->hide_throw = 0;
        Py_DECREF(typ);
        Py_XDECREF(val);
        Py_XDECREF(tb);
        return result;
    }
    PyObject *box = JJ_NewThrowBox(typ, val, tb);
    if (box == NULL) {
        return NULL;
    }
    result = JJ_GenThrowToDelegate(gen, &box, 1);
    Py_DECREF(box);
    return result;
}

/* Resume a body suspended in a `yield from` with the exception (typ, val, tb) raised there,
   past the delegate (whose throw() or close() was called already). The LLVM path's frame
   (_jj_rt.c) takes such a box in its throw() too. Steals the references. */
JJ_FUNC PyObject *JJ_GenRaiseInDelegation(JJ_GenObject *gen, PyObject *yf, PyObject *typ,
                                          PyObject *val, PyObject *tb)
{
    if (Py_TYPE(yf) == jj_yieldfrom_type) {
        return JJ_GenFinishDelegation(gen, (JJ_YieldFromObject *)yf, typ, val, tb);
    }
    PyObject *box = JJ_NewThrowBox(typ, val, tb);
    if (box == NULL) {
        return NULL;
    }
    PyObject *result = JJ_GenThrowToDelegate(gen, &box, 1);
    Py_DECREF(box);
    return result;
}

/* The pending exception, fetched and normalized, to be raised at the `yield from`. */
JJ_FUNC PyObject *JJ_GenRaiseAtYieldFrom(JJ_GenObject *gen, JJ_YieldFromObject *proxy)
{
    PyObject *typ, *val, *tb;
    PyErr_Fetch(&typ, &val, &tb);
    if (typ == NULL) {
        PyErr_SetString(PyExc_SystemError, "justjit: delegation failed without an exception");
        return NULL;
    }
    PyErr_NormalizeException(&typ, &val, &tb);
    if (tb != NULL && val != NULL && PyExceptionInstance_Check(val)) {
        PyException_SetTraceback(val, tb);
    }
    return JJ_GenFinishDelegation(gen, proxy, typ, val, tb);
}

/* throw() into a Cython body suspended in a `yield from` (the delegate behind `proxy`):
   _gen_throw's delegation, with the delegate's throw() and close() called here. */
JJ_FUNC PyObject *JJ_GenThrowThroughProxy(JJ_GenObject *gen, JJ_YieldFromObject *proxy,
                                          PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : NULL;
    PyObject *tb = nargs > 2 ? args[2] : NULL;
    PyObject *yf = proxy->it;
    if (PyErr_GivenExceptionMatches(typ, PyExc_GeneratorExit)) {
        gen->gen_state = JJ_GEN_RUNNING;
        int err = JJ_CloseIter(yf);
        gen->gen_state = JJ_GEN_SUSPENDED;
        if (err < 0) {
            return JJ_GenRaiseAtYieldFrom(gen, proxy);
        }
    }
    else {
        PyObject *meth;
        if (_PyObject_LookupAttr(yf, JJ_ID(throw), &meth) < 0) {
            return NULL;  /* the generator stays as it was */
        }
        if (meth != NULL) {
            gen->gen_state = JJ_GEN_RUNNING;
            PyObject *ret = PyObject_CallFunctionObjArgs(meth, typ, val, tb, NULL);
            gen->gen_state = JJ_GEN_SUSPENDED;
            Py_DECREF(meth);
            if (ret != NULL) {
                return ret;  /* the delegate yielded: still suspended in the `yield from` */
            }
            PyObject *value;
            if (_PyGen_FetchStopIterationValue(&value) == 0) {
                return JJ_GenFinishDelegation(gen, proxy, NULL, value, NULL);
            }
            return JJ_GenRaiseAtYieldFrom(gen, proxy);
        }
    }
    /* throw_here: the arguments are checked now (an error leaves the generator as it was) */
    if (JJ_NormalizeThrown(&typ, &val, &tb) < 0) {
        return NULL;
    }
    return JJ_GenFinishDelegation(gen, proxy, typ, val, tb);
}

/* throw(type[, value[, tb]]) (gen_throw / _gen_throw) */
JJ_FUNC PyObject *JJ_GenThrow(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    if (nargs < 1) {
        PyErr_Format(PyExc_TypeError, "throw expected at least 1 argument, got %zd", nargs);
        return NULL;
    }
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "throw expected at most 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (gen->gen_state == JJ_GEN_SUSPENDED) {
        PyObject *yf = PyObject_GetAttr(gen->inner, JJ_ID(gi_yieldfrom));
        if (yf == NULL) {
            return NULL;
        }
        if (Py_TYPE(yf) == jj_yieldfrom_type) {  /* a Cython body */
            PyObject *result = JJ_GenThrowThroughProxy(gen, (JJ_YieldFromObject *)yf, args,
                                                       nargs);
            Py_DECREF(yf);
            return result;
        }
        int delegating = yf != Py_None;
        Py_DECREF(yf);
        if (delegating) {
            return JJ_GenThrowToDelegate(gen, args, nargs);
        }
    }
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : NULL;
    PyObject *tb = nargs > 2 ? args[2] : NULL;
    if (JJ_NormalizeThrown(&typ, &val, &tb) < 0) {
        return NULL;
    }
    return JJ_GenThrowHere(gen, typ, val, tb);
}

/* close() (gen_close) */
JJ_FUNC PyObject *JJ_GenClose(PyObject *self, PyObject *unused)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    PyObject *result;
    (void)unused;
    switch (gen->gen_state) {
    case JJ_GEN_RUNNING:
        JJ_GenRunningError();
        return NULL;
    case JJ_GEN_CREATED:
        JJ_GenFinish(gen);  /* GeneratorExit at the first instruction: nothing runs */
        Py_RETURN_NONE;
    case JJ_GEN_CLOSED:
        Py_RETURN_NONE;
    default:
        break;
    }
    PyObject *yf = PyObject_GetAttr(gen->inner, JJ_ID(gi_yieldfrom));
    if (yf == NULL) {
        return NULL;
    }
    if (yf != Py_None) {
        /* As gen_close: the delegate's close() first; then GeneratorExit (chained to the
           caller's handled exception), or the exception close() raised, at the yield from. */
        PyObject *delegate = Py_TYPE(yf) == jj_yieldfrom_type ? ((JJ_YieldFromObject *)yf)->it
                                                              : yf;
        gen->gen_state = JJ_GEN_RUNNING;
        int err = JJ_CloseIter(delegate);
        gen->gen_state = JJ_GEN_SUSPENDED;
        if (err == 0) {
            PyErr_SetNone(PyExc_GeneratorExit);
        }
        PyObject *typ, *val, *tb;
        PyErr_Fetch(&typ, &val, &tb);
        PyErr_NormalizeException(&typ, &val, &tb);
        if (tb != NULL && val != NULL && PyExceptionInstance_Check(val)) {
            PyException_SetTraceback(val, tb);
        }
        result = JJ_GenRaiseInDelegation(gen, yf, typ, val, tb);
        Py_DECREF(yf);
    }
    else {
        Py_DECREF(yf);
        /* As gen_close: PyErr_SetNone (chained to the caller's handled exception). */
        PyObject *typ, *val, *tb;
        PyErr_SetNone(PyExc_GeneratorExit);
        PyErr_Fetch(&typ, &val, &tb);
        PyErr_NormalizeException(&typ, &val, &tb);
        result = JJ_GenThrowHere(gen, typ, val, tb);
    }
    if (result != NULL) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_RuntimeError, "generator ignored GeneratorExit");
        return NULL;
    }
    if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_StopIteration) ||
        PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();  /* a return (3.11 drops its value) or the GeneratorExit itself */
        Py_RETURN_NONE;
    }
    return NULL;
}

/* tp_finalize (_PyGen_Finalize): close a generator that is dropped before it finished. */
JJ_FUNC void JJ_GenFinalize(PyObject *self)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    if (gen->gen_state == JJ_GEN_CLOSED || gen->inner == NULL) {
        return;
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyObject *res = JJ_GenClose(self, NULL);
    if (res == NULL) {
        if (PyErr_Occurred()) {
            PyErr_WriteUnraisable(self);
        }
    }
    else {
        Py_DECREF(res);
    }
    PyErr_Restore(t, v, tb);
}

JJ_FUNC int JJ_GenTraverse(PyObject *self, visitproc visit, void *arg)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(gen->inner);
    Py_VISIT(gen->code);
    Py_VISIT(gen->tbcode);
    Py_VISIT(gen->state);
    Py_VISIT(gen->name);
    Py_VISIT(gen->qualname);
    Py_VISIT(gen->frame);
    return 0;
}

JJ_FUNC int JJ_GenClear(PyObject *self)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    gen->gen_state = JJ_GEN_CLOSED;
    Py_CLEAR(gen->inner);
    Py_CLEAR(gen->frame);
    Py_CLEAR(gen->state);
    Py_CLEAR(gen->code);
    Py_CLEAR(gen->tbcode);
    return 0;
}

JJ_FUNC void JJ_GenDealloc(PyObject *self)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (gen->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    if (gen->gen_state != JJ_GEN_CLOSED) {
        PyObject_GC_Track(self);
        if (PyObject_CallFinalizerFromDealloc(self) < 0) {
            return;  /* resurrected */
        }
        PyObject_GC_UnTrack(self);
    }
    JJ_GenClear(self);
    Py_CLEAR(gen->name);
    Py_CLEAR(gen->qualname);
    tp->tp_free(self);
    Py_DECREF(tp);
}

JJ_FUNC PyObject *JJ_GenRepr(PyObject *self)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    return PyUnicode_FromFormat("<generator object %S at %p>", gen->qualname, self);
}

JJ_FUNC PyObject *JJ_GenGetName(PyObject *self, void *context)
{
    (void)context;
    return Py_NewRef(((JJ_GenObject *)self)->name);
}

JJ_FUNC int JJ_GenSetName(PyObject *self, PyObject *value, void *context)
{
    (void)context;
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "__name__ must be set to a string object");
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(((JJ_GenObject *)self)->name, value);
    return 0;
}

JJ_FUNC PyObject *JJ_GenGetQualname(PyObject *self, void *context)
{
    (void)context;
    return Py_NewRef(((JJ_GenObject *)self)->qualname);
}

JJ_FUNC int JJ_GenSetQualname(PyObject *self, PyObject *value, void *context)
{
    (void)context;
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "__qualname__ must be set to a string object");
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(((JJ_GenObject *)self)->qualname, value);
    return 0;
}

JJ_FUNC PyObject *JJ_GenGetRunning(PyObject *self, void *context)
{
    (void)context;
    return PyBool_FromLong(((JJ_GenObject *)self)->gen_state == JJ_GEN_RUNNING);
}

JJ_FUNC PyObject *JJ_GenGetSuspended(PyObject *self, void *context)
{
    (void)context;
    return PyBool_FromLong(((JJ_GenObject *)self)->gen_state == JJ_GEN_SUSPENDED);
}

JJ_FUNC PyObject *JJ_GenGetCode(PyObject *self, void *context)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    (void)context;
    return Py_NewRef(gen->code != NULL ? gen->code : Py_None);
}

/* gi_frame: None once closed; before, a frame named like the function (there is no real
   interpreter frame: it has no locals and its line is the function's first line). */
JJ_FUNC PyObject *JJ_GenGetFrame(PyObject *self, void *context)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    (void)context;
    if (gen->gen_state == JJ_GEN_CLOSED) {
        Py_RETURN_NONE;
    }
    if (gen->frame == NULL) {
        PyObject *globals = JJ_GenGlobals(gen);
        if (gen->tbcode == NULL || !PyCode_Check(gen->tbcode) || !PyDict_Check(globals)) {
            Py_RETURN_NONE;
        }
        gen->frame = (PyObject *)PyFrame_New(PyThreadState_GET(), (PyCodeObject *)gen->tbcode,
                                             globals, NULL);
        if (gen->frame == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(gen->frame);
}

/* gi_yieldfrom: the delegate while suspended in a `yield from`, else None. */
JJ_FUNC PyObject *JJ_GenGetYieldFrom(PyObject *self, void *context)
{
    JJ_GenObject *gen = (JJ_GenObject *)self;
    (void)context;
    if (gen->gen_state != JJ_GEN_SUSPENDED) {
        Py_RETURN_NONE;
    }
    PyObject *yf = PyObject_GetAttr(gen->inner, JJ_ID(gi_yieldfrom));
    if (yf != NULL && Py_TYPE(yf) == jj_yieldfrom_type) {
        Py_SETREF(yf, Py_NewRef(((JJ_YieldFromObject *)yf)->it));
    }
    return yf;
}

static PyMethodDef jj_gen_methods[] = {
    {"send", (PyCFunction)JJ_GenSend, METH_O,
     "send(arg) -> send 'arg' into generator,\nreturn next yielded value or raise StopIteration."},
    {"throw", (PyCFunction)(void (*)(void))JJ_GenThrow, METH_FASTCALL,
     "throw(value)\nthrow(type[,value[,tb]])\n\nRaise exception in generator, return next "
     "yielded value or raise\nStopIteration."},
    {"close", (PyCFunction)JJ_GenClose, METH_NOARGS,
     "close() -> raise GeneratorExit inside generator."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef jj_gen_getset[] = {
    {"__name__", JJ_GenGetName, JJ_GenSetName, "name of the generator", NULL},
    {"__qualname__", JJ_GenGetQualname, JJ_GenSetQualname,
     "qualified name of the generator", NULL},
    {"gi_yieldfrom", JJ_GenGetYieldFrom, NULL,
     "object being iterated by yield from, or None", NULL},
    {"gi_running", JJ_GenGetRunning, NULL, NULL, NULL},
    {"gi_frame", JJ_GenGetFrame, NULL, NULL, NULL},
    {"gi_suspended", JJ_GenGetSuspended, NULL, NULL, NULL},
    {"gi_code", JJ_GenGetCode, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef jj_gen_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(JJ_GenObject, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot jj_gen_slots[] = {
    {Py_tp_dealloc, (void *)JJ_GenDealloc},
    {Py_tp_repr, (void *)JJ_GenRepr},
    {Py_tp_traverse, (void *)JJ_GenTraverse},
    {Py_tp_clear, (void *)JJ_GenClear},
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)JJ_GenIterNext},
    {Py_tp_methods, (void *)jj_gen_methods},
    {Py_tp_getset, (void *)jj_gen_getset},
    {Py_tp_members, (void *)jj_gen_members},
    {Py_tp_finalize, (void *)JJ_GenFinalize},
    {Py_am_send, (void *)JJ_GenAmSend},
    {0, NULL},
};

static PyType_Spec jj_gen_spec = {
    "justjit.generator", sizeof(JJ_GenObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION, jj_gen_slots,
};

JJ_FUNC void JJ_ThrowBoxDealloc(PyObject *self)
{
    JJ_ThrowBox *box = (JJ_ThrowBox *)self;
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(box->type);
    Py_CLEAR(box->value);
    Py_CLEAR(box->tb);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot jj_throwbox_slots[] = {
    {Py_tp_dealloc, (void *)JJ_ThrowBoxDealloc},
    {0, NULL},
};

static PyType_Spec jj_throwbox_spec = {
    "justjit.throw_box", sizeof(JJ_ThrowBox), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, jj_throwbox_slots,
};

/* The proxy of a Cython body's `yield from` delegate (JJ_YieldFromProxy). Cython drives it
   as its `yield from` source; it answers as CPython's SEND and _gen_throw treat the delegate:
 *  - iter() is itself: the delegate was iter()ed once already (GET_YIELD_FROM_ITER), which
 *    is all CPython does;
 *  - am_send / tp_iternext are PyIter_Send on the delegate (SEND);
 *  - close() is gen_close_iter on the delegate (its close(), if it has one);
 *  - throw(box) is how the generator object's throw() (JJ_GenThrowThroughProxy, which calls
 *    the delegate's throw() itself) hands the outcome over: the box's exception is restored
 *    unchanged, or StopIteration(value) for a value the delegate returned, and Cython then
 *    ends the delegation as CPython does (the value becomes the `yield from`'s; an exception
 *    is raised at the `yield from` without being chained to the caller's handled one). Any
 *    other throw(*args) is _gen_throw's for a delegate that is not a generator.
 * gi_yieldfrom shows the delegate, not the proxy. */
JJ_FUNC PyObject *JJ_YieldFromProxy(PyObject *it)
{
    JJ_YieldFromObject *proxy = PyObject_GC_New(JJ_YieldFromObject, jj_yieldfrom_type);
    if (proxy == NULL) {
        return NULL;
    }
    proxy->it = Py_NewRef(it);
    proxy->hide_throw = 0;
    PyObject_GC_Track(proxy);
    return (PyObject *)proxy;
}

JJ_FUNC PySendResult JJ_YieldFromSend(PyObject *self, PyObject *arg, PyObject **result)
{
    return PyIter_Send(((JJ_YieldFromObject *)self)->it, arg, result);
}

JJ_FUNC PyObject *JJ_YieldFromNext(PyObject *self)
{
    PyObject *result;
    PySendResult status = JJ_YieldFromSend(self, Py_None, &result);
    if (status == PYGEN_RETURN) {
        if (result != Py_None) {
            _PyGen_SetStopIterationValue(result);
        }
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

JJ_FUNC PyObject *JJ_YieldFromThrow(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    JJ_YieldFromObject *proxy = (JJ_YieldFromObject *)self;
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "throw expected 1 to 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (Py_TYPE(args[0]) == jj_throwbox_type) {
        JJ_ThrowBox *box = (JJ_ThrowBox *)args[0];
        if (box->type == NULL) {  /* the delegate returned box->value */
            _PyGen_SetStopIterationValue(box->value != NULL ? box->value : Py_None);
            return NULL;
        }
        Py_INCREF(box->type);
        Py_XINCREF(box->value);
        Py_XINCREF(box->tb);
        PyErr_Restore(box->type, box->value, box->tb);
        return NULL;
    }
    PyObject *meth;
    if (_PyObject_LookupAttr(proxy->it, JJ_ID(throw), &meth) < 0) {
        return NULL;
    }
    if (meth != NULL) {
        PyObject *res = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
        Py_DECREF(meth);
        return res;
    }
    PyObject *typ = args[0], *val = nargs > 1 ? args[1] : NULL, *tb = nargs > 2 ? args[2] : NULL;
    if (JJ_NormalizeThrown(&typ, &val, &tb) < 0) {
        return NULL;
    }
    PyErr_Restore(typ, val, tb);
    return NULL;
}

JJ_FUNC PyObject *JJ_YieldFromClose(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (JJ_CloseIter(((JJ_YieldFromObject *)self)->it) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

JJ_FUNC PyObject *JJ_YieldFromGetAttr(PyObject *self, PyObject *name)
{
    if (((JJ_YieldFromObject *)self)->hide_throw && PyUnicode_Check(name) &&
        PyUnicode_CompareWithASCIIString(name, "throw") == 0) {
        PyErr_SetObject(PyExc_AttributeError, name);
        return NULL;
    }
    return PyObject_GenericGetAttr(self, name);
}

JJ_FUNC int JJ_YieldFromTraverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((JJ_YieldFromObject *)self)->it);
    return 0;
}

JJ_FUNC int JJ_YieldFromClear(PyObject *self)
{
    Py_CLEAR(((JJ_YieldFromObject *)self)->it);
    return 0;
}

JJ_FUNC void JJ_YieldFromDealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    JJ_YieldFromClear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef jj_yieldfrom_methods[] = {
    {"throw", (PyCFunction)(void (*)(void))JJ_YieldFromThrow, METH_FASTCALL, NULL},
    {"close", (PyCFunction)JJ_YieldFromClose, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot jj_yieldfrom_slots[] = {
    {Py_tp_dealloc, (void *)JJ_YieldFromDealloc},
    {Py_tp_traverse, (void *)JJ_YieldFromTraverse},
    {Py_tp_clear, (void *)JJ_YieldFromClear},
    {Py_tp_getattro, (void *)JJ_YieldFromGetAttr},
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)JJ_YieldFromNext},
    {Py_tp_methods, (void *)jj_yieldfrom_methods},
    {Py_am_send, (void *)JJ_YieldFromSend},
    {0, NULL},
};

static PyType_Spec jj_yieldfrom_spec = {
    "justjit.yield_from", sizeof(JJ_YieldFromObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    jj_yieldfrom_slots,
};

/* Find (or make, the first time in this interpreter) the shared generator types. Called by
   the __jj_init of modules that make generators only (after JJ_InitRuntime): referencing it
   compiles the generator types and all their methods, 0.12-0.14 s of gcc per module. */
JJ_FUNC int JJ_InitGenerators(void)
{
    if (jj_generator_type != NULL) {
        return 0;
    }
    PyObject *dict = PyInterpreterState_GetDict(PyInterpreterState_Get());
    if (dict == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "justjit: no interpreter state dict");
        }
        return -1;
    }
    PyObject *key = PyUnicode_InternFromString(JJ_SHARED_TYPES_KEY);
    if (key == NULL) {
        return -1;
    }
    PyObject *types = PyDict_GetItemWithError(dict, key);  /* borrowed */
    Py_XINCREF(types);
    if (types == NULL && !PyErr_Occurred()) {
        PyObject *gen_type = PyType_FromSpec(&jj_gen_spec);
        PyObject *box_type = gen_type ? PyType_FromSpec(&jj_throwbox_spec) : NULL;
        PyObject *yf_type = box_type ? PyType_FromSpec(&jj_yieldfrom_spec) : NULL;
        if (gen_type != NULL) {
            /* Error messages name CPython's generator type 'generator' (tp_name); the module
               is still `justjit` (__module__). */
            const char *dot = strrchr(((PyTypeObject *)gen_type)->tp_name, '.');
            if (dot != NULL) {
                ((PyTypeObject *)gen_type)->tp_name = dot + 1;
            }
        }
        if (yf_type != NULL) {
            types = PyTuple_Pack(3, gen_type, box_type, yf_type);
        }
        Py_XDECREF(gen_type);
        Py_XDECREF(box_type);
        Py_XDECREF(yf_type);
        if (types != NULL && PyDict_SetItem(dict, key, types) < 0) {
            Py_CLEAR(types);
        }
    }
    Py_DECREF(key);
    if (types == NULL) {
        return -1;
    }
    if (!PyTuple_Check(types) || PyTuple_GET_SIZE(types) != 3 ||
        !PyType_Check(PyTuple_GET_ITEM(types, 0)) || !PyType_Check(PyTuple_GET_ITEM(types, 1)) ||
        !PyType_Check(PyTuple_GET_ITEM(types, 2))) {
        Py_DECREF(types);
        PyErr_SetString(PyExc_RuntimeError, "justjit: corrupt shared generator types");
        return -1;
    }
    jj_generator_type = (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 0));
    jj_throwbox_type = (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 1));
    jj_yieldfrom_type = (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 2));
    Py_DECREF(types);
    return 0;
}

/* The generator object a compiled generator function returns: `inner` is the Cython
   generator of the body; `code` is gi_code; `tbcode` names traceback entries and gi_frame;
   `state` is the function's (globals, builtins, closure). */
JJ_FUNC PyObject *JJ_NewGenerator(PyObject *inner, PyObject *code, PyObject *tbcode,
                                  PyObject *state, PyObject *name, PyObject *qualname)
{
    if (jj_generator_type == NULL) {
        PyErr_SetString(PyExc_SystemError, "justjit: runtime not initialised");
        return NULL;
    }
    JJ_GenObject *gen = PyObject_GC_New(JJ_GenObject, jj_generator_type);
    if (gen == NULL) {
        return NULL;
    }
    gen->inner = Py_NewRef(inner);
    gen->code = Py_NewRef(code);
    gen->tbcode = Py_NewRef(tbcode);
    gen->state = Py_NewRef(state);
    gen->name = Py_NewRef(name);
    gen->qualname = Py_NewRef(qualname);
    gen->frame = NULL;
    gen->weakreflist = NULL;
    gen->gen_state = JJ_GEN_CREATED;
    /* The wrapper alone closes the body (JJ_GenFinalize). Running the Cython generator's own
       finalizer now, while it has not started, does nothing but mark it finalized, so that
       neither its deallocation nor the garbage collector (which finalizes the objects of a
       cycle in no particular order) ever runs Cython's close() on it. */
    if (!PyErr_Occurred()) {
        PyObject_CallFinalizer(inner);
    }
    PyObject_GC_Track(gen);
    return (PyObject *)gen;
}

/* The value a `yield` received: the value itself (new reference), or NULL with the exception
   that throw()/close() sent in a JJ_ThrowBox restored unchanged (the catch site chains it to
   the generator's handled exception, JJ_ChainThrown). */
JJ_FUNC PyObject *JJ_Received(PyObject *value)
{
    if (Py_TYPE(value) == jj_throwbox_type) {
        JJ_ThrowBox *box = (JJ_ThrowBox *)value;
        PyObject *typ = box->type, *val = box->value, *tb = box->tb;
        box->type = box->value = box->tb = NULL;
        if (typ == NULL) {
            PyErr_SetString(PyExc_SystemError, "justjit: thrown exception delivered twice");
            return NULL;
        }
        PyErr_Restore(typ, val, tb);
        return NULL;
    }
    Py_INCREF(value);
    return value;
}

/* ------------------------------------------------------------------------------------------ */
/* Fast paths                                                                                 */
/*
 * What CPython 3.11's specializing interpreter does for common operand types, with the same
 * results. Each helper handles a few exact builtin types inline and otherwise calls the generic
 * C-API function that ceval.c calls; a fast path never raises: wherever the result could be an
 * error (a zero divisor, an index out of range, a value too large), the generic call runs and
 * raises what CPython raises. Only exact int and float are handled (never subclasses, never
 * bool), whose objects have no finalizer and no weak references, so the lifetime of an operand
 * is unobservable.
 *
 * The caches (JJ_GlobalCache, JJ_AttrCache, JJ_CallCache) are static per generated module, one
 * per site, zero-initialized. They are keyed by a dict's ma_version_tag: CPython 3.11 gives every
 * dict a new tag, from one process-wide counter, whenever the dict is created or changed, so an
 * unchanged tag means the very same dict with the very same contents, and a value read from it
 * then is still held by it (the caches keep borrowed references). Only exact dicts are cached;
 * a dict subclass always takes the generic path (its __getitem__/__missing__ run as usual).
 */

#if PyLong_SHIFT > 31
#error "jj_runtime.h expects int digits of at most 31 bits"
#endif

/* An exact int's object of at most one digit ("medium" in longobject.c) and its value. */
#define JJ_MEDIUM(o) ((size_t)(Py_SIZE(o) + 1) <= 2u)
#define JJ_MEDIUM_VALUE(o) ((long long)Py_SIZE(o) * (long long)((PyLongObject *)(o))->ob_digit[0])
/* At most two digits: |value| < 2**(2*PyLong_SHIFT) <= 2**62, so a sum or difference of two
   such values fits a long long. */
#define JJ_TWO_DIGITS(o) ((size_t)(Py_SIZE(o) + 2) <= 4u)

JJ_INLINE long long JJ_TwoDigitValue(PyObject *o)
{
    Py_ssize_t size = Py_SIZE(o);
    const digit *d = ((PyLongObject *)o)->ob_digit;
    long long v;
    if (size == 0) {
        return 0;
    }
    if (size == 1 || size == -1) {
        v = (long long)d[0];
    }
    else {
        v = (long long)d[0] | ((long long)d[1] << PyLong_SHIFT);
    }
    return size < 0 ? -v : v;
}

/* Both operands as C doubles, when both are exact floats or one is an exact float and the other
   an exact medium int (exactly representable: what float's CONVERT_TO_DOUBLE gives; an int on
   the left reaches float's slot through binary_op1 with the same operand order). */
JJ_INLINE int JJ_BothDoubles(PyObject *a, PyObject *b, double *x, double *y)
{
    if (PyFloat_CheckExact(a)) {
        *x = PyFloat_AS_DOUBLE(a);
        if (PyFloat_CheckExact(b)) {
            *y = PyFloat_AS_DOUBLE(b);
            return 1;
        }
        if (PyLong_CheckExact(b) && JJ_MEDIUM(b)) {
            *y = (double)JJ_MEDIUM_VALUE(b);
            return 1;
        }
        return 0;
    }
    if (PyFloat_CheckExact(b) && PyLong_CheckExact(a) && JJ_MEDIUM(a)) {
        *x = (double)JJ_MEDIUM_VALUE(a);
        *y = PyFloat_AS_DOUBLE(b);
        return 1;
    }
    return 0;
}

#define JJ_BOTH_INTS(a, b) (PyLong_CheckExact(a) && PyLong_CheckExact(b))

/* Each operator below is a small always-inline part for the commonest case (e.g. both
   operands exact floats, or both exact medium ints) and an out-of-line part for everything
   else (JJ_INLINE / JJ_NOINLINE): the inline part stays small where a function has hundreds of
   operations, which is where compilers stop inlining on their own. */

/* a OP b: inline, exact floats and medium ints of one type; out of line, ints that FITS (their
   VALUE, so that the result fits int64), an int and a float, then GENERIC. */
#define JJ_DEFINE_ARITH(NAME, GENERIC, OP, FITS, VALUE)                                        \
    JJ_NOINLINE PyObject *NAME##_Slow(PyObject *a, PyObject *b)                                \
    {                                                                                          \
        double x, y;                                                                           \
        if (JJ_BOTH_INTS(a, b)) {                                                              \
            if (FITS(a) && FITS(b)) {                                                          \
                return PyLong_FromLongLong(VALUE(a) OP VALUE(b));                              \
            }                                                                                  \
        }                                                                                      \
        else if (JJ_BothDoubles(a, b, &x, &y)) {                                               \
            return PyFloat_FromDouble(x OP y);                                                 \
        }                                                                                      \
        return GENERIC(a, b);                                                                  \
    }                                                                                          \
    JJ_INLINE PyObject *NAME(PyObject *a, PyObject *b)                                         \
    {                                                                                          \
        PyTypeObject *t = Py_TYPE(a);                                                          \
        if (t == Py_TYPE(b)) {                                                                 \
            if (t == &PyFloat_Type) {                                                          \
                return PyFloat_FromDouble(PyFloat_AS_DOUBLE(a) OP PyFloat_AS_DOUBLE(b));       \
            }                                                                                  \
            if (t != &PyLong_Type) {                                                           \
                return GENERIC(a, b);                                                          \
            }                                                                                  \
            if (JJ_MEDIUM(a) && JJ_MEDIUM(b)) {                                                \
                return PyLong_FromLongLong(JJ_MEDIUM_VALUE(a) OP JJ_MEDIUM_VALUE(b));          \
            }                                                                                  \
        }                                                                                      \
        return NAME##_Slow(a, b);                                                              \
    }

/* + and - (BINARY_OP_ADD_INT, BINARY_OP_ADD_FLOAT, ...): ints of up to two digits, floats. */
#define JJ_DEFINE_ADDSUB(NAME, GENERIC, OP) \
    JJ_DEFINE_ARITH(NAME, GENERIC, OP, JJ_TWO_DIGITS, JJ_TwoDigitValue)

/* * (long_mul's own fast path for medium ints; float_mul). */
#define JJ_DEFINE_MUL(NAME, GENERIC) JJ_DEFINE_ARITH(NAME, GENERIC, *, JJ_MEDIUM, JJ_MEDIUM_VALUE)

/* / : medium ints (long_true_divide's fast path: both exactly representable, one correctly
   rounded division; the sign of a zero result is the quotient's, as in IEEE) and floats
   (float_div), never by zero. */
#define JJ_DEFINE_TRUEDIV(NAME, GENERIC)                                                       \
    JJ_NOINLINE PyObject *NAME##_Slow(PyObject *a, PyObject *b)                                \
    {                                                                                          \
        double x, y;                                                                           \
        if (JJ_BOTH_INTS(a, b)) {                                                              \
            if (JJ_MEDIUM(a) && JJ_MEDIUM(b) && Py_SIZE(b) != 0) {                             \
                return PyFloat_FromDouble((double)JJ_MEDIUM_VALUE(a) /                         \
                                          (double)JJ_MEDIUM_VALUE(b));                         \
            }                                                                                  \
        }                                                                                      \
        else if (JJ_BothDoubles(a, b, &x, &y) && y != 0.0) {                                   \
            return PyFloat_FromDouble(x / y);                                                  \
        }                                                                                      \
        return GENERIC(a, b);                                                                  \
    }                                                                                          \
    JJ_INLINE PyObject *NAME(PyObject *a, PyObject *b)                                         \
    {                                                                                          \
        PyTypeObject *t = Py_TYPE(a);                                                          \
        if (t == Py_TYPE(b)) {                                                                 \
            if (t == &PyFloat_Type && PyFloat_AS_DOUBLE(b) != 0.0) {                           \
                return PyFloat_FromDouble(PyFloat_AS_DOUBLE(a) / PyFloat_AS_DOUBLE(b));        \
            }                                                                                  \
            if (t != &PyLong_Type) {                                                           \
                return GENERIC(a, b);                                                          \
            }                                                                                  \
        }                                                                                      \
        return NAME##_Slow(a, b);                                                              \
    }

/* // and % of medium ints, rounding towards minus infinity (l_divmod), never by zero. */
JJ_INLINE long long JJ_FloorDivValue(long long x, long long y)
{
    long long q = x / y;
    if (x % y != 0 && ((x < 0) != (y < 0))) {
        q -= 1;
    }
    return q;
}

JJ_INLINE long long JJ_ModValue(long long x, long long y)
{
    long long r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
        r += y;
    }
    return r;
}

#define JJ_DEFINE_INTDIV(NAME, GENERIC, FUNC)                                                  \
    JJ_INLINE PyObject *NAME(PyObject *a, PyObject *b)                                         \
    {                                                                                          \
        if (JJ_BOTH_INTS(a, b) && JJ_MEDIUM(a) && JJ_MEDIUM(b) && Py_SIZE(b) != 0) {           \
            return PyLong_FromLongLong(FUNC(JJ_MEDIUM_VALUE(a), JJ_MEDIUM_VALUE(b)));          \
        }                                                                                      \
        return GENERIC(a, b);                                                                  \
    }

/* int and float have no in-place slots: `a += b` on them is `a + b` (binary_iop1 falls back to
   the binary slot), so the in-place helpers share the fast paths. */
JJ_DEFINE_ADDSUB(JJ_Add, PyNumber_Add, +)
JJ_DEFINE_ADDSUB(JJ_InPlaceAdd, PyNumber_InPlaceAdd, +)
JJ_DEFINE_ADDSUB(JJ_Subtract, PyNumber_Subtract, -)
JJ_DEFINE_ADDSUB(JJ_InPlaceSubtract, PyNumber_InPlaceSubtract, -)
JJ_DEFINE_MUL(JJ_Multiply, PyNumber_Multiply)
JJ_DEFINE_MUL(JJ_InPlaceMultiply, PyNumber_InPlaceMultiply)
JJ_DEFINE_TRUEDIV(JJ_TrueDivide, PyNumber_TrueDivide)
JJ_DEFINE_TRUEDIV(JJ_InPlaceTrueDivide, PyNumber_InPlaceTrueDivide)
JJ_DEFINE_INTDIV(JJ_FloorDivide, PyNumber_FloorDivide, JJ_FloorDivValue)
JJ_DEFINE_INTDIV(JJ_InPlaceFloorDivide, PyNumber_InPlaceFloorDivide, JJ_FloorDivValue)
JJ_DEFINE_INTDIV(JJ_Remainder, PyNumber_Remainder, JJ_ModValue)
JJ_DEFINE_INTDIV(JJ_InPlaceRemainder, PyNumber_InPlaceRemainder, JJ_ModValue)

/* The same operators when an operand is a temporary that dies here (`dying`: 1 the left one,
   2 the right one, 3 both; a constant where this is inlined): a float result is written into
   that operand's object instead of a new one when the temporary holds its only reference (as
   CPython 3.12's BINARY_OP_*_FLOAT do). Nothing can tell: the old value is unreachable, floats
   have no weak references, and the result is the same float value. */
#define JJ_DEFINE_REUSE(NAME, OP, NONZERO)                                                     \
    JJ_INLINE PyObject *NAME##_Reuse(PyObject *a, PyObject *b, int dying)                      \
    {                                                                                          \
        if (Py_IS_TYPE(a, &PyFloat_Type) && Py_IS_TYPE(b, &PyFloat_Type) &&                    \
            (!(NONZERO) || PyFloat_AS_DOUBLE(b) != 0.0)) {                                     \
            double r = PyFloat_AS_DOUBLE(a) OP PyFloat_AS_DOUBLE(b);                           \
            PyObject *into = ((dying & 1) && Py_REFCNT(a) == 1) ? a                            \
                             : ((dying & 2) && Py_REFCNT(b) == 1) ? b : NULL;                  \
            if (into != NULL) {                                                                \
                ((PyFloatObject *)into)->ob_fval = r;                                          \
                Py_INCREF(into);                                                               \
                return into;                                                                   \
            }                                                                                  \
            return PyFloat_FromDouble(r);                                                      \
        }                                                                                      \
        return NAME(a, b);                                                                     \
    }

JJ_DEFINE_REUSE(JJ_Add, +, 0)
JJ_DEFINE_REUSE(JJ_InPlaceAdd, +, 0)
JJ_DEFINE_REUSE(JJ_Subtract, -, 0)
JJ_DEFINE_REUSE(JJ_InPlaceSubtract, -, 0)
JJ_DEFINE_REUSE(JJ_Multiply, *, 0)
JJ_DEFINE_REUSE(JJ_InPlaceMultiply, *, 0)
JJ_DEFINE_REUSE(JJ_TrueDivide, /, 1)
JJ_DEFINE_REUSE(JJ_InPlaceTrueDivide, /, 1)

#define JJ_CMP(x, y, op)                                                                       \
    switch (op) {                                                                              \
    case Py_LT: return (x) < (y);                                                              \
    case Py_LE: return (x) <= (y);                                                             \
    case Py_EQ: return (x) == (y);                                                             \
    case Py_NE: return (x) != (y);                                                             \
    case Py_GT: return (x) > (y);                                                              \
    default: return (x) >= (y);                                                                \
    }

JJ_NOINLINE int JJ_CompareFastSlow(PyObject *a, PyObject *b, int op)
{
    double x, y;
    if (JJ_BOTH_INTS(a, b)) {
        if (JJ_TWO_DIGITS(a) && JJ_TWO_DIGITS(b)) {
            long long i = JJ_TwoDigitValue(a), j = JJ_TwoDigitValue(b);
            JJ_CMP(i, j, op)
        }
        return -1;
    }
    if (JJ_BothDoubles(a, b, &x, &y)) {
        JJ_CMP(x, y, op)
    }
    return -1;
}

/* COMPARE_OP on ints of up to two digits (long_richcompare) or on floats and medium ints
   (float_richcompare: such an int converts exactly, and a NaN or an infinity compares with it
   as with any finite value): the truth of `a op b`; -1 (never an exception) for any other
   operands. `op` is a constant where this is inlined. */
JJ_INLINE int JJ_CompareFast(PyObject *a, PyObject *b, int op)
{
    PyTypeObject *t = Py_TYPE(a);
    if (t == Py_TYPE(b)) {
        if (t == &PyLong_Type && JJ_MEDIUM(a) && JJ_MEDIUM(b)) {
            long long i = JJ_MEDIUM_VALUE(a), j = JJ_MEDIUM_VALUE(b);
            JJ_CMP(i, j, op)
        }
        if (t == &PyFloat_Type) {
            double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
            JJ_CMP(x, y, op)
        }
        if (t != &PyLong_Type) {
            return -1;
        }
    }
    return JJ_CompareFastSlow(a, b, op);
}

/* COMPARE_OP */
JJ_INLINE PyObject *JJ_RichCompare(PyObject *a, PyObject *b, int op)
{
    int r = JJ_CompareFast(a, b, op);
    if (r >= 0) {
        PyObject *res = r ? Py_True : Py_False;
        Py_INCREF(res);
        return res;
    }
    return PyObject_RichCompare(a, b, op);
}

JJ_NOINLINE int JJ_IsTrueSlow(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyFloat_Type) {
        return PyFloat_AS_DOUBLE(o) != 0.0;
    }
    if (t == &PyList_Type || t == &PyTuple_Type) {
        return Py_SIZE(o) != 0;
    }
    if (t == &PyDict_Type) {
        return PyDict_GET_SIZE(o) != 0;
    }
    return PyObject_IsTrue(o);
}

/* The truth test of POP_JUMP_IF_TRUE/FALSE: PyObject_IsTrue, without the call for the
   singletons and exact ints, floats, lists, tuples and dicts (their nb_bool / length). */
JJ_INLINE int JJ_IsTrue(PyObject *o)
{
    if (o == Py_True) {
        return 1;
    }
    if (o == Py_False || o == Py_None) {
        return 0;
    }
    if (Py_IS_TYPE(o, &PyLong_Type)) {
        return Py_SIZE(o) != 0;
    }
    return JJ_IsTrueSlow(o);
}

/* BINARY_SUBSCR: an exact list or tuple with an exact medium int index in range (negative
   indices count from the end, as list_subscript does). */
JJ_INLINE PyObject *JJ_GetItem(PyObject *o, PyObject *key)
{
    PyTypeObject *t = Py_TYPE(o);
    if ((t == &PyList_Type || t == &PyTuple_Type) && Py_IS_TYPE(key, &PyLong_Type) &&
        JJ_MEDIUM(key)) {
        Py_ssize_t n = Py_SIZE(o);
        Py_ssize_t i = (Py_ssize_t)JJ_MEDIUM_VALUE(key);
        if (i < 0) {
            i += n;
        }
        if (JJ_LIKELY((size_t)i < (size_t)n)) {
            PyObject *item = t == &PyList_Type ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i);
            Py_INCREF(item);
            return item;
        }
    }
    return PyObject_GetItem(o, key);
}


/* STORE_SUBSCR: an exact list with an exact medium int index in range (list_ass_item: the new
   item is stored, then the old one released), or an exact dict (dict_ass_sub). */
JJ_INLINE int JJ_SetItem(PyObject *o, PyObject *key, PyObject *value)
{
    if (Py_IS_TYPE(o, &PyList_Type) && Py_IS_TYPE(key, &PyLong_Type) && JJ_MEDIUM(key)) {
        Py_ssize_t n = PyList_GET_SIZE(o);
        Py_ssize_t i = (Py_ssize_t)JJ_MEDIUM_VALUE(key);
        if (i < 0) {
            i += n;
        }
        if (JJ_LIKELY((size_t)i < (size_t)n)) {
            PyObject *old = PyList_GET_ITEM(o, i);
            Py_INCREF(value);
            PyList_SET_ITEM(o, i, value);
            Py_DECREF(old);
            return 0;
        }
    }
    else if (Py_IS_TYPE(o, &PyDict_Type)) {
        return PyDict_SetItem(o, key, value);
    }
    return PyObject_SetItem(o, key, value);
}

/* LOAD_GLOBAL with a per-site cache (LOAD_GLOBAL_MODULE / LOAD_GLOBAL_BUILTIN): the value found
   and the version tags of the dicts it depends on (globals only, when found there; builtins too
   when found in builtins). */
typedef struct {
    uint64_t globals_version;
    uint64_t builtins_version;  /* 0: found in globals */
    PyObject *value;            /* borrowed; NULL: empty */
} JJ_GlobalCache;

#define JJ_DICT_VERSION(d) (((PyDictObject *)(d))->ma_version_tag)

JJ_NOINLINE PyObject *JJ_LoadGlobalFill(JJ_GlobalCache *cache, PyObject *globals,
                                        PyObject *builtins, PyObject *name)
{
    if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins)) {
        return JJ_LoadGlobal(globals, builtins, name);
    }
    uint64_t gv = JJ_DICT_VERSION(globals), bv = JJ_DICT_VERSION(builtins);
    uint64_t from_builtins = 0;
    PyObject *v = PyDict_GetItemWithError(globals, name);
    if (v == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        v = PyDict_GetItemWithError(builtins, name);
        if (v == NULL) {
            if (!PyErr_Occurred()) {
                JJ_SetNameError(JJ_NAME_ERROR_MSG, name);
            }
            return NULL;
        }
        from_builtins = 1;
    }
    /* Cache only if the lookups (which may compare keys, i.e. run code) changed nothing. */
    if (JJ_DICT_VERSION(globals) == gv && JJ_DICT_VERSION(builtins) == bv) {
        cache->value = NULL;
        cache->globals_version = gv;
        cache->builtins_version = from_builtins ? bv : 0;
        cache->value = v;
    }
    Py_INCREF(v);
    return v;
}

/* The value `cache` holds (borrowed) while both dicts keep the tags it was found under, else
   NULL. */
JJ_INLINE PyObject *JJ_GlobalCacheHit(JJ_GlobalCache *cache, PyObject *globals,
                                      PyObject *builtins)
{
    if (PyDict_CheckExact(globals) && PyDict_CheckExact(builtins) && cache->value != NULL &&
        cache->globals_version == JJ_DICT_VERSION(globals) &&
        (cache->builtins_version == 0 || cache->builtins_version == JJ_DICT_VERSION(builtins))) {
        return cache->value;
    }
    return NULL;
}

JJ_INLINE PyObject *JJ_LoadGlobalCached(JJ_GlobalCache *cache, PyObject *globals,
                                        PyObject *builtins, PyObject *name)
{
    PyObject *v = JJ_GlobalCacheHit(cache, globals, builtins);
    if (v != NULL) {
        Py_INCREF(v);
        return v;
    }
    return JJ_LoadGlobalFill(cache, globals, builtins, name);
}

/* Whether `found`, a new reference from a lookup in a dict (which holds it) or NULL with or
   without an exception, is `expected`; the reference and the exception dropped. */
JJ_FUNC int JJ_FoundIs(PyObject *found, PyObject *expected)
{
    if (found == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(found);
    return found == expected;
}

/* Typed code's GlobalIs (ir/ops.py): whether global `name` is `expected` now, making no
   reference. A lookup that cannot be cached (a dict that is not exact: its lookup could run
   code) or fails (its NameError is cleared) answers no: the generic LOAD_GLOBAL that runs
   then does the lookup and raises. */
JJ_NOINLINE int JJ_GlobalIsSlow(JJ_GlobalCache *cache, PyObject *globals, PyObject *builtins,
                                PyObject *name, PyObject *expected)
{
    if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins)) {
        return 0;
    }
    return JJ_FoundIs(JJ_LoadGlobalFill(cache, globals, builtins, name), expected);
}

JJ_INLINE int JJ_GlobalIs(JJ_GlobalCache *cache, PyObject *globals, PyObject *builtins,
                          PyObject *name, PyObject *expected)
{
    PyObject *v = JJ_GlobalCacheHit(cache, globals, builtins);
    if (v != NULL) {
        return v == expected;
    }
    return JJ_GlobalIsSlow(cache, globals, builtins, name, expected);
}

/* LOAD_ATTR / LOAD_METHOD on an exact module (LOAD_ATTR_MODULE): module_getattro finds a
   name in the module's dict unless the module type has a data descriptor of that name
   (ModuleType is immutable, so that answer never changes). The cache holds the value found in
   the dict and the dict's version tag. */
typedef struct {
    uint64_t version;
    PyObject *value;        /* borrowed; NULL: empty */
    /* LOAD_METHOD on an instance without a dict (LOAD_METHOD_NO_DICT): the method found on
       its type, while the type's version tag stays (it changes with any attribute of the type
       or of a base). */
    PyTypeObject *type;     /* borrowed; compared only */
    unsigned int type_version;
    union {
        PyObject *method;   /* borrowed from the type's MRO */
        Py_ssize_t index;   /* LOAD_ATTR / STORE_ATTR of an instance: JJ_InstanceAttrFill */
    };
} JJ_AttrCache;

/* An instance attribute in the object's inline values (3.11's LOAD_ATTR_INSTANCE_VALUE and
   STORE_ATTR_INSTANCE_VALUE). An instance of a class with Py_TPFLAGS_MANAGED_DICT keeps its
   attributes, until its __dict__ is made, in an array of values (_PyObject_ValuesPointer: the
   fourth word before the object; NULL once a dict holds them) indexed like the class's shared
   keys (PyHeapTypeObject.ht_cached_keys, whose entries are only ever appended). For a class
   with the generic getattr/setattr and no attribute of that name anywhere in its MRO, the
   attribute is values[i], i being its key's index; that stays true while the class's version
   tag does (any change to the class or a base gives it a new one, never reused). */
#define JJ_INSTANCE_VALUES(obj) (((PyObject ***)(obj))[-4])

/* Internal/pycore_dict.h's PyDictKeysObject header, and the entry of a split (unicode) table. */
typedef struct {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} JJ_DictKeys;
typedef struct {
    PyObject *me_key;
    PyObject *me_value;
} JJ_UnicodeEntry;
#define JJ_DICT_KEYS_SPLIT 2

/* Fill `cache` for `name` of instances of `obj`'s class, if it qualifies (above) and `obj`'s
   values hold `found`, what the generic lookup (or store) just gave: that check also
   confirms the layouts assumed here. */
JJ_FUNC void JJ_InstanceAttrFill(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                                 PyObject *found, int store)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (!(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) || !PyUnicode_CheckExact(name) ||
        (store ? tp->tp_setattro != PyObject_GenericSetAttr
               : tp->tp_getattro != PyObject_GenericGetAttr) ||
        _PyType_Lookup(tp, name) != NULL ||  /* (gives the class a version tag if need be) */
        !(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || tp->tp_version_tag == 0) {
        return;
    }
    JJ_DictKeys *keys = (JJ_DictKeys *)((PyHeapTypeObject *)tp)->ht_cached_keys;
    PyObject **values = JJ_INSTANCE_VALUES(obj);
    if (keys == NULL || keys->dk_kind != JJ_DICT_KEYS_SPLIT || values == NULL) {
        return;
    }
    JJ_UnicodeEntry *entries = (JJ_UnicodeEntry *)(
        keys->dk_indices + ((size_t)1 << keys->dk_log2_index_bytes));
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        if (entries[i].me_key == name) {
            if (values[i] == found) {
                cache->type = tp;
                cache->type_version = tp->tp_version_tag;
                cache->index = i;
            }
            return;
        }
    }
}

/* The attribute from the module's dict (new reference), or NULL without an exception when the
   generic lookup must run (not in the dict, a data descriptor of the type, a lookup error: the
   generic lookup repeats the dict lookup, which for a dict of str keys runs no code). */
JJ_FUNC PyObject *JJ_ModuleAttrFill(JJ_AttrCache *cache, PyObject *dict, PyObject *module,
                                    PyObject *name)
{
    PyObject *descr = _PyType_Lookup(Py_TYPE(module), name);
    if (descr != NULL && Py_TYPE(descr)->tp_descr_set != NULL) {
        return NULL;
    }
    uint64_t version = JJ_DICT_VERSION(dict);
    PyObject *v = PyDict_GetItemWithError(dict, name);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (JJ_DICT_VERSION(dict) == version) {
        cache->version = version;
        cache->value = v;
    }
    Py_INCREF(v);
    return v;
}

/* The start of PyModuleObject (Include/internal/pycore_moduleobject.h, the same in 3.11-3.13;
   llvm_capi.MODULE_DICT checks it at import): md_dict is set when the module is made and
   never replaced (NULL only once a garbage cycle's tp_clear ran). */
typedef struct {
    PyObject_HEAD
    PyObject *md_dict;
} JJ_ModuleHead;

/* The value `cache` holds (borrowed) for an attribute of the exact module `module` while its
   dict keeps the version tag it was found under (the tag is never reused, so it also names
   the dict), else NULL. */
JJ_INLINE PyObject *JJ_ModuleCacheHit(JJ_AttrCache *cache, PyObject *module)
{
    PyObject *dict = ((JJ_ModuleHead *)module)->md_dict;
    if (cache->value != NULL && dict != NULL && cache->version == JJ_DICT_VERSION(dict)) {
        return cache->value;
    }
    return NULL;
}

JJ_FUNC PyObject *JJ_ModuleAttr(JJ_AttrCache *cache, PyObject *module, PyObject *name)
{
    PyObject *v = JJ_ModuleCacheHit(cache, module);
    if (v != NULL) {
        Py_INCREF(v);
        return v;
    }
    PyObject *dict = PyModule_GetDict(module);  /* borrowed; never fails for a module */
    if (dict == NULL || !PyDict_CheckExact(dict)) {
        return NULL;
    }
    return JJ_ModuleAttrFill(cache, dict, module, name);
}

JJ_NOINLINE PyObject *JJ_GetModuleAttr(JJ_AttrCache *cache, PyObject *module, PyObject *name)
{
    PyObject *v = JJ_ModuleAttr(cache, module, name);
    if (v != NULL) {
        return v;
    }
    return PyObject_GetAttr(module, name);
}

/* Typed code's ModuleAttrIs (ir/ops.py): whether attribute `name` of the exact module `module`
   is `expected` now, found in its dict (as JJ_GetAttrCached would), making no reference. */
JJ_NOINLINE int JJ_ModuleAttrIsSlow(JJ_AttrCache *cache, PyObject *module, PyObject *name,
                                    PyObject *expected)
{
    return JJ_FoundIs(JJ_ModuleAttr(cache, module, name), expected);
}

JJ_INLINE int JJ_ModuleAttrIs(JJ_AttrCache *cache, PyObject *module, PyObject *name,
                              PyObject *expected)
{
    PyObject *v = JJ_ModuleCacheHit(cache, module);
    if (JJ_LIKELY(v != NULL)) {
        return v == expected;
    }
    return JJ_ModuleAttrIsSlow(cache, module, name, expected);
}

JJ_NOINLINE PyObject *JJ_GetAttrSlow(JJ_AttrCache *cache, PyObject *obj, PyObject *name)
{
    if (Py_IS_TYPE(obj, &PyModule_Type)) {
        return JJ_GetModuleAttr(cache, obj, name);
    }
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v != NULL) {
        JJ_InstanceAttrFill(cache, obj, name, v, 0);
    }
    return v;
}

/* The slot of `obj`'s inline values holding the cached instance attribute (see
   JJ_InstanceAttrFill; the slot is NULL if the attribute was deleted), or NULL. */
JJ_INLINE PyObject **JJ_CachedInstanceSlot(JJ_AttrCache *cache, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == cache->type && tp->tp_version_tag == cache->type_version) {
        PyObject **values = JJ_INSTANCE_VALUES(obj);
        return values != NULL ? &values[cache->index] : NULL;
    }
    return NULL;
}

/* LOAD_ATTR: an instance attribute in its inline values (JJ_INSTANCE_VALUES); a module's
   attribute from the cache (JJ_ModuleCacheHit), checked here inline as LOAD_ATTR_MODULE does
   (through two calls, JJ_GetModuleAttr and PyModule_GetDict, math.sqrt in n-body's inner loop
   cost 8% of its time); else the generic lookup. */
JJ_INLINE PyObject *JJ_GetAttrCached(JJ_AttrCache *cache, PyObject *obj, PyObject *name)
{
    PyObject **slot = JJ_CachedInstanceSlot(cache, obj);
    if (JJ_LIKELY(slot != NULL && *slot != NULL)) {
        Py_INCREF(*slot);
        return *slot;
    }
    if (Py_IS_TYPE(obj, &PyModule_Type)) {
        PyObject *v = JJ_ModuleCacheHit(cache, obj);
        if (JJ_LIKELY(v != NULL)) {
            Py_INCREF(v);
            return v;
        }
    }
    return JJ_GetAttrSlow(cache, obj, name);
}

JJ_NOINLINE int JJ_SetAttrSlow(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                               PyObject *value)
{
    if (PyObject_SetAttr(obj, name, value) < 0) {
        return -1;
    }
    JJ_InstanceAttrFill(cache, obj, name, value, 1);
    return 0;
}

/* STORE_ATTR: replace an instance attribute in its inline values (a new one, whose insertion
   order must be recorded, takes the generic path), else the generic store. */
JJ_INLINE int JJ_SetAttrCached(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                               PyObject *value)
{
    PyObject **slot = JJ_CachedInstanceSlot(cache, obj);
    if (JJ_LIKELY(slot != NULL && *slot != NULL)) {
        PyObject *old = *slot;
        Py_INCREF(value);
        *slot = value;
        Py_DECREF(old);
        return 0;
    }
    return JJ_SetAttrSlow(cache, obj, name, value);
}

JJ_NOINLINE int JJ_SetAttrNewFloat(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                                   double v)
{
    PyObject *value = PyFloat_FromDouble(v);
    if (value == NULL) {
        return -1;
    }
    int r = JJ_SetAttrCached(cache, obj, name, value);
    Py_DECREF(value);
    return r;
}

/* Typed code's SetAttrFloat (ir/ops.py): a float that CPython would have just made goes into
   the attribute's slot; an exact float there that nothing else references takes the value in
   place (as JJ_ListStoreFloat does: floats have no weakrefs or finalizers, so nothing can
   tell), else a new float is stored. */
JJ_INLINE int JJ_SetAttrFloat(JJ_AttrCache *cache, PyObject *obj, PyObject *name, double v)
{
    PyObject **slot = JJ_CachedInstanceSlot(cache, obj);
    if (JJ_LIKELY(slot != NULL && *slot != NULL && PyFloat_CheckExact(*slot) &&
                  Py_REFCNT(*slot) == 1)) {
        ((PyFloatObject *)*slot)->ob_fval = v;
        return 0;
    }
    return JJ_SetAttrNewFloat(cache, obj, name, v);
}

JJ_NOINLINE PyObject *JJ_LoadMethodSlow(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                                         int *found)
{
    PyObject *meth = NULL;
    if (Py_IS_TYPE(obj, &PyModule_Type)) {
        meth = JJ_ModuleAttr(cache, obj, name);
        if (meth != NULL) {
            *found = 0;
            return meth;
        }
    }
    *found = _PyObject_GetMethod(obj, name, &meth);
    PyTypeObject *tp = Py_TYPE(obj);
    /* With no instance dict to look in and a method found on the type, _PyObject_GetMethod's
       answer is the type's, the same for every instance while the type's version tag stays. */
    if (*found && tp->tp_getattro == PyObject_GenericGetAttr && tp->tp_dictoffset == 0 &&
        !(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) &&
        (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) && tp->tp_version_tag != 0 &&
        PyUnicode_CheckExact(name) && _PyType_Lookup(tp, name) == meth) {
        cache->type = tp;
        cache->type_version = tp->tp_version_tag;
        cache->method = meth;
    }
    return meth;
}

/* LOAD_METHOD: *found = 1: the result is an unbound method (a function or method descriptor
   found on the type) to be called with `obj` as its first argument; *found = 0: the result is
   the attribute itself (_PyObject_GetMethod). NULL with an exception on failure. */
JJ_INLINE PyObject *JJ_LoadMethod(JJ_AttrCache *cache, PyObject *obj, PyObject *name,
                                  int *found)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == cache->type && tp->tp_version_tag == cache->type_version &&
        (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        *found = 1;
        Py_INCREF(cache->method);
        return cache->method;
    }
    return JJ_LoadMethodSlow(cache, obj, name, found);
}

/* Calls.
 *
 * A call site passes its arguments in a C array with JJ_CALL_FREE free slots before the first
 * one (PY_VECTORCALL_ARGUMENTS_OFFSET lets the callee use the slot just before, and the paths
 * below prepend up to two arguments). What CALL does in 3.11, after PRECALL:
 * - a bound method (PyMethod) is called as its function with `self` first (PRECALL does this;
 *   so does method_vectorcall);
 * - a call to a justjit trampoline goes straight to what the trampoline would call. The
 *   trampoline of a jitted function (see justjit/dispatcher.py) is a Python function whose
 *   whole body is `return _justjit_target(_justjit_state, a, b, ...)` over its own parameters,
 *   with both names read from its private globals. Calling it with exactly its positional
 *   arguments is calling target(state, a, b, ...): that is done here without the trampoline's
 *   interpreter frame, with the recursion check that frame would make, while no tracing or
 *   profiling function is set (otherwise the frame, and its events, happen as usual). The code
 *   object is checked once per call site (bytecode, flags, names) and the two globals are
 *   re-read whenever the trampoline's globals change (installing compiled code rebinds target).
 *   Anything else is an ordinary vectorcall.
 */
#define JJ_CALL_FREE 3

/* The C entry of a compiled function (see JJ_ExportFastEntry): entry(state, *args) for
   args[0] = state and exactly its number of arguments after it. */
typedef PyObject *(*JJ_FastEntry)(PyObject **args);

typedef struct {
    PyObject *code;     /* strong reference: the code object `nargs` was computed for */
    Py_ssize_t nargs;   /* >= 0: `code` is a trampoline's, taking that many arguments; else -1 */
    uint64_t version;   /* ma_version_tag of the trampoline's globals when these were read: */
    PyObject *target;   /* borrowed from those globals */
    PyObject *state;
    JJ_FastEntry fast;  /* target's C entry, if target is a compiled entry taking nargs */
} JJ_CallCache;

/* Compiled entries: every generated module of a function that is not a generator registers
   the C function that does what its `entry` does for a fixed number of arguments, in a dict
   of the interpreter's own (PyInterpreterState_GetDict, invisible to Python code): key the
   entry object, value a capsule named "justjit.fast_entry" whose context is 1 + the number
   of arguments. A call cache whose target is a registered entry calls the C function
   directly, without the Python-level call of entry and its argument parsing. (Entries are
   builtin functions: hashing and comparing them runs no Python code.) */
#define JJ_FAST_CAPSULE "justjit.fast_entry"
#define JJ_FAST_REGISTRY "justjit.fast_entries"

static PyObject *jj_fast_registry = NULL;  /* borrowed from the interpreter's dict */

JJ_FUNC PyObject *JJ_FastRegistry(void)
{
    if (jj_fast_registry == NULL) {
        PyObject *interp_dict = PyInterpreterState_GetDict(PyInterpreterState_Get());
        if (interp_dict == NULL) {
            return NULL;
        }
        PyObject *registry = PyDict_GetItemString(interp_dict, JJ_FAST_REGISTRY);
        if (registry == NULL) {
            registry = PyDict_New();
            if (registry == NULL) {
                return NULL;
            }
            int err = PyDict_SetItemString(interp_dict, JJ_FAST_REGISTRY, registry);
            Py_DECREF(registry);
            if (err < 0) {
                return NULL;
            }
        }
        jj_fast_registry = registry;
    }
    return jj_fast_registry;
}

/* Called by __jj_init: register `entry` (the module's `entry` function) for the C entry. */
JJ_FUNC int JJ_ExportFastEntry(PyObject *module_dict, void *entry, Py_ssize_t nargs)
{
    PyObject *registry = JJ_FastRegistry();
    if (registry == NULL) {
        return -1;
    }
    PyObject *own_entry = PyDict_GetItemString(module_dict, "entry");
    if (own_entry == NULL || !PyCFunction_CheckExact(own_entry)) {
        return 0;
    }
    PyObject *capsule = PyCapsule_New(entry, JJ_FAST_CAPSULE, NULL);
    if (capsule == NULL) {
        return -1;
    }
    int err = PyCapsule_SetContext(capsule, (void *)(Py_ssize_t)(nargs + 1));
    if (err == 0) {
        err = PyDict_SetItem(registry, own_entry, capsule);
    }
    Py_DECREF(capsule);
    return err;
}

/* The C entry of `target` if it is a compiled entry taking `nargs` arguments, else NULL (no
   exception). */
JJ_FUNC JJ_FastEntry JJ_FindFastEntry(PyObject *target, Py_ssize_t nargs)
{
    if (!PyCFunction_CheckExact(target)) {
        return NULL;
    }
    PyObject *registry = JJ_FastRegistry();
    PyObject *capsule = registry == NULL ? NULL : PyDict_GetItemWithError(registry, target);
    JJ_FastEntry fast = NULL;
    if (capsule != NULL && PyCapsule_IsValid(capsule, JJ_FAST_CAPSULE) &&
        (Py_ssize_t)PyCapsule_GetContext(capsule) == nargs + 1) {
        fast = (JJ_FastEntry)PyCapsule_GetPointer(capsule, JJ_FAST_CAPSULE);
    }
    PyErr_Clear();
    return fast;
}

/* 3.11 opcode numbers (Include/opcode.h is not included: its macro names are too generic). */
#define JJ_OP_CACHE 0
#define JJ_OP_RETURN_VALUE 83
#define JJ_OP_LOAD_GLOBAL 116
#define JJ_OP_LOAD_FAST 124
#define JJ_OP_RESUME 151
#define JJ_OP_PRECALL 166
#define JJ_OP_CALL 171

static PyObject *jj_str_trampoline_target = NULL;
static PyObject *jj_str_trampoline_state = NULL;

/* The number of arguments of a trampoline's code object, or -1 if `code` is not one. */
JJ_FUNC Py_ssize_t JJ_TrampolineArity(PyObject *code)
{
    if (!PyCode_Check(code)) {
        return -1;
    }
    PyCodeObject *co = (PyCodeObject *)code;
    const int excluded = CO_VARARGS | CO_VARKEYWORDS | CO_GENERATOR | CO_COROUTINE |
                         CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE;
    int argc = co->co_argcount;
    if ((co->co_flags & excluded) || co->co_kwonlyargcount != 0 || argc >= 255 ||
        co->co_nlocalsplus != argc || co->co_ncellvars != 0 || co->co_nfreevars != 0) {
        return -1;
    }
    PyObject *names = co->co_names;
    if (jj_str_trampoline_target == NULL) {
        jj_str_trampoline_target = PyUnicode_InternFromString("_justjit_target");
        jj_str_trampoline_state = PyUnicode_InternFromString("_justjit_state");
        if (jj_str_trampoline_target == NULL || jj_str_trampoline_state == NULL) {
            PyErr_Clear();
            Py_CLEAR(jj_str_trampoline_target);
            Py_CLEAR(jj_str_trampoline_state);
            return -1;
        }
    }
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) != 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(names, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(names, 1)) ||
        PyUnicode_Tailmatch(PyTuple_GET_ITEM(names, 0), jj_str_trampoline_target, 0,
                            PY_SSIZE_T_MAX, -1) != 1 ||
        PyUnicode_Tailmatch(PyTuple_GET_ITEM(names, 1), jj_str_trampoline_state, 0,
                            PY_SSIZE_T_MAX, -1) != 1) {
        PyErr_Clear();
        return -1;
    }
    PyObject *bytes = PyCode_GetCode(co);  /* the bytecode without specializations */
    if (bytes == NULL) {
        PyErr_Clear();
        return -1;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(bytes);
    Py_ssize_t units = PyBytes_GET_SIZE(bytes) / 2;
    /* RESUME 0; LOAD_GLOBAL (NULL + target); LOAD_GLOBAL state; LOAD_FAST 0 .. argc-1;
       PRECALL argc+1; CALL argc+1; RETURN_VALUE; with CACHE units anywhere. */
    int step = 0;
    const int last = 3 + argc + 2;
    int ok = 1;
    for (Py_ssize_t k = 0; k < units && ok; k++) {
        int op = p[2 * k], arg = p[2 * k + 1];
        if (op == JJ_OP_CACHE) {
            continue;
        }
        int want_op, want_arg;
        if (step == 0) {
            want_op = JJ_OP_RESUME, want_arg = 0;
        }
        else if (step == 1) {
            want_op = JJ_OP_LOAD_GLOBAL, want_arg = 1;
        }
        else if (step == 2) {
            want_op = JJ_OP_LOAD_GLOBAL, want_arg = 2;
        }
        else if (step < 3 + argc) {
            want_op = JJ_OP_LOAD_FAST, want_arg = step - 3;
        }
        else if (step == 3 + argc) {
            want_op = JJ_OP_PRECALL, want_arg = argc + 1;
        }
        else if (step == 4 + argc) {
            want_op = JJ_OP_CALL, want_arg = argc + 1;
        }
        else if (step == last) {
            want_op = JJ_OP_RETURN_VALUE, want_arg = 0;
        }
        else {
            ok = 0;
            break;
        }
        ok = (op == want_op && arg == want_arg);
        step++;
    }
    Py_DECREF(bytes);
    return (ok && step == last + 1) ? argc : -1;
}

/* Read target and state from a trampoline's globals; 0 (no exception) if they are not both
   there or reading them changed the dict. */
JJ_FUNC int JJ_CallCacheRead(JJ_CallCache *cache, PyObject *globals)
{
    PyObject *names = ((PyCodeObject *)cache->code)->co_names;
    uint64_t version = JJ_DICT_VERSION(globals);
    PyObject *target = PyDict_GetItemWithError(globals, PyTuple_GET_ITEM(names, 0));
    PyObject *state = target == NULL ? NULL
                                     : PyDict_GetItemWithError(globals, PyTuple_GET_ITEM(names, 1));
    if (state == NULL || JJ_DICT_VERSION(globals) != version) {
        PyErr_Clear();
        cache->version = 0;
        return 0;
    }
    cache->version = version;
    cache->target = target;
    cache->state = state;
    cache->fast = PyTuple_CheckExact(state) ? JJ_FindFastEntry(target, cache->nargs) : NULL;
    if (JJ_DICT_VERSION(globals) != version) {  /* (nothing above should change them) */
        cache->version = 0;
        return 0;
    }
    return 1;
}

/* `func` is a function: whether it is a trampoline taking n arguments, with `cache` then
   holding its current target, state and C entry, and no profiler or tracer is on (their
   events need the trampoline's frame). */
JJ_FUNC int JJ_TrampolineReady(JJ_CallCache *cache, PyObject *func, Py_ssize_t n)
{
    PyFunctionObject *f = (PyFunctionObject *)func;
    if (f->func_code != cache->code) {
        Py_ssize_t arity = JJ_TrampolineArity(f->func_code);
        PyObject *old = cache->code;
        Py_INCREF(f->func_code);
        cache->code = f->func_code;
        cache->nargs = arity;
        cache->version = 0;
        Py_XDECREF(old);  /* last: freeing a code object may run code (weakref callbacks) */
        if (cache->code != f->func_code) {
            return 0;
        }
    }
    if (cache->nargs != n) {
        return 0;
    }
    PyObject *globals = f->func_globals;
    if (!PyDict_CheckExact(globals)) {
        return 0;
    }
    if (cache->version != JJ_DICT_VERSION(globals) || cache->version == 0) {
        if (!JJ_CallCacheRead(cache, globals)) {
            return 0;
        }
    }
    return !PyThreadState_GET()->cframe->use_tracing;
}

/* `func` is a function: if it is a trampoline taking n arguments, call its target with
   (state, *args) and return 1 with *res the result; else return 0. args[-2] and args[-1] are
   free. */
JJ_FUNC int JJ_CallTrampoline(JJ_CallCache *cache, PyObject *func, PyObject **args,
                              Py_ssize_t n, PyObject **res)
{
    if (!JJ_TrampolineReady(cache, func, n)) {
        return 0;
    }
    /* The trampoline's frame would hold both (LOAD_GLOBAL): the call may rebind them. */
    PyObject *target = cache->target, *state = cache->state;
    Py_INCREF(target);
    Py_INCREF(state);
    args[-1] = state;
    if (Py_EnterRecursiveCall("")) {
        *res = NULL;
    }
    else {
        JJ_FastEntry fast = cache->fast;
        if (fast != NULL) {
            *res = fast(args - 1);
        }
        else if (PyCFunction_CheckExact(target)
                 && PyCFunction_GET_FLAGS(target) == METH_FASTCALL) {
            /* (an llvm entry) its C function itself: a vectorcall of a builtin function counts
               one more level of the recursion limit, and the call is counted already */
            _PyCFunctionFast entry =
                (_PyCFunctionFast)(void (*)(void))PyCFunction_GET_FUNCTION(target);
            *res = entry(PyCFunction_GET_SELF(target), args - 1, n + 1);
        }
        else {
            *res = PyObject_Vectorcall(target, args - 1,
                                       (size_t)(n + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        }
        Py_LeaveRecursiveCall();
    }
    Py_DECREF(state);
    Py_DECREF(target);
    return 1;
}

/* A SelfCall of compiled code (ir.ops.SelfCall): whether `func`, what the call would call, is
   the trampoline of this very specialization, i.e. its target's C entry is `own_entry` (this
   module's) with `state` (this call's dispatcher state), for n arguments; and the recursion
   depth allows one more call. Returns the recursion budget to give the direct body (what
   Py_EnterRecursiveCall would leave in tstate->recursion_remaining), or -1 to decline: the
   generic call then runs, and raises the RecursionError if that is why. 3.11 only: other
   versions count their recursion differently, and always decline. */
JJ_FUNC int JJ_SelfReady(JJ_CallCache *cache, PyObject *func, PyObject *state, void *own_entry,
                         Py_ssize_t n)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    if (!PyFunction_Check(func) || !JJ_TrampolineReady(cache, func, n) ||
        (void *)cache->fast != own_entry || cache->state != state) {
        return -1;
    }
    int remaining = PyThreadState_GET()->recursion_remaining - 1;
    return remaining >= 0 ? remaining : -1;
#else
    (void)cache, (void)func, (void)state, (void)own_entry, (void)n;
    return -1;
#endif
}

/* LeafBudget (ir.ops.LeafBudget): whether a call of a jitted leaf may run inline in typed code
   (justjit.inline_calls). Not when a profiler or tracer is on (it would see the call), nor near
   the recursion limit, where the real call (one level through JJ_CallTrampoline, a few through
   the trampoline's frame while the callee is not compiled) might raise RecursionError.
   `tstate` is this thread's, which the compiled function fetches once per call (or resume):
   PyThreadState_Get() is a call into libpython. */
#define JJ_LEAF_CALL_DEPTH 4

JJ_FUNC int JJ_LeafReady(void *tstate)
{
    PyThreadState *ts = (PyThreadState *)tstate;
    return ts->recursion_remaining > JJ_LEAF_CALL_DEPTH && !ts->cframe->use_tracing;
}

/* A call of a Python function without keywords: through the trampoline's target if it is one,
   else an ordinary vectorcall. */
JJ_FUNC PyObject *JJ_CallFunction(JJ_CallCache *cache, PyObject *func, PyObject **args,
                                  Py_ssize_t n)
{
    PyObject *res;
    if (JJ_CallTrampoline(cache, func, args, n, &res)) {
        return res;
    }
    return PyObject_Vectorcall(func, args, (size_t)n | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* d.get(key[, default]) when d is a dict: dict_get's lookup (the same hash and comparisons as
   PyDict_GetItemWithError), without the method call machinery. */
JJ_INLINE PyObject *JJ_DictGet(PyObject **args, Py_ssize_t n)
{
    PyObject *res = PyDict_GetItemWithError(args[0], args[1]);
    if (res == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        res = n == 3 ? args[2] : Py_None;
    }
    Py_INCREF(res);
    return res;
}

/* CALL: func(*args[:n-nkw], **dict(zip(kwnames, args[n-nkw:]))), kwnames a tuple of str or
   NULL; args[-JJ_CALL_FREE .. -1] are free. Besides the trampolines, d.get(key[, default]) and
   l.append(x) on a dict and a list skip the method call machinery (as 3.11's
   PRECALL_NO_KW_LIST_APPEND does): the same C functions run. `state`, `tbcode` and `L` are the
   calling compiled function's, for warnings.warn (JJ_Warn). */
JJ_NOINLINE PyObject *JJ_VectorcallCached(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                                          int *L, PyObject *func, PyObject **args, Py_ssize_t n,
                                          PyObject *kwnames)
{
    if (Py_IS_TYPE(func, &PyMethod_Type)) {
        args--;
        args[0] = PyMethod_GET_SELF(func);
        func = PyMethod_GET_FUNCTION(func);
        n++;
    }
    if (kwnames == NULL) {
        if (Py_IS_TYPE(func, &PyFunction_Type)) {
            return JJ_CallFunction(cache, func, args, n);
        }
        if (func == jj_dict_get) {
            if ((n == 2 || n == 3) && PyDict_Check(args[0])) {
                return JJ_DictGet(args, n);
            }
        }
        else if (func == jj_list_append) {
            if (n == 2 && PyList_Check(args[0])) {
                if (PyList_Append(args[0], args[1]) < 0) {
                    return NULL;
                }
                Py_RETURN_NONE;
            }
        }
    }
    if (func == jj_warnings_warn && func != NULL) {
        return JJ_Warn(state, tbcode, L, args, n, kwnames);
    }
    return PyObject_Vectorcall(func, args, (size_t)n | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
}

/* CALL with n positional arguments (n <= 6). `found`/`self`: see JJ_LoadMethod; a call of a
   plain callable has found = 0. `state`, `tbcode`, `L`: the calling compiled function's (its
   state tuple, traceback code and line slot), for warnings.warn (JJ_Warn). */
#define JJ_CALLN(found, self, ...)                                                             \
    PyObject *buf[] = {NULL, NULL, NULL, self, __VA_ARGS__};                                   \
    Py_ssize_t nargs = (Py_ssize_t)(sizeof(buf) / sizeof(buf[0])) - JJ_CALL_FREE;              \
    return found ? JJ_VectorcallCached(cache, state, tbcode, L, func, buf + JJ_CALL_FREE,       \
                                       nargs, NULL)                                            \
                 : JJ_VectorcallCached(cache, state, tbcode, L, func, buf + JJ_CALL_FREE + 1,   \
                                       nargs - 1, NULL);

JJ_INLINE PyObject *JJ_Call0(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self)
{
    PyObject *buf[] = {NULL, NULL, NULL, self, NULL};
    return found ? JJ_VectorcallCached(cache, state, tbcode, L, func, buf + JJ_CALL_FREE, 1, NULL)
                 : JJ_VectorcallCached(cache, state, tbcode, L, func, buf + JJ_CALL_FREE + 1, 0,
                                       NULL);
}

/* (A method call d.get(k) / l.append(x) on an exact dict / list is recognized inline.) */
JJ_INLINE PyObject *JJ_Call1(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self,
                             PyObject *a0)
{
    if (found) {
        if (func == jj_dict_get && PyDict_CheckExact(self)) {
            PyObject *args[2] = {self, a0};
            return JJ_DictGet(args, 2);
        }
        if (func == jj_list_append && PyList_CheckExact(self)) {
            if (PyList_Append(self, a0) < 0) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
    }
    JJ_CALLN(found, self, a0)
}

/* (A method call d.get(k, default) on an exact dict is recognized inline.) */
JJ_INLINE PyObject *JJ_Call2(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self,
                             PyObject *a0, PyObject *a1)
{
    if (found && func == jj_dict_get && PyDict_CheckExact(self)) {
        PyObject *args[3] = {self, a0, a1};
        return JJ_DictGet(args, 3);
    }
    JJ_CALLN(found, self, a0, a1)
}

JJ_INLINE PyObject *JJ_Call3(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self,
                             PyObject *a0, PyObject *a1, PyObject *a2)
{
    JJ_CALLN(found, self, a0, a1, a2)
}

JJ_INLINE PyObject *JJ_Call4(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self,
                             PyObject *a0, PyObject *a1, PyObject *a2, PyObject *a3)
{
    JJ_CALLN(found, self, a0, a1, a2, a3)
}

JJ_INLINE PyObject *JJ_Call5(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self,
                             PyObject *a0, PyObject *a1, PyObject *a2, PyObject *a3,
                             PyObject *a4)
{
    JJ_CALLN(found, self, a0, a1, a2, a3, a4)
}

JJ_INLINE PyObject *JJ_Call6(JJ_CallCache *cache, PyObject *state, PyObject *tbcode,
                             int *L, PyObject *func, int found, PyObject *self,
                             PyObject *a0, PyObject *a1, PyObject *a2, PyObject *a3,
                             PyObject *a4, PyObject *a5)
{
    JJ_CALLN(found, self, a0, a1, a2, a3, a4, a5)
}

#undef JJ_CALLN

/* Any other CALL: n arguments as PyObject* varargs, the last len(kwnames) of them keywords
   (kwnames is a tuple of str, or NULL or None for none). */
JJ_FUNC PyObject *JJ_CallAny(JJ_CallCache *cache, PyObject *state, PyObject *tbcode, int *L,
                             PyObject *func, int found, PyObject *self, PyObject *kwnames,
                             Py_ssize_t n, ...)
{
    PyObject *small[JJ_CALL_FREE + 1 + JJ_STACK_ARGS];
    PyObject **buf = small;
    if (n > JJ_STACK_ARGS) {
        buf = (PyObject **)PyMem_Malloc((size_t)(n + JJ_CALL_FREE + 1) * sizeof(PyObject *));
        if (buf == NULL) {
            return PyErr_NoMemory();
        }
    }
    PyObject **args = buf + JJ_CALL_FREE + 1;
    va_list ap;
    va_start(ap, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        args[i] = va_arg(ap, PyObject *);
    }
    va_end(ap);
    if (found) {
        args--;
        args[0] = self;
        n++;
    }
    if (kwnames == NULL || kwnames == Py_None || PyTuple_GET_SIZE(kwnames) == 0) {
        kwnames = NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *res = JJ_VectorcallCached(cache, state, tbcode, L, func, args, n - nkw, kwnames);
    if (buf != small) {
        PyMem_Free(buf);
    }
    return res;
}

/* The end of a compiled function's entry: `res` is what its body returned (a new reference),
   or NULL with the exception it raised, which then gets the traceback entry of the function's
   frame (unless it was re-raised, L[1]: see JJ_Caught) and is left raised, normalized, as
   (type(exc), exc, exc.__traceback__). */
JJ_FUNC PyObject *JJ_Exit(PyObject *res, PyObject *tbcode, PyObject *state, int *L)
{
    if (res != NULL) {
        return res;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        PyErr_SetString(PyExc_SystemError, "justjit: error return without an exception set");
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL || !PyExceptionInstance_Check(value)) {
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
        Py_DECREF(tb);
    }
    Py_DECREF(type);
    if (L[1]) {
        L[1] = 0;
    }
    else {
        PyObject *globals = (PyTuple_Check(state) && PyTuple_GET_SIZE(state) > 0)
                                ? PyTuple_GET_ITEM(state, 0) : Py_None;
        if (JJ_AddTraceback(value, tbcode, globals, L[0]) < 0) {
            PyErr_Clear();
        }
    }
    type = (PyObject *)Py_TYPE(value);
    Py_INCREF(type);
    PyErr_Restore(type, value, PyException_GetTraceback(value));
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Module support                                                                             */

/* The constants tuple given to __jj_init must have the expected length. */
JJ_FUNC int JJ_CheckConstants(PyObject *constants, Py_ssize_t expected)
{
    if (!PyTuple_CheckExact(constants) || PyTuple_GET_SIZE(constants) != expected) {
        PyErr_Format(PyExc_ValueError,
                     "justjit: __jj_init expects a tuple of %zd constants", expected);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Suppress Cython's own traceback entries (see the top of this file). Must stay last.        */

JJ_FUNC int JJ_CythonTracebackHere(PyFrameObject *frame)
{
    (void)frame;
    return 0;
}

#ifndef JJ_KEEP_CYTHON_TRACEBACKS
#undef PyTraceBack_Here
#define PyTraceBack_Here(frame) JJ_CythonTracebackHere(frame)
#endif

/* ------------------------------------------------------------------------------------------ */
/* Loops: the eval breaker                                                                    */
/*
 * The interpreter checks its eval breaker at every backward jump: pending signal handlers
 * run there (a KeyboardInterrupt is raised inside the loop) and another thread may take the
 * GIL. Compiled code calls JJ_Tick at the head of every loop: every JJ_TICKS passes of the
 * function's loops it does the same: -1 with an exception set if a signal handler raised or
 * an asynchronous exception (PyThreadState_SetAsyncExc) was pending for this thread.
 */
#define JJ_TICKS 4096

#if defined(__GNUC__)
#define JJ_COLD __attribute__((cold, noinline))
#else
#define JJ_COLD
#endif

/* Whether PyThreadState_SetAsyncExc left an exception for `tstate`: `async_exc` is in the public
   struct _ts (Include/cpython/pystate.h) of 3.11 to 3.13; elsewhere none is seen (and the
   interpreter delivers it once the compiled code returns to it). */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
#define JJ_ASYNC_EXC_PENDING(tstate) ((tstate)->async_exc != NULL)
#else
#define JJ_ASYNC_EXC_PENDING(tstate) 0
#endif

/* Deliver the pending asynchronous exception: -1 with it set (0 if it was gone). The interpreter
   does it, as ceval's eval_frame_handle_pending would inside the loop: it evaluates a code object
   of one instruction, whose RESUME checks the eval breaker, takes tstate->async_exc, clears it,
   raises it (PyErr_SetNone) and also clears the interpreter's request for it. That last part is
   internal (UNSIGNAL_ASYNC_EXC): taking the exception here instead would leave the request set,
   and every backward jump and call of interpreted code would take the eval breaker's slow path
   for the rest of the process (16 more instructions per jump, measured with callgrind). The
   traceback entry of that code is dropped: the exception is raised on the loop's line. */
JJ_FUNC JJ_COLD int JJ_DeliverAsyncExc(void)
{
    static PyObject *code;
    if (code == NULL) {
        PyObject *compiled = Py_CompileString("None", "<justjit eval breaker>", Py_eval_input);
        if (compiled == NULL) {
            return -1;
        }
        if (code == NULL) {
            code = compiled;  /* kept for the life of the process */
        } else {
            Py_DECREF(compiled);
        }
    }
    PyObject *globals = PyDict_New();
    if (globals == NULL) {
        return -1;
    }
    PyObject *result = PyEval_EvalCode(code, globals, globals);
    Py_DECREF(globals);
    if (result != NULL) {
        Py_DECREF(result);
        return 0;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    Py_XDECREF(tb);
    PyErr_Restore(type, value, NULL);
    return -1;
}

/* Monotonic time in microseconds (0 where there is no monotonic clock: then every call is
   "due" below). */
JJ_FUNC long long JJ_MonotonicMicros(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
        return (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    }
#endif
    return 0;
}

/* Whether to let other threads take the GIL now. Interpreted code drops it only when a waiting
   thread asks (the waiter asks after waiting one switch interval without the GIL changing hands).
   Compiled code cannot see that request (it is internal), and dropping and retaking the GIL
   every JJ_TICKS passes wakes the waiter each time, which restarts its wait: it never asked, and
   got the GIL only when it happened to win the race (measured: 1 to 26 turns in 0.3 s where the
   interpreter gives 20). So the GIL is dropped at most once per two switch intervals: a waiter
   then asks in between, and the drop that follows hands it the GIL, as in the interpreter. */
JJ_FUNC int JJ_GilHandoverDue(void)
{
    static long long last_drop;
    static unsigned long interval = 5000;
    long long now = JJ_MonotonicMicros();
    if (now != 0 && now - last_drop < 2 * (long long)interval) {
        return 0;
    }
    last_drop = now;
    interval = _PyEval_GetSwitchInterval();  /* sys.getswitchinterval(), in microseconds */
    return 1;
}

/* What ceval does when its eval breaker is set: run pending signal handlers and pending calls
   (a KeyboardInterrupt is raised here, inside the loop), let other threads take the GIL, then
   raise a pending asynchronous exception. -1 with an exception set if a handler raised or an
   asynchronous exception was delivered. Both backends call it (llvm through _jj_rt.c's symbol
   table). Cold: it runs once per JJ_TICKS passes, so its call is kept off the loop's fast path;
   delivering is colder still (a separate function, reached only when an exception is pending). */
JJ_FUNC JJ_COLD int JJ_HandlePending(void)
{
    if (Py_MakePendingCalls() < 0) {
        return -1;
    }
    PyThreadState *tstate = PyThreadState_Get();
    if (JJ_GilHandoverDue()) {
        PyEval_SaveThread();
        PyEval_RestoreThread(tstate);
    }
    if (JJ_ASYNC_EXC_PENDING(tstate)) {
        return JJ_DeliverAsyncExc();
    }
    return 0;
}

JJ_FUNC JJ_COLD int JJ_EvalBreaker(int *L, int line)
{
    L[0] = line;  /* a signal handler's exception is raised on the loop's line */
    return JJ_HandlePending();
}

/* `countdown` is a local C int of the compiled function (a register in its loops, unlike a
   global): the generated code passes the variable itself. */
#define JJ_Tick(countdown, L, line) \
    (__builtin_expect(--(countdown) > 0, 1) ? 0 : ((countdown) = JJ_TICKS, JJ_EvalBreaker((L), (line))))

#endif /* JJ_RUNTIME_H */
