"""Structured program + register allocation -> the text of a Cython module.

    emit_pyx(fn, program, allocation) -> PyxModule(text, constants, line_map)

The generated module (see `PyxModule`) defines `__jj_init(constants)` and
`entry(__jj_state, *args)`. How the IR becomes Cython:

- Registers. A `var` register (Python local) is `v_<mangled name>`, a `cell` register is
  `c_<mangled name>`; both are declared `cdef object`. Locals start as the module's
  `__jj_UNBOUND` sentinel; CheckBound compares identity. `stack`/`tmp` registers live in the
  slots the allocator gave them, `r<k>`, and a slot is set to None where the allocator says
  its value dies (CPython drops value-stack temporaries right after the consuming
  instruction).
- Operations. Each op is one statement that calls the CPython C-API function ceval.c calls, or
  a `JJ_` helper of justjit/runtime/jj_runtime.h that does what the bytecode does; the hot
  helpers ("Fast paths" there) handle exact ints, floats, lists, dicts inline with the same
  results, and take their operands as borrowed `PyObject *` (a register cast with
  `<PyObject *>`, a constant as its `__jj_k[i]` entry), so Cython adds no reference counting
  around them. Plain Cython syntax is used only where Cython generates exactly that C-API
  call (tuple and list displays, `is`).
- Fusions (see `_Emitter._plan_fusions`), each what one pair of 3.11 bytecodes does:
  LOAD_METHOD + CALL (no bound method object), COMPARE_OP + POP_JUMP_IF (no bool object for
  ints and floats), LOAD_CONST + its consumer (no register), FOR_ITER + STORE_FAST (the item
  goes straight to the variable). A float operation whose operand is a temporary dying there
  may write its result into that operand's object (`JJ_Add_Reuse`, ...: see jj_runtime.h).
- Caches. Every LOAD_GLOBAL, attribute and call site has a module-level cache entry
  (`__jj_gc`, `__jj_ac`, `__jj_cc`), keyed by dict and type version tags, so they are exact
  whatever changes (see jj_runtime.h). A call to a jitted function goes straight to its
  compiled entry, without the trampoline's interpreter frame.
- Control flow. The relooper's structured program maps one to one: Loop -> `while True`,
  Break/Continue, a C int for its label and control variables. A BlockCode is always followed
  by its Dispatch: the block's ops, then its terminator's fallible part (truth test, next()),
  then the arms.
- Exceptions. A block with a handler runs its ops and its terminator's fallible part inside
  `try:`; the except clause only stores the exception (and adds the traceback entry CPython's
  frame would get) and sets a flag; the handler's arm runs *after* the try statement, and the
  normal arms too, so neither runs inside Cython's exception context. The handler code itself
  (PushExcInfo, PopExcept, CheckExcMatch, Reraise...) manages sys.exc_info() as ceval does.
- Direct self-calls (justjit.specialize, "Direct self-calls"). A specialization with a
  direct body also has `__jj_direct_body`, emitted by a child `_Emitter` into the same module
  (same constants and caches): C arguments, a C result, and a budget of recursion depth in
  `__jj_rem` instead of the thread's counter, which its transfer blocks set before generic
  code runs. A result that is not the typed one comes back as the kind's magic value, with
  the object in the module's `__jj_dirty` (jj_typed.h, "direct self-calls").
- Tracebacks. `__jj_L[0]` holds the current source line, `__jj_L[1]` says the exception in
  flight was re-raised (no new traceback entry). Catch sites and the function's exit call
  JJ_Caught, which prepends a traceback entry naming the original file, function and line.
- Non-generators: the body is `cdef object __jj_body(...)`; `entry` calls it through a
  pointer typed to return a plain `PyObject *`, so that its result or failure goes to
  JJ_Exit, which adds the exit traceback entry (no try statement: Cython never touches the
  caller's exception state). Generators: the body is a Cython generator (`__jj_generator`)
  whose whole body sits in one try statement for the exit traceback entry; `entry` returns
  it wrapped in the runtime's generator object (JJ_NewGenerator), which gives CPython's
  protocol: send/throw/close/__next__ with genobject.c's checks and messages, and gi_code,
  gi_frame, gi_running, gi_suspended, gi_yieldfrom, __name__, __qualname__. Every yield's
  result goes through JJ_Received, which raises an exception that throw()/close() sent in
  (see "Generators" in jj_runtime.h for why).

Known differences from CPython that this layer cannot fix on its own:
- There is no interpreter frame for compiled code: sys._getframe() and
  inspect.currentframe() see the caller (the trampoline). A call of warnings.warn itself
  is done by the runtime as if the frame existed (JJ_Warn: the line, globals and registry
  of this function, then the frames above it), but a warning issued on its behalf by C
  code or by a Python function with stacklevel=2 is attributed to the trampoline's `def`
  line. Traceback entries are real, with tb_lasti = -1 (no column carets) and frames that
  have no f_locals. A generator's gi_frame is such a frame (its f_lineno is the function's
  first line) until the generator finishes, then None.
- The generator object's type is `justjit.generator` (its error messages say 'generator'):
  CPython's generator type cannot be subclassed and only interpreter frames make its
  instances, so `inspect.isgenerator()`, `isinstance(g, types.GeneratorType)` and
  `inspect.getgeneratorlocals()` differ, and the jitted function is not
  `inspect.isgeneratorfunction()`. Protocol checks (`collections.abc.Generator`,
  `typing.Generator`) and `inspect.getgeneratorstate()` agree.
- `yield from` delegates to a proxy of the iterator (JJ_YieldFromProxy), so that throw()
  follows CPython's _gen_throw; one case still goes through Cython's own throw(): a
  StopIteration thrown into a generator whose delegate has no throw() method gets the
  caller's handled exception as __context__.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..analyses.dataflow import loop_heads, use_counts
from ..ir import ops as ir
from ..ir.ops import IRFunction, Reg
from ..relooper import structured as st
from .typed import UNBOXED_KINDS, TypedOps, unboxed_name
from .names import CELL_PREFIX, VAR_PREFIX, ConstPool, comment_text, mangle, short_repr

# Cython directives written into every module. boundscheck/wraparound stay on and cdivision
# off: nothing may change Python semantics.
DIRECTIVES = (
    "language_level=3, binding=False, embedsignature=False, boundscheck=True, "
    "wraparound=True, cdivision=False, initializedcheck=True, annotation_typing=False, "
    "infer_types=False"
)

INDENT = "    "

BINARY_FUNCS = {
    "+": "PyNumber_Add", "-": "PyNumber_Subtract", "*": "PyNumber_Multiply",
    "@": "PyNumber_MatrixMultiply", "/": "PyNumber_TrueDivide", "//": "PyNumber_FloorDivide",
    "%": "PyNumber_Remainder", "<<": "PyNumber_Lshift", ">>": "PyNumber_Rshift",
    "&": "PyNumber_And", "|": "PyNumber_Or", "^": "PyNumber_Xor", "**": "JJ_Power",
    "+=": "PyNumber_InPlaceAdd", "-=": "PyNumber_InPlaceSubtract",
    "*=": "PyNumber_InPlaceMultiply", "@=": "PyNumber_InPlaceMatrixMultiply",
    "/=": "PyNumber_InPlaceTrueDivide", "//=": "PyNumber_InPlaceFloorDivide",
    "%=": "PyNumber_InPlaceRemainder", "<<=": "PyNumber_InPlaceLshift",
    ">>=": "PyNumber_InPlaceRshift", "&=": "PyNumber_InPlaceAnd", "|=": "PyNumber_InPlaceOr",
    "^=": "PyNumber_InPlaceXor", "**=": "JJ_InPlacePower",
}
# Operators with fast paths for exact ints and floats (jj_runtime.h, "Fast paths"); the same
# results as the C-API function of BINARY_FUNCS, which they call for any other operands.
FAST_BINARY_FUNCS = {
    "+": "JJ_Add", "+=": "JJ_InPlaceAdd", "-": "JJ_Subtract", "-=": "JJ_InPlaceSubtract",
    "*": "JJ_Multiply", "*=": "JJ_InPlaceMultiply", "/": "JJ_TrueDivide",
    "/=": "JJ_InPlaceTrueDivide", "//": "JJ_FloorDivide", "//=": "JJ_InPlaceFloorDivide",
    "%": "JJ_Remainder", "%=": "JJ_InPlaceRemainder",
}
# Of those, the ones whose float result may be written into a dying temporary operand.
REUSE_BINARY_OPS = frozenset(("+", "+=", "-", "-=", "*", "*=", "/", "/="))
# Calls with up to this many arguments use JJ_Call<n>; longer ones and keyword calls JJ_CallAny.
MAX_FIXED_CALL_ARGS = 6
UNARY_FUNCS = {"neg": "PyNumber_Negative", "pos": "PyNumber_Positive",
               "invert": "PyNumber_Invert", "not": "JJ_Not"}
COMPARE_CONSTS = {"<": "Py_LT", "<=": "Py_LE", "==": "Py_EQ", "!=": "Py_NE", ">": "Py_GT",
                  ">=": "Py_GE"}
CONVERSIONS = {None: 0, "s": 1, "r": 2, "a": 3}

# Constants that Cython spells as the very same object.
_LITERALS = {id(None): "None", id(True): "True", id(False): "False", id(...): "Ellipsis"}

# Ops that change the handled exception (sys.exc_info()): see `_Emitter.block`.
_EXC_STATE_OPS = (ir.PushExcInfo, ir.PopExcept, ir.CheckEgMatch, ir.Yield, ir.YieldFrom)

# A direct body's result (see jj_typed.h, "direct self-calls"): C type and magic value.
DIRECT_CTYPES = {"i64": "int64_t", "f64": "double", "b1": "int"}
DIRECT_MAGIC = {"i64": "-9223372036854775807", "f64": "-1.7976931348623157e308",
                "b1": "-1"}

CO_COROUTINE = 0x0080
CO_ITERABLE_COROUTINE = 0x0100

# A code object with no locals, cells or free variables, renamed per function: the code of the
# frames of traceback entries (a frame made from the real code object could not safely show
# f_locals, since its cells would be missing).
_TB_TEMPLATE = compile("def _():\n    pass\n", "<justjit>", "exec").co_consts[0]
assert isinstance(_TB_TEMPLATE, types.CodeType)


@dataclass
class PyxModule:
    """The generated module.

    - `text`: the .pyx source.
    - `constants`: the tuple to pass to the module's `__jj_init` (constants, names, code
      objects; the source refers to them only by position).
    - `line_map`: .pyx line number (1-based) -> original source line of the code on it.
    """

    text: str
    constants: tuple
    line_map: dict[int, int] = field(default_factory=dict)


def emit_pyx(fn: IRFunction, program: Any = None, allocation: Any = None) -> PyxModule:
    """The Cython module for `fn`.

    `program` is the relooper's structured program after `lower_labelled_jumps` (a
    `structured.Seq` or a list of statements); `allocation` is `regalloc.allocate(fn)`. Either
    may be None (tests, debugging): then a structured program / allocation is computed here.
    """
    if program is None:
        program = structure(fn)
    program = _innermost_jumps(program)
    if allocation is None:
        from ..regalloc import allocate
        allocation = allocate(fn)
    return _Emitter(fn, program, allocation).module()


def structure(fn: IRFunction):
    """The lowered structured program of `fn` (what the pipeline computes with the relooper)."""
    from ..relooper import lower_labelled_jumps, render, reloop
    succ = {b.id: b.all_successors() for b in fn.blocks.values()}
    return lower_labelled_jumps(render(reloop(fn.entry, succ), succ))


def _innermost_jumps(program):
    """`program` with every Break/Continue targeting its innermost loop (what Cython can say):
    as given if it already is, else lowered with `lower_labelled_jumps`."""
    if not isinstance(program, st.Seq):
        program = st.Seq(list(program))
    try:
        st.verify(program, innermost=True)
        return program
    except ValueError:
        pass
    if any(isinstance(s, (st.SetControl, st.ControlSwitch)) for s in st.walk(program.stmts)):
        st.verify(program, innermost=True)  # lowered already, and still wrong: report it
    program = st.lower_labelled_jumps(program)
    st.verify(program, innermost=True)
    return program


def tb_code(fn: IRFunction) -> types.CodeType:
    """The code object of the frames in traceback entries of compiled `fn`."""
    code = fn.code
    name = getattr(code, "co_name", None) or fn.name
    qualname = getattr(code, "co_qualname", None) or fn.qualname
    filename = getattr(code, "co_filename", None) or fn.filename
    return _TB_TEMPLATE.replace(co_filename=filename, co_name=name, co_qualname=qualname,
                                co_firstlineno=max(1, fn.firstlineno or 1))


class EmitError(Exception):
    """The IR or the program is not something this emitter understands (a bug upstream)."""


class _Lines:
    """Indented output lines, with the source line each came from."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, Optional[int]]] = []

    def add(self, depth: int, text: str, src: Optional[int] = None) -> None:
        self.lines.append((depth, text, src))

    def extend(self, other: "_Lines", extra: int = 0) -> None:
        self.lines.extend((d + extra, t, s) for d, t, s in other.lines)


class _Emitter(TypedOps):
    def __init__(self, fn: IRFunction, program: Any, alloc: Any,
                 parent: Optional["_Emitter"] = None) -> None:
        self.fn = fn
        self.alloc = alloc
        self.stmts = program.stmts if isinstance(program, st.Seq) else list(program)
        # parent: this emits the direct body (specialize: "Direct self-calls") of the
        # parent's function into the parent's module, sharing its constants and caches.
        self.direct = parent is not None
        self.pool = parent.pool if parent is not None else ConstPool()
        self.gen = bool(fn.is_generator)
        self.out = _Lines()
        # What the body uses, to declare only that.
        self.vars: dict[Reg, str] = {}
        self.cells: dict[Reg, str] = {}
        self.unboxed: dict[str, str] = {}  # C local -> its C type (typed code)
        self.chained = False  # entry guards offer failing arguments to __jj_next
        self.slots: set[int] = set()
        self.uses: set[str] = set()
        self.has_yield = False
        self.tbc = parent.tbc if parent is not None else self.pool.obj(tb_code(fn))
        self.last_comment: Optional[int] = None
        self.known_line: Optional[int] = None
        self.cur_releases: set = set()
        self.code_flags = getattr(fn.code, "co_flags", 0) or 0
        # Per-site caches (module-level C arrays): LOAD_GLOBAL, attribute, call sites.
        self.n_global_caches = parent.n_global_caches if parent is not None else 0
        self.n_attr_caches = parent.n_attr_caches if parent is not None else 0
        self.n_call_caches = parent.n_call_caches if parent is not None else 0
        self.self_calls = False  # some SelfCall hands results over in __jj_dirty
        self.fast_entry_args: Optional[int] = None
        self.method_depths = 0
        self._plan_fusions()
        self.loop_heads = loop_heads(fn)
        for reg in fn.args:
            self.reg(reg)

    def _plan_fusions(self) -> None:
        """Find the op pairs emitted together (each pair is what one 3.11 bytecode pair does):

        - `GetAttr d = o.name` whose only use is as the callee of a later `Call` of the same
          block (LOAD_METHOD + CALL): the lookup is _PyObject_GetMethod's, which finds an
          unbound method and `o` instead of making a bound method. Its "found" flag waits for
          the call in `__jj_f<k>`, k being the number of such lookups still waiting for their
          call at that point (the value stack nests them); `o` is the call's self: the local
          variable itself when `o` is one that nothing rebinds in between, else the method
          variable `__jj_s<k>`, which holds it (only when found, as LOAD_METHOD does);
        - a `Compare` ending a block whose only use is the block's truth test
          (COMPARE_OP + POP_JUMP_IF_*): ints and floats are compared in C, with no bool
          object; other operands take the generic path unchanged;
        - a `LoadConst` whose only use is a later op of the block that takes borrowed
          operands (see `_takes_borrowed`): the op reads the constant's __jj_k entry and the
          LoadConst disappears (constants are immortal while the module lives);
        - a `ForIter` whose body block (reached from it only) starts by moving the item into a
          local (FOR_ITER + STORE_FAST): the item goes straight into the local.
        """
        # A fusion needs the value to have exactly one use: counted in the block that reads
        # it, and dead after that block (specialized code has two copies of every register,
        # so a count over the whole function would never be 1 there).
        block_uses = {block.id: use_counts(block) for block in self.fn.blocks.values()}
        live = self.alloc.liveness

        def sole_use(r: Reg, b: int) -> bool:
            return (block_uses.get(b, {}).get(r) == 1 and r not in live.live_out.get(b, ())
                    and r not in live.exc_live.get(b, ()))
        self.method_lookup: dict[int, int] = {}   # id(GetAttr) -> method variable index k
        self.method_call: dict[int, int] = {}     # id(Call) -> method variable index k
        self.method_self: dict[int, str] = {}     # id(GetAttr or Call) -> self as a local
        self.block_methods: dict[int, set] = {}   # block id -> indices of __jj_s<k> used
        self.fused_compare: set[int] = set()      # id(Compare)
        # Constants passed straight to the op that uses them (LOAD_CONST + its consumer): the
        # LoadConst is not emitted, the consumer reads __jj_k[i] (a borrowed PyObject*).
        self.folded_consts: set[int] = set()      # id(LoadConst), id(Move): not emitted
        self.const_operand: dict[tuple[int, Reg], Any] = {}  # (id(consumer), reg) -> value
        self.skip_release: dict[tuple[int, int], set] = {}   # (block, op index) -> slots
        self.foriter_target: dict[int, Reg] = {}  # id(ForIter) -> the variable it stores to
        preds: dict[int, set] = {}
        for block in self.fn.blocks.values():
            for succ in block.all_successors():
                preds.setdefault(succ, set()).add(block.id)
        for block in self.fn.blocks.values():
            ops = block.ops
            pairs: dict[int, int] = {}  # op index of the GetAttr -> op index of its Call
            for i, op in enumerate(ops):
                if not (isinstance(op, ir.GetAttr) and op.dest.kind == "tmp"
                        and sole_use(op.dest, block.id)):
                    continue
                for j in range(i + 1, len(ops)):
                    later = ops[j]
                    if isinstance(later, ir.Call) and later.func == op.dest:
                        if op.dest not in later.args:
                            pairs[i] = j
                        break
                    if op.dest in later.defs() or op.dest in later.uses():
                        break
            for i, j in pairs.items():
                obj = ops[i].obj
                if obj.kind == "var" and not any(
                        obj in later.defs() or isinstance(later, (ir.DeleteLocal, ir.MakeCell))
                        for later in ops[i + 1:j]):
                    # The local still holds `obj` at the call: it is the call's self.
                    self.method_self[id(ops[i])] = self.method_self[id(ops[j])] = self.reg(obj)
            waiting: dict[int, int] = {}  # call op index -> method variable index
            for i, op in enumerate(ops):
                if i in waiting:
                    self.method_call[id(op)] = waiting.pop(i)
                if i in pairs:
                    taken = set(waiting.values())
                    index = next(k for k in range(len(taken) + 1) if k not in taken)
                    waiting[pairs[i]] = index
                    self.method_lookup[id(op)] = index
                    if id(op) not in self.method_self:
                        self.block_methods.setdefault(block.id, set()).add(index)
                    self.method_depths = max(self.method_depths, index + 1)
            for i, op in enumerate(ops):
                if not (isinstance(op, ir.LoadConst) and op.dest.kind == "tmp"
                        and sole_use(op.dest, block.id) and op.dest in self.alloc.slot):
                    continue
                for j in range(i + 1, len(ops)):
                    later = ops[j]
                    if op.dest in later.uses():
                        if self._takes_borrowed(later, op.dest):
                            self.folded_consts.add(id(op))
                            self.const_operand[(id(later), op.dest)] = op.value
                            # Its slot was never written: nothing to release there.
                            self.skip_release.setdefault((block.id, j), set()).add(
                                self.alloc.slot[op.dest])
                        break
                    if op.dest in later.defs():
                        break
            term = block.terminator
            if isinstance(term, ir.ForIter):
                # FOR_ITER + STORE_FAST: the item goes straight into the loop variable.
                body = self.fn.blocks.get(term.body)
                first = body.ops[0] if body is not None and body.ops else None
                if (isinstance(first, ir.Move) and first.src == term.dest
                        and first.dest.kind == "var" and sole_use(term.dest, term.body)
                        and preds.get(term.body) == {block.id} and term.dest in self.alloc.slot
                        and not self.alloc.release_on_entry.get(term.body)):
                    self.foriter_target[id(term)] = first.dest
                    self.folded_consts.add(id(first))
                    self.skip_release.setdefault((term.body, 0), set()).add(
                        self.alloc.slot[term.dest])
            if (ops and isinstance(ops[-1], ir.Compare) and isinstance(term, ir.CondBranch)
                    and term.test == "truth" and term.cond == ops[-1].dest
                    and ops[-1].dest.kind == "tmp" and sole_use(ops[-1].dest, block.id)
                    and ops[-1].op in COMPARE_CONSTS):
                self.fused_compare.add(id(ops[-1]))

    @staticmethod
    def _takes_borrowed(op: ir.Op, reg: Reg) -> bool:
        """Whether the rendering of `op` passes `reg` as a PyObject* operand (see `p`)."""
        if isinstance(op, ir.BinaryOp):
            return op.op in FAST_BINARY_FUNCS
        if isinstance(op, (ir.Compare, ir.GetItem, ir.SetItem)):
            return True
        if isinstance(op, ir.Call):
            return reg != op.func and reg in op.args
        return False

    def dies_here(self, r: Reg, dest: Reg) -> int:
        """1 if the slot of operand `r` of the op being emitted holds nothing needed after the
        op (its value dies here, and no live register shares the slot), else 0."""
        if (id(self.cur_op), r) in self.const_operand or r not in self.alloc.slot:
            return 0
        slot = self.alloc.slot[r]
        if slot in self.alloc.release_after.get((self.cur_block, self.cur_index), ()):
            return 1
        return int(self.alloc.slot.get(dest) == slot)

    def p(self, r: Reg) -> str:
        """Register `r` as a borrowed PyObject* operand of the op being emitted (a folded
        constant is its __jj_k entry)."""
        key = (id(self.cur_op), r)
        if key in self.const_operand:
            # (Always the pool entry: Cython would cast a literal True/False to a C int.)
            return f"__jj_k[{self.pool.obj(self.const_operand[key])}]"
        return f"<PyObject *>{self.reg(r)}"

    def pname_tuple(self, names: tuple) -> str:
        """A tuple of interned names (keyword names of a call) as a borrowed PyObject*."""
        return f"__jj_k[{self.pool.names(names)}]"

    def pname(self, text: str) -> str:
        """An interned name constant as a borrowed PyObject*."""
        return f"__jj_k[{self.pool.name(text)}]"

    def global_cache(self) -> str:
        self.n_global_caches += 1
        return f"&__jj_gc[{self.n_global_caches - 1}]"

    def attr_cache(self) -> str:
        self.n_attr_caches += 1
        return f"&__jj_ac[{self.n_attr_caches - 1}]"

    def call_cache(self) -> str:
        self.n_call_caches += 1
        return f"&__jj_cc[{self.n_call_caches - 1}]"

    # ---- names ----------------------------------------------------------------------------

    def reg(self, r: Reg) -> str:
        if r.kind == "var":
            name = self.vars.get(r)
            if name is None:
                name = self.vars[r] = mangle(VAR_PREFIX, r.name)
            return name
        if r.kind == "cell":
            name = self.cells.get(r)
            if name is None:
                name = self.cells[r] = mangle(CELL_PREFIX, r.name)
            return name
        ctype = UNBOXED_KINDS.get(r.kind)
        if ctype is not None:
            name = unboxed_name(r)
            self.unboxed[name] = ctype
            return name
        slot = self.alloc.slot.get(r)
        if slot is None:
            raise EmitError(f"{r} has no slot in the allocation")
        self.slots.add(slot)
        return f"r{slot}"

    def k(self, value: Any) -> str:
        """An object constant, as an expression."""
        lit = _LITERALS.get(id(value))
        if lit is not None:
            return lit
        return f"<object>__jj_k[{self.pool.obj(value)}]"

    def p_const(self, value: Any) -> str:
        """An object constant as a borrowed PyObject* (its __jj_k entry)."""
        return f"__jj_k[{self.pool.obj(value)}]"

    @staticmethod
    def error(message: str) -> "EmitError":
        return EmitError(message)

    def name(self, text: str) -> str:
        """An interned name constant, as an expression."""
        return f"<object>__jj_k[{self.pool.name(text)}]"

    def state(self, which: str) -> str:
        self.uses.add(which)
        if self.direct:
            # Read where used (borrowed, no reference counting): only generic code uses them,
            # and loaded on entry they would hold a register across the typed code's calls.
            self.uses.discard(which)
            return f"<object>JJ_TupleItem(__jj_state, {('g', 'b', 'cl').index(which)})"
        return {"g": "__jj_g", "b": "__jj_b", "cl": "__jj_cl"}[which]

    def opt(self, r: Optional[Reg]) -> str:
        return "None" if r is None else self.reg(r)

    @staticmethod
    def ptrs(names: list[str]) -> str:
        return "".join(f", <PyObject*>{n}" for n in names)

    # ---- output -----------------------------------------------------------------------------

    def comment(self, out: _Lines, depth: int, line: Optional[int]) -> None:
        if line is None or line == self.last_comment:
            return
        self.last_comment = line
        text = self.fn.source_lines.get(line, "")
        text = comment_text(text.strip())
        out.add(depth, f"# {line}: {text}" if text else f"# line {line}", line)

    # ---- statements ---------------------------------------------------------------------------

    def suite(self, stmts: list, depth: int, out: _Lines) -> None:
        """Emit `stmts` at `depth`; `pass` if they produce no statement."""
        before = len(out.lines)
        self.stmt_list(stmts, depth, out)
        if not any(not t.startswith("#") for _, t, _ in out.lines[before:]):
            out.add(depth, "pass")

    def stmt_list(self, stmts: list, depth: int, out: _Lines) -> None:
        i = 0
        while i < len(stmts):
            s = stmts[i]
            if isinstance(s, st.BlockCode):
                dispatch = stmts[i + 1] if i + 1 < len(stmts) else None
                if not (isinstance(dispatch, st.Dispatch) and dispatch.block == s.block):
                    raise EmitError(f"block {s.block} is not followed by its dispatch")
                self.block(self.fn.blocks[s.block], dispatch, depth, out)
                i += 2
                continue
            self.stmt(s, depth, out)
            i += 1

    def stmt(self, s: Any, depth: int, out: _Lines) -> None:
        if isinstance(s, st.Loop):
            out.add(depth, f"while True:  # loop L{s.loop_id}")
            self.suite(s.body, depth + 1, out)
        elif isinstance(s, st.Break):
            out.add(depth, "break")
        elif isinstance(s, st.Continue):
            out.add(depth, "continue")
        elif isinstance(s, st.SetLabel):
            self.uses.add("label")
            out.add(depth, f"__jj_label = {int(s.block)}")
        elif isinstance(s, st.LabelSwitch):
            self.uses.add("label")
            self.switch("__jj_label", list(s.cases.items()), [], depth, out)
        elif isinstance(s, st.SetControl):
            self.uses.add("ctl")
            out.add(depth, f"__jj_ctl = {int(s.value)}")
        elif isinstance(s, st.ControlSwitch):
            self.uses.add("ctl")
            self.switch("__jj_ctl", list(s.cases.items()), s.otherwise, depth, out)
        elif isinstance(s, st.Seq):
            self.stmt_list(s.stmts, depth, out)
        elif isinstance(s, st.Dispatch):
            raise EmitError(f"dispatch of block {s.block} without its block")
        else:
            raise EmitError(f"unknown statement {s!r}")

    def switch(self, var: str, cases: list, otherwise: list, depth: int, out: _Lines) -> None:
        keyword = "if"
        for value, body in cases:
            out.add(depth, f"{keyword} {var} == {int(value)}:")
            self.suite(body, depth + 1, out)
            keyword = "elif"
        if otherwise:
            out.add(depth, f"{keyword} {var} != 0:")
            self.suite(otherwise, depth + 1, out)

    # ---- blocks -------------------------------------------------------------------------------

    def block(self, block: ir.Block, dispatch: st.Dispatch, depth: int, out: _Lines) -> None:
        b = block.id
        self.cur_block = b
        out.add(depth, f"# -- b{b}")
        self.last_comment = None
        for slot in self.alloc.release_on_entry.get(b, ()):
            self.slots.add(slot)
            out.add(depth, f"r{slot} = None")
        if self.direct and b in self.fn.specialization.transfers:
            out.add(depth, "JJ_RecursionSet(__jj_rem)  # generic code counts on the thread's")
        term = block.terminator
        handler = block.handler
        self.known_line = None
        fallible = self.term_fallible(term)
        tick = b in self.loop_heads
        raising = [i for i, op in enumerate(block.ops) if op.CAN_RAISE]
        if tick:
            raising.insert(0, 0)
        protected = handler is not None and (bool(fallible) or bool(raising))
        # Ops before the first one that may raise run outside the try (they cannot reach the
        # handler), so that changes they make to the handled exception are not undone when
        # Cython's except clause restores the state it saw at the start of the try.
        first = (raising[0] if raising else len(block.ops)) if protected else len(block.ops)
        prefix, body = _Lines(), _Lines()
        mutated = False
        if tick:
            line = next((op.line for op in block.ops + [term] if op.line is not None), None)
            self.comment(body, 0, line)
            self.uses.add("tick")
            body.add(0, f"JJ_Tick(__jj_tick, __jj_L, {int(line or 0)})  "
                        "# loop head: signal handlers, other threads", line)
        for i, op in enumerate(block.ops):
            target = prefix if i < first else body
            self.comment(target, 0, op.line)
            self.set_line(target, 0, op)
            self.cur_index = i
            self.cur_releases = set(self.alloc.release_after.get((b, i), ()))
            skip = self.op(op, target, 0, self.cur_releases)
            skip = skip | self.skip_release.get((b, i), set())
            for slot in self.alloc.release_after.get((b, i), ()):
                if slot not in skip:
                    target.add(0, f"r{slot} = None", op.line)
            if protected and i >= first and isinstance(op, _EXC_STATE_OPS):
                # The handled exception changed inside the try: remember it for the handler.
                self.uses.add("xs")
                mutated = True
                target.add(0, "__jj_xs = JJ_GetExcState()")
                target.add(0, "__jj_xm = 3")
        self.comment(body, 0, term.line)
        if fallible:
            self.set_line(body, 0, term)
            for text in fallible:
                body.add(0, text, term.line)
        arms = dispatch.arms
        if not protected:
            out.extend(prefix, depth)
            out.extend(body, depth)
            self.normal_dispatch(term, arms, depth, out)
            return
        if handler.target not in arms:
            raise EmitError(f"block {b}: no arm for its handler b{handler.target}")
        self.uses.update(("xm", "x"))
        out.extend(prefix, depth)
        out.add(depth, "__jj_xm = JJ_ExcMark()")
        out.add(depth, "try:")
        out.extend(body, depth + 1)
        out.add(depth, "except BaseException as __jj_e:")
        out.add(depth + 1, f"{self.reg(handler.exc_dest)} = "
                           f"JJ_Caught(__jj_e, {self.k_tbc()}, __jj_state, __jj_L)")
        self.thrown(out, depth + 1)
        for index in sorted(self.block_methods.get(b, ())):
            # A method lookup whose call did not happen: the value stack is dropped.
            out.add(depth + 1, f"__jj_s{index} = None")
        out.add(depth + 1, "__jj_x = 1")
        out.add(depth, "if __jj_x:")
        out.add(depth + 1, "__jj_x = 0")
        if mutated:
            out.add(depth + 1, "JJ_ExcUnmark(__jj_xm, __jj_xs)")
            out.add(depth + 1, "__jj_xs = None")
        else:
            out.add(depth + 1, "JJ_ExcUnmark(__jj_xm, None)")
        if handler.lasti_dest is not None:
            out.add(depth + 1, f"{self.reg(handler.lasti_dest)} = None")
        self.suite(arms[handler.target], depth + 1, out)
        normal = _Lines()
        self.normal_dispatch(term, arms, 0, normal)
        if mutated:
            normal.lines.insert(0, (0, "__jj_xs = None", None))
        if any(not t.startswith("#") for _, t, _ in normal.lines):
            out.add(depth, "else:")
            out.extend(normal, depth + 1)

    def thrown(self, out: _Lines, depth: int) -> None:
        """In a generator's catch site: an exception thrown in at a yield gets the context
        CPython's throw() gives it (see JJ_ChainThrown)."""
        if not self.gen:
            return
        self.uses.update(("yf", "ys"))
        out.add(depth, "if __jj_yf:")
        out.add(depth + 1, "__jj_yf = 0")
        out.add(depth + 1, "JJ_ChainThrown(__jj_e, __jj_ys)")
        out.add(depth + 1, "__jj_ys = None")

    def k_tbc(self) -> str:
        return f"<object>__jj_k[{self.tbc}]"

    def set_line(self, out: _Lines, depth: int, op: ir.Op) -> None:
        if not op.CAN_RAISE or op.line is None or op.line == self.known_line:
            return
        self.known_line = op.line
        out.add(depth, f"__jj_L[0] = {int(op.line)}", op.line)

    def term_fallible(self, term: ir.Op) -> list[str]:
        """The statements of `term` that may raise (they go inside the block's try)."""
        if isinstance(term, ir.CondBranch):
            if term.test == "truth":
                self.uses.add("c")
                block_ops = self.fn.blocks[self.cur_block].ops
                cond = f"<PyObject *>{self.reg(term.cond)}"
                if block_ops and id(block_ops[-1]) in self.fused_compare:
                    return [f"if __jj_c < 0: __jj_c = JJ_IsTrue({cond})"]
                return [f"__jj_c = JJ_IsTrue({cond})"]
            if term.test == "none":
                return []
            raise EmitError(f"unknown CondBranch test {term.test!r}")
        if isinstance(term, ir.ForIter):
            # The item (a new reference) waits in the C pointer __jj_np for the body arm; or
            # (2) it is the object its variable already holds, which then stays (see
            # JJ_ForIterNextInto). Not in a direct body, whose registers start unset.
            self.uses.update(("c", "np"))
            if self.direct:
                return [f"__jj_c = JJ_ForIterNext({self.reg(term.iterator)}, &__jj_np)"]
            dest = self.reg(self.foriter_target.get(id(term), term.dest))
            return [f"__jj_c = JJ_ForIterNextInto({self.reg(term.iterator)}, &__jj_np, "
                    f"<PyObject *>{dest})"]
        if isinstance(term, ir.Raise):
            exc = self.opt(term.exc)
            cause = self.opt(term.cause)
            return [f"JJ_Raise({exc}, {cause}, {int(term.exc is not None)}, "
                    f"{int(term.cause is not None)}, __jj_L)"]
        if isinstance(term, ir.Reraise):
            return [f"JJ_Reraise({self.reg(term.exc)}, __jj_L)"]
        if isinstance(term, ir.SelfCall):
            return self.self_call(term)
        if isinstance(term, (ir.Jump, ir.Return, ir.ReturnUnboxed)):
            return []
        if isinstance(term, self.TERMINATORS):
            return []  # typed terminators cannot raise
        raise EmitError(f"unknown terminator {type(term).__name__}")

    def normal_dispatch(self, term: ir.Op, arms: dict, depth: int, out: _Lines) -> None:
        def arm(target: int) -> list:
            if target not in arms:
                raise EmitError(f"no arm for b{target}")
            return arms[target]

        if isinstance(term, ir.Jump):
            self.stmt_list(arm(term.target), depth, out)
        elif isinstance(term, ir.CondBranch):
            test = "__jj_c" if term.test == "truth" else f"{self.reg(term.cond)} is None"
            if term.if_true == term.if_false:
                self.stmt_list(arm(term.if_true), depth, out)
                return
            out.add(depth, f"if {test}:")
            self.suite(arm(term.if_true), depth + 1, out)
            out.add(depth, "else:")
            self.suite(arm(term.if_false), depth + 1, out)
        elif isinstance(term, ir.ForIter):
            out.add(depth, "if __jj_c:")
            dest = self.foriter_target.get(id(term), term.dest)
            if self.direct:
                out.add(depth + 1, f"{self.reg(dest)} = JJ_Steal(__jj_np)")
            else:
                out.add(depth + 1, "if __jj_c == 1:")
                out.add(depth + 2, f"{self.reg(dest)} = JJ_Steal(__jj_np)")
            self.suite(arm(term.body), depth + 1, out)
            out.add(depth, "else:")
            self.suite(arm(term.exit), depth + 1, out)
        elif isinstance(term, ir.Return) and self.direct:
            # Generic code's result: handed over as an object (see JJ_DirectDirty_*).
            kind = self.fn.specialization.direct_result.unboxed
            out.add(depth, f"return JJ_DirectDirty_{kind}(<PyObject *>{self.reg(term.value)}, "
                           "&__jj_dirty)", term.line)
        elif isinstance(term, ir.Return):
            out.add(depth, f"return {self.reg(term.value)}", term.line)
        elif isinstance(term, ir.ReturnUnboxed):
            out.add(depth, f"return {self.reg(term.value)}", term.line)
        elif isinstance(term, ir.SelfCall):
            out.add(depth, "if __jj_sc == 0:")
            out.add(depth + 1, f"{self.reg(term.dest)} = __jj_d{term.dest.kind}")
            self.suite(arm(term.ok), depth + 1, out)
            out.add(depth, "elif __jj_sc == 1:  # the callee left typed code")
            self.suite(arm(term.dirty), depth + 1, out)
            out.add(depth, "else:  # declined: the generic call")
            self.suite(arm(term.decline), depth + 1, out)
        elif isinstance(term, (ir.Raise, ir.Reraise)):
            pass
        elif isinstance(term, self.TERMINATORS):
            self.typed_dispatch(term, arm, depth, out)
        else:
            raise EmitError(f"unknown terminator {type(term).__name__}")

    # ---- operations ---------------------------------------------------------------------------

    def op(self, op: ir.Op, out: _Lines, depth: int, releases) -> set:
        """Emit `op`; return the slots it already released itself."""
        self.cur_op = op
        if id(op) in self.folded_consts:
            return set()
        method: Optional[Callable] = getattr(self, "op_" + type(op).__name__, None)
        if method is None:
            raise EmitError(f"no rendering for {type(op).__name__}")
        result = method(op)
        if isinstance(result, tuple):  # (lines, released slots)
            lines, released = result
        else:
            lines, released = result, set()
        for text in ([lines] if isinstance(lines, str) else lines):
            out.add(depth, text, op.line)
        return released

    def self_call(self, term: ir.SelfCall) -> list[str]:
        """The call part of a SelfCall: __jj_sc = 0 (typed result in __jj_d<kind>), 1 (an
        object waits in __jj_dirty) or 2 (declined); a failure raises here."""
        self.uses.update(("sc", "d" + term.dest.kind))
        self.self_calls = True
        kind = term.dest.kind
        args = "".join(f", {self.reg(a)}" for a in term.args)
        if self.direct:  # the caller checked everything but the recursion depth
            return ["if __jj_rem > 0:",
                    f"    __jj_d{kind} = __jj_direct(<PyObject *>__jj_state{args}, __jj_rem - 1)",
                    f"    __jj_sc = JJ_DirectOutcome_{kind}(__jj_d{kind}, &__jj_dirty)",
                    "else:",
                    "    __jj_sc = 2"]
        return [f"__jj_sc = JJ_SelfReady({self.call_cache()}, {self.p(term.func)}, "
                f"<PyObject *>__jj_state, <void *>__jj_fast_entry, {len(term.args)})",
                "if __jj_sc >= 0:",
                f"    __jj_d{kind} = __jj_direct(<PyObject *>__jj_state{args}, __jj_sc)",
                "    JJ_RecursionSet(__jj_sc + 1)",
                f"    __jj_sc = JJ_DirectOutcome_{kind}(__jj_d{kind}, &__jj_dirty)",
                "else:",
                "    __jj_sc = 2"]

    def op_DirectBudget(self, op: ir.DirectBudget):
        return f"{self.reg(op.dest)} = __jj_rem > {int(op.depth)}"

    def op_LeafBudget(self, op: ir.LeafBudget):
        self.uses.add("tstate")
        return f"{self.reg(op.dest)} = JJ_LeafReady(__jj_ts)"

    def op_DirectResult(self, op: ir.DirectResult):
        return f"{self.reg(op.dest)} = JJ_DirectTake(&__jj_dirty)"

    def op_Move(self, op: ir.Move):
        d, s = self.reg(op.dest), self.reg(op.src)
        return [] if d == s else f"{d} = {s}"

    def op_LoadConst(self, op: ir.LoadConst):
        expr = self.k(op.value)
        text = f"{self.reg(op.dest)} = {expr}"
        if expr.startswith("<object>"):
            text += f"  # {short_repr(op.value)}"
        return text

    def op_CheckBound(self, op: ir.CheckBound):
        self.uses.add("unbound")
        return (f"if {self.reg(op.var)} is __jj_UNBOUND: "
                f"JJ_RaiseUnboundLocal({self.name(op.var.name)})")

    def op_DeleteLocal(self, op: ir.DeleteLocal):
        self.uses.add("unbound")
        return f"{self.reg(op.var)} = __jj_UNBOUND"

    def op_BinaryOp(self, op: ir.BinaryOp):
        fast = FAST_BINARY_FUNCS.get(op.op)
        if fast is not None:
            left, right = self.p(op.left), self.p(op.right)
            dying = 0
            if op.op in REUSE_BINARY_OPS:
                dying = self.dies_here(op.left, op.dest) | (2 * self.dies_here(op.right, op.dest))
            if dying:
                return f"{self.reg(op.dest)} = {fast}_Reuse({left}, {right}, {dying})"
            return f"{self.reg(op.dest)} = {fast}({left}, {right})"
        func = BINARY_FUNCS.get(op.op)
        if func is None:
            raise EmitError(f"unknown binary operator {op.op!r}")
        return f"{self.reg(op.dest)} = {func}({self.reg(op.left)}, {self.reg(op.right)})"

    def op_UnaryOp(self, op: ir.UnaryOp):
        func = UNARY_FUNCS.get(op.op)
        if func is None:
            raise EmitError(f"unknown unary operator {op.op!r}")
        return f"{self.reg(op.dest)} = {func}({self.reg(op.operand)})"

    def op_Compare(self, op: ir.Compare):
        const = COMPARE_CONSTS.get(op.op)
        if const is None:
            raise EmitError(f"unknown comparison {op.op!r}")
        left, right = self.p(op.left), self.p(op.right)
        if id(op) in self.fused_compare:
            # The block's truth test reads __jj_c (see _plan_fusions); -1: not compared yet.
            self.uses.add("c")
            return [f"__jj_c = JJ_CompareFast({left}, {right}, {const})",
                    f"if __jj_c < 0: {self.reg(op.dest)} = JJ_RichCompareGeneric("
                    f"{left}, {right}, {const})"]
        return f"{self.reg(op.dest)} = JJ_RichCompare({left}, {right}, {const})"

    def op_IsOp(self, op: ir.IsOp):
        word = "is not" if op.negate else "is"
        return f"{self.reg(op.dest)} = ({self.reg(op.left)} {word} {self.reg(op.right)})"

    def op_ContainsOp(self, op: ir.ContainsOp):
        return (f"{self.reg(op.dest)} = JJ_Contains({self.reg(op.item)}, "
                f"{self.reg(op.container)}, {int(bool(op.negate))})")

    def op_LoadGlobal(self, op: ir.LoadGlobal):
        return (f"{self.reg(op.dest)} = JJ_LoadGlobalCached({self.global_cache()}, "
                f"<PyObject *>{self.state('g')}, <PyObject *>{self.state('b')}, "
                f"{self.pname(op.name)})")

    def op_StoreGlobal(self, op: ir.StoreGlobal):
        return f"JJ_StoreGlobal({self.state('g')}, {self.name(op.name)}, {self.reg(op.value)})"

    def op_DeleteGlobal(self, op: ir.DeleteGlobal):
        return f"JJ_DeleteGlobal({self.state('g')}, {self.name(op.name)})"

    def op_MakeCell(self, op: ir.MakeCell):
        cell = self.reg(op.cell)
        if op.initial is None:
            return f"{cell} = JJ_NewEmptyCell()"
        lines = [f"{cell} = JJ_NewCell({self.reg(op.initial)})"]
        if op.initial.kind == "var":
            # MAKE_CELL replaces the local with the cell: the local no longer holds the value.
            self.uses.add("unbound")
            lines.append(f"{self.reg(op.initial)} = __jj_UNBOUND")
        return lines

    def op_LoadFreeCell(self, op: ir.LoadFreeCell):
        return f"{self.reg(op.cell)} = JJ_FreeCell({self.state('cl')}, {int(op.index)})"

    def op_LoadDeref(self, op: ir.LoadDeref):
        return (f"{self.reg(op.dest)} = JJ_LoadDeref({self.reg(op.cell)}, {self.name(op.name)}, "
                f"{int(bool(op.is_free))})")

    def op_StoreDeref(self, op: ir.StoreDeref):
        return f"JJ_StoreDeref({self.reg(op.cell)}, {self.reg(op.value)})"

    def op_DeleteDeref(self, op: ir.DeleteDeref):
        return (f"JJ_DeleteDeref({self.reg(op.cell)}, {self.name(op.name)}, "
                f"{int(bool(op.is_free))})")

    def op_GetAttr(self, op: ir.GetAttr):
        index = self.method_lookup.get(id(op))
        if index is None:
            return (f"{self.reg(op.dest)} = JJ_GetAttrCached({self.attr_cache()}, "
                    f"{self.p(op.obj)}, {self.pname(op.name)})")
        self.uses.add(f"found{index}")
        if id(op) in self.method_self:
            # LOAD_METHOD on a local that still holds the object at the call: its self.
            return (f"{self.reg(op.dest)} = JJ_LoadMethod({self.attr_cache()}, "
                    f"{self.p(op.obj)}, {self.pname(op.name)}, &__jj_f{index})")
        # LOAD_METHOD: `obj` is held for the call in __jj_s<index> only if a method was found.
        self.uses.add(f"method{index}")
        return [f"__jj_s{index} = {self.reg(op.obj)}",
                f"{self.reg(op.dest)} = JJ_LoadMethod({self.attr_cache()}, "
                f"<PyObject *>__jj_s{index}, {self.pname(op.name)}, &__jj_f{index})",
                f"if not __jj_f{index}: __jj_s{index} = None"]

    def op_SetAttr(self, op: ir.SetAttr):
        return (f"JJ_SetAttrCached({self.attr_cache()}, {self.p(op.obj)}, "
                f"{self.pname(op.name)}, {self.p(op.value)})")

    def op_DelAttr(self, op: ir.DelAttr):
        return f"JJ_DelAttr({self.reg(op.obj)}, {self.name(op.name)})"

    def op_GetItem(self, op: ir.GetItem):
        return f"{self.reg(op.dest)} = JJ_GetItem({self.p(op.obj)}, {self.p(op.key)})"

    def op_SetItem(self, op: ir.SetItem):
        return f"JJ_SetItem({self.p(op.obj)}, {self.p(op.key)}, {self.p(op.value)})"

    def op_DelItem(self, op: ir.DelItem):
        return f"PyObject_DelItem({self.reg(op.obj)}, {self.reg(op.key)})"

    def op_BuildSlice(self, op: ir.BuildSlice):
        return (f"{self.reg(op.dest)} = PySlice_New({self.reg(op.start)}, {self.reg(op.stop)}, "
                f"{self.opt(op.step)})")

    def op_Call(self, op: ir.Call):
        args = [self.p(a) for a in op.args]
        index = self.method_call.get(id(op))
        if index is None:
            found, self_ = "0", "NULL"
        elif id(op) in self.method_self:
            found, self_ = f"__jj_f{index}", f"<PyObject *>{self.method_self[id(op)]}"
        else:
            found, self_ = f"__jj_f{index}", f"<PyObject *>__jj_s{index}"
        head = f"{self.reg(op.dest)} = "
        func = f"<PyObject *>{self.reg(op.func)}"
        site = f"{self.call_cache()}, {self.caller()}"
        if op.kwnames or len(args) > MAX_FIXED_CALL_ARGS:
            kwnames = "NULL" if not op.kwnames else self.pname_tuple(tuple(op.kwnames))
            call = (f"JJ_CallAny({site}, {func}, {found}, {self_}, {kwnames}, "
                    f"{len(args)}{''.join(', ' + a for a in args)})")
        else:
            call = (f"JJ_Call{len(args)}({site}, {func}, {found}, "
                    f"{self_}{''.join(', ' + a for a in args)})")
        if index is None or id(op) in self.method_self:
            return head + call
        # CALL drops self with the arguments.
        return [head + call, f"__jj_s{index} = None"]

    def op_CallEx(self, op: ir.CallEx):
        return (f"{self.reg(op.dest)} = JJ_CallEx({self.reg(op.func)}, {self.reg(op.args)}, "
                f"{self.opt(op.kwargs)}, {self.caller()})")

    def caller(self) -> str:
        """What a call passes about the calling function (its state tuple, traceback code and
        line slot), for a callee that needs its frame: warnings.warn (jj_runtime.h, JJ_Warn)."""
        return f"<PyObject *>__jj_state, __jj_k[{self.tbc}], __jj_L"

    def op_MakeFunction(self, op: ir.MakeFunction):
        return (f"{self.reg(op.dest)} = JJ_MakeFunction({self.k(op.code)}, {self.state('g')}, "
                f"{self.opt(op.defaults)}, {self.opt(op.kwdefaults)}, "
                f"{self.opt(op.annotations)}, {self.opt(op.closure)})"
                f"  # {short_repr(op.code)}")

    def op_LoadBuildClass(self, op: ir.LoadBuildClass):
        return f"{self.reg(op.dest)} = JJ_LoadBuildClass({self.state('b')})"

    def op_LoadAssertionError(self, op: ir.LoadAssertionError):
        return f"{self.reg(op.dest)} = JJ_AssertionError()"

    def op_ImportName(self, op: ir.ImportName):
        return (f"{self.reg(op.dest)} = JJ_ImportName({self.state('b')}, {self.state('g')}, "
                f"{self.name(op.name)}, {self.reg(op.fromlist)}, {self.reg(op.level)})")

    def op_ImportFrom(self, op: ir.ImportFrom):
        return (f"{self.reg(op.dest)} = JJ_ImportFrom({self.reg(op.module)}, "
                f"{self.name(op.name)})")

    def op_BuildTuple(self, op: ir.BuildTuple):
        items = [self.reg(r) for r in op.items]
        if not items:
            return f"{self.reg(op.dest)} = ()"
        return f"{self.reg(op.dest)} = ({', '.join(items)},)"

    def op_BuildList(self, op: ir.BuildList):
        items = [self.reg(r) for r in op.items]
        return f"{self.reg(op.dest)} = [{', '.join(items)}]"

    def op_BuildSet(self, op: ir.BuildSet):
        items = [self.reg(r) for r in op.items]
        return f"{self.reg(op.dest)} = JJ_BuildSet({len(items)}{self.ptrs(items)})"

    def op_BuildMap(self, op: ir.BuildMap):
        if len(op.keys) != len(op.values):
            raise EmitError("BuildMap with different numbers of keys and values")
        pairs: list[str] = []
        for key, value in zip(op.keys, op.values):
            pairs += [self.reg(key), self.reg(value)]
        return f"{self.reg(op.dest)} = JJ_BuildMap({len(op.keys)}{self.ptrs(pairs)})"

    def op_BuildConstKeyMap(self, op: ir.BuildConstKeyMap):
        values = [self.reg(r) for r in op.values]
        return (f"{self.reg(op.dest)} = JJ_BuildConstKeyMap({self.k(op.keys)}, "
                f"{len(values)}{self.ptrs(values)})")

    def op_BuildString(self, op: ir.BuildString):
        parts = [self.reg(r) for r in op.parts]
        return f"{self.reg(op.dest)} = JJ_BuildString({len(parts)}{self.ptrs(parts)})"

    def op_FormatValue(self, op: ir.FormatValue):
        if op.conversion not in CONVERSIONS:
            raise EmitError(f"unknown conversion {op.conversion!r}")
        return (f"{self.reg(op.dest)} = JJ_FormatValue({self.reg(op.value)}, "
                f"{CONVERSIONS[op.conversion]}, {self.opt(op.spec)}, {int(op.spec is not None)})")

    def op_ListToTuple(self, op: ir.ListToTuple):
        return f"{self.reg(op.dest)} = PyList_AsTuple({self.reg(op.list_)})"

    def op_ListAppend(self, op: ir.ListAppend):
        return f"PyList_Append({self.reg(op.list_)}, {self.reg(op.value)})"

    def op_ListExtend(self, op: ir.ListExtend):
        return f"JJ_ListExtend({self.reg(op.list_)}, {self.reg(op.iterable)})"

    def op_SetAdd(self, op: ir.SetAdd):
        return f"PySet_Add({self.reg(op.set_)}, {self.reg(op.value)})"

    def op_SetUpdate(self, op: ir.SetUpdate):
        return f"JJ_SetUpdate({self.reg(op.set_)}, {self.reg(op.iterable)})"

    def op_MapAdd(self, op: ir.MapAdd):
        return f"PyDict_SetItem({self.reg(op.dict_)}, {self.reg(op.key)}, {self.reg(op.value)})"

    def op_DictUpdate(self, op: ir.DictUpdate):
        return f"JJ_DictUpdate({self.reg(op.dict_)}, {self.reg(op.mapping)})"

    def op_DictMerge(self, op: ir.DictMerge):
        return (f"JJ_DictMerge({self.reg(op.dict_)}, {self.reg(op.mapping)}, "
                f"{self.reg(op.func)})")

    def op_GetIter(self, op: ir.GetIter):
        return f"{self.reg(op.dest)} = PyObject_GetIter({self.reg(op.obj)})"

    def op_GetYieldFromIter(self, op: ir.GetYieldFromIter):
        coro = int(bool(self.code_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE)))
        return f"{self.reg(op.dest)} = JJ_GetYieldFromIter({self.reg(op.obj)}, {coro})"

    def _unpacked(self, call: str, dests: list[Reg]) -> list[str]:
        """`call` returns a tuple; its items go to `dests` once it succeeded."""
        self.uses.add("t")
        lines = [f"__jj_t = {call}"]
        lines += [f"{self.reg(d)} = __jj_t[{i}]" for i, d in enumerate(dests)]
        lines.append("__jj_t = None")
        return lines

    def op_UnpackSequence(self, op: ir.UnpackSequence):
        return self._unpacked(f"JJ_UnpackSequence({self.reg(op.src)}, {len(op.dests)})",
                              op.dests)

    def op_UnpackEx(self, op: ir.UnpackEx):
        if len(op.dests) != op.before + 1 + op.after:
            raise EmitError("UnpackEx with a wrong number of destinations")
        return self._unpacked(f"JJ_UnpackEx({self.reg(op.src)}, {int(op.before)}, "
                              f"{int(op.after)})", op.dests)

    def op_PushExcInfo(self, op: ir.PushExcInfo):
        return f"{self.reg(op.prev)} = JJ_PushExcInfo({self.reg(op.exc)})"

    def op_PopExcept(self, op: ir.PopExcept):
        return f"JJ_PopExcept({self.reg(op.prev)})"

    def op_CheckExcMatch(self, op: ir.CheckExcMatch):
        return (f"{self.reg(op.dest)} = JJ_CheckExcMatch({self.reg(op.exc)}, "
                f"{self.reg(op.match_type)})")

    def op_CheckEgMatch(self, op: ir.CheckEgMatch):
        return self._unpacked(f"JJ_CheckEgMatch({self.reg(op.exc)}, {self.reg(op.match_type)})",
                              [op.rest, op.match])

    def op_PrepReraiseStar(self, op: ir.PrepReraiseStar):
        return (f"{self.reg(op.dest)} = JJ_PrepReraiseStar({self.reg(op.orig)}, "
                f"{self.reg(op.raised)})")

    def op_BeforeWith(self, op: ir.BeforeWith):
        return self._unpacked(f"JJ_BeforeWith({self.reg(op.manager)})", [op.exit, op.result])

    def op_WithExceptStart(self, op: ir.WithExceptStart):
        return (f"{self.reg(op.dest)} = JJ_WithExceptStart({self.reg(op.exit)}, "
                f"{self.reg(op.exc)})")

    def op_GetLen(self, op: ir.GetLen):
        return f"{self.reg(op.dest)} = JJ_GetLen({self.reg(op.obj)})"

    def op_MatchMapping(self, op: ir.MatchMapping):
        return f"{self.reg(op.dest)} = JJ_MatchMapping({self.reg(op.subject)})"

    def op_MatchSequence(self, op: ir.MatchSequence):
        return f"{self.reg(op.dest)} = JJ_MatchSequence({self.reg(op.subject)})"

    def op_MatchKeys(self, op: ir.MatchKeys):
        return f"{self.reg(op.dest)} = JJ_MatchKeys({self.reg(op.subject)}, {self.reg(op.keys)})"

    def op_MatchClass(self, op: ir.MatchClass):
        return (f"{self.reg(op.dest)} = JJ_MatchClass({self.reg(op.subject)}, "
                f"{self.reg(op.cls)}, {self.reg(op.names)}, {int(op.nargs)})")

    def _check_generator(self, op: ir.Op) -> None:
        if not self.gen:
            raise EmitError(f"{type(op).__name__} in a function that is not a generator")
        self.has_yield = True
        self.uses.update(("ys", "yf"))

    def op_Yield(self, op: ir.Yield):
        # JJ_Received raises the exception that the generator object's throw()/close() sent
        # in (see "Generators" in jj_runtime.h); any other value passes through.
        self._check_generator(op)
        dest, value = self.reg(op.dest), self.reg(op.value)
        lines = ["__jj_ys = JJ_GetExcState()", "__jj_yf = 1"]
        released: set = set()
        slot = self.alloc.slot.get(op.value)
        if slot is not None and (slot in self.cur_releases or slot == self.alloc.slot.get(op.dest)):
            # YIELD_VALUE pops the value: while suspended the generator must not hold it.
            self.uses.add("yp")
            lines += [f"__jj_yp = JJ_NewRef({value})", f"{value} = None",
                      f"{dest} = JJ_Received((yield JJ_Steal(__jj_yp)))"]
            released.add(slot)
        else:
            lines.append(f"{dest} = JJ_Received((yield {value}))")
        # Cython clears the generator's handled exception when it suspends; CPython keeps it.
        lines += ["__jj_yf = 0", "JJ_PopExcept(__jj_ys)", "__jj_ys = None"]
        return lines, released

    def op_YieldFrom(self, op: ir.YieldFrom):
        # Cython delegates to a proxy of the iterator, through which the generator object's
        # throw() follows CPython's _gen_throw (see JJ_YieldFromProxy in jj_runtime.h).
        self._check_generator(op)
        return ["__jj_ys = JJ_GetExcState()", "__jj_yf = 1",
                f"{self.reg(op.dest)} = yield from JJ_YieldFromProxy({self.reg(op.iterator)})",
                "__jj_yf = 0", "JJ_PopExcept(__jj_ys)", "__jj_ys = None"]

    # ---- the module ---------------------------------------------------------------------------

    def module(self) -> PyxModule:
        body = _Lines()
        self.stmt_list(self.stmts, 0, body)
        fn = self.fn
        direct = self.direct_body()
        out = _Lines()
        head = comment_text(f"{fn.qualname} from {fn.filename}:{fn.firstlineno}")
        out.add(0, f"# cython: {DIRECTIVES}")
        out.add(0, f"# JustJIT: {head}")
        out.add(0, "from cpython.object cimport PyObject")
        out.add(0, "from jj_runtime cimport *")
        if self.unboxed:
            out.add(0, "from libc.stdint cimport int64_t")
        out.add(0, "")
        out.add(0, "cdef extern from *:")
        out.add(1, '"""')
        out.add(1, "#define JJ_NewRef(o) (Py_INCREF(o), (PyObject *)(o))")
        out.add(1, "#define JJ_Steal(p) ((PyObject *)(p))")
        out.add(1, '"""')
        out.add(1, "PyObject *JJ_NewRef(object o)")
        out.add(1, "object JJ_Steal(PyObject *p)")
        out.add(1, "PyObject *JJ_TupleItem \"PyTuple_GET_ITEM\" (object t, Py_ssize_t i)")
        out.add(0, "")
        nconst_marker = len(out.lines)  # the constant count is known only at the end
        out.add(0, "cdef tuple __jj_K = None")
        out.add(0, "cdef object __jj_UNBOUND = object()")
        out.add(0, "cdef Py_ssize_t __jj_calls[2]  # calls served by typed, generic code")
        if self.self_calls:
            out.add(0, "cdef PyObject *__jj_dirty = NULL  # a direct body's object result")
        if self.chained:
            out.add(0, "cdef object __jj_next = None")
            out.add(0, "cdef object __jj_continue = None")
        out.add(0, "")
        out.add(0, "")
        args = [self.reg(a) for a in fn.args]
        if direct is not None:
            out.extend(direct)
        if self.gen:
            self.generator_entry(out, body, args)
        else:
            self.function_entry(out, body, args)
        n = len(self.pool.values)
        init = _Lines()
        init.add(0, "")
        init.add(0, "")
        init.add(0, "def __jj_init(constants):")
        init.add(1, "cdef Py_ssize_t i")
        init.add(1, "global __jj_K")
        init.add(1, "JJ_InitRuntime()")
        if self.gen:  # (only these reference the generator types: gcc time, see jj_runtime.h)
            init.add(1, "JJ_InitGenerators()")
        init.add(1, f"JJ_CheckConstants(constants, {n})")
        init.add(1, "__jj_K = constants")
        init.add(1, f"for i in range({n}):")
        init.add(2, "__jj_k[i] = JJ_TupleItem(__jj_K, i)")
        if self.fast_entry_args is not None:
            init.add(1, f"JJ_ExportFastEntry(globals(), <void *>__jj_fast_entry, "
                        f"{self.fast_entry_args})")
        init.add(0, "")
        init.add(0, "")
        init.add(0, "def __jj_counts():")
        init.add(1, '"""(calls served by the typed code, calls served by the generic code)."""')
        init.add(1, "return (__jj_calls[0], __jj_calls[1])")
        if self.chained:
            init.add(0, "")
            init.add(0, "")
            init.add(0, "def __jj_chain(next_entry, continue_marker):")
            init.add(1, '"""Where arguments failing the entry guards go (see JJ_CallNext)."""')
            init.add(1, "global __jj_next, __jj_continue")
            init.add(1, "__jj_next = next_entry")
            init.add(1, "__jj_continue = continue_marker")
        caches = [(0, f"cdef PyObject *__jj_k[{max(n, 1)}]", None)]
        for count, ctype, name in ((self.n_global_caches, "JJ_GlobalCache", "__jj_gc"),
                                   (self.n_attr_caches, "JJ_AttrCache", "__jj_ac"),
                                   (self.n_call_caches, "JJ_CallCache", "__jj_cc")):
            if count:
                caches.append((0, f"cdef {ctype} {name}[{count}]", None))
        out.lines[nconst_marker:nconst_marker] = caches
        out.extend(init)
        text_lines = []
        line_map = {}
        for number, (depth, text, src) in enumerate(out.lines, start=1):
            text_lines.append((INDENT * depth + text) if text else "")
            if src is not None:
                line_map[number] = src
        return PyxModule("\n".join(text_lines) + "\n", self.pool.as_tuple(), line_map)

    def declarations(self, out: _Lines, depth: int, args: list[str]) -> None:
        """`cdef` declarations and initial values of everything the body uses. (A direct
        body's arguments, whose objects exist only once boxed, and its slots start NULL:
        that costs no reference counting per call.)"""
        argset = set(args)
        if self.direct:
            arg_objects = {self.reg(a) for a in self.fn.specialization.args}
        else:
            arg_objects = set()
        for name in sorted(set(self.vars.values()) - argset):
            out.add(depth, f"cdef object {name}" if name in arg_objects
                    else f"cdef object {name} = __jj_UNBOUND")
        for name in sorted(set(self.cells.values())):
            out.add(depth, f"cdef object {name} = None")
        for slot in sorted(self.slots):
            out.add(depth, f"cdef object r{slot}" if self.direct else f"cdef object r{slot} = None")
        self.unboxed_declarations(out, depth, argset)
        if "sc" in self.uses:
            out.add(depth, "cdef int __jj_sc = 0")
        for kind, ctype in DIRECT_CTYPES.items():
            if "d" + kind in self.uses:
                out.add(depth, f"cdef {ctype} __jj_d{kind} = 0")
        ints = [("c", "__jj_c"), ("x", "__jj_x"), ("xm", "__jj_xm"), ("label", "__jj_label"),
                ("ctl", "__jj_ctl"), ("yf", "__jj_yf")]
        for key, name in ints:
            if key in self.uses:
                out.add(depth, f"cdef int {name} = 0")
        for index in range(self.method_depths):
            if f"method{index}" in self.uses:
                out.add(depth, f"cdef object __jj_s{index} = None")
            if f"found{index}" in self.uses:
                out.add(depth, f"cdef int __jj_f{index} = 0")
        if "np" in self.uses:
            out.add(depth, "cdef PyObject *__jj_np = NULL")
        if "t" in self.uses:
            out.add(depth, "cdef tuple __jj_t = None")
        if "xs" in self.uses:
            out.add(depth, "cdef object __jj_xs = None")
        if "m" in self.uses:
            out.add(depth, "cdef object __jj_m = None")
        if "tick" in self.uses:
            out.add(depth, "cdef int __jj_tick = JJ_TICKS")
        if "tstate" in self.uses:
            out.add(depth, "cdef void *__jj_ts = PyThreadState_Get()")
        if "ys" in self.uses:
            out.add(depth, "cdef object __jj_ys = None")
        if "yp" in self.uses:
            out.add(depth, "cdef PyObject *__jj_yp = NULL")
        for key, index in (("g", 0), ("b", 1), ("cl", 2)):
            if key in self.uses:
                out.add(depth, f"cdef object __jj_{key} = __jj_state[{index}]")

    def call_counter(self) -> int:
        """Which of the module's call counters (`__jj_calls`, read by `__jj_counts`) a call
        entering the body counts in: 0 (typed code) in a typed specialization, else 1
        (generic code). A call failing the entry guards moves from 0 to 1 where the generic
        code serves it, or leaves 0 for the module that does (`offer_to_next`). Calls of
        `entry` and of `__jj_fast_entry` are counted, each with one increment; direct
        self-calls (`__jj_direct`) are recursion inside compiled code and are not."""
        spec = getattr(self.fn, "specialization", None)
        return 0 if spec is not None and spec.typed and not self.gen else 1

    def function_entry(self, out: _Lines, body: _Lines, args: list[str]) -> None:
        params = "".join(f", object {a}" for a in args)
        out.add(0, f"cdef object __jj_body(tuple __jj_state{params}, int *__jj_L):")
        self.declarations(out, 1, args)
        out.add(1, f"__jj_calls[{self.call_counter()}] += 1")
        out.extend(body, 1)
        if not any(not t.startswith("#") for _, t, _ in body.lines):
            out.add(1, "return None")
        out.add(0, "")
        out.add(0, "")
        # The body is called through a pointer whose type has plain PyObject* parameters and
        # result (the same C ABI as the cdef function's): its result, or NULL with its
        # exception, goes to JJ_Exit, which adds the exit traceback entry. No try statement:
        # the caller's exception state is never touched.
        out.add(0, f"ctypedef PyObject *(*__jj_body_t)(PyObject *{', PyObject *' * len(args)}, "
                   "int *) noexcept")
        out.add(0, "")
        out.add(0, "")
        first = int(self.fn.firstlineno or 0)
        call_args = "".join(f", <PyObject *>{a}" for a in args)
        out.add(0, f"def entry(tuple __jj_state{''.join(', ' + a for a in args)}):")
        out.add(1, "cdef int __jj_L[2]")
        out.add(1, "cdef __jj_body_t __jj_bodyp = <__jj_body_t><void *>__jj_body")
        out.add(1, f"__jj_L[0] = {first}")
        out.add(1, "__jj_L[1] = 0")
        out.add(1, f"return JJ_Exit(__jj_bodyp(<PyObject *>__jj_state{call_args}, __jj_L), "
                   f"{self.k_tbc()}, __jj_state, __jj_L)")
        # The same as entry(state, *args) for exactly len(args) positional arguments, as a C
        # function (exported in __jj_init): compiled callers call it directly (JJ_CallCache).
        out.add(0, "")
        out.add(0, "")
        out.add(0, "cdef PyObject *__jj_fast_entry(PyObject **__jj_args) noexcept:")
        out.add(1, "cdef int __jj_L[2]")
        out.add(1, "cdef __jj_body_t __jj_bodyp = <__jj_body_t><void *>__jj_body")
        out.add(1, f"__jj_L[0] = {first}")
        out.add(1, "__jj_L[1] = 0")
        fast_args = "".join(f", __jj_args[{i + 1}]" for i in range(len(args)))
        out.add(1, f"return JJ_ExitRaw(__jj_bodyp(__jj_args[0]{fast_args}, __jj_L), "
                   f"__jj_k[{self.tbc}], __jj_args[0], __jj_L)")
        self.fast_entry_args = len(args)

    def direct_body(self) -> Optional[_Lines]:
        """The direct body of a specialization that has one (specialize: "Direct
        self-calls"), emitted by a child emitter sharing this module's constants and
        caches: `__jj_direct_body`, which returns the typed result as a C value (the
        kind's magic value for anything else, see jj_typed.h), and `__jj_direct`, which
        calls it and adds its traceback entry to a failure, as `entry` does."""
        spec = getattr(self.fn, "specialization", None)
        if self.gen or spec is None or spec.direct is None:
            return None
        from ..regalloc import allocate

        fn = spec.direct
        child = _Emitter(fn, _innermost_jumps(structure(fn)), allocate(fn), parent=self)
        body = _Lines()
        child.stmt_list(child.stmts, 0, body)
        self.n_global_caches = child.n_global_caches
        self.n_attr_caches = child.n_attr_caches
        self.n_call_caches = child.n_call_caches
        self.self_calls = self.self_calls or child.self_calls
        self.unboxed.update(child.unboxed)  # (for the int64_t cimport)
        kind = spec.direct_result.unboxed
        ctype, magic = DIRECT_CTYPES[kind], DIRECT_MAGIC[kind]
        args = [child.reg(a) for a in fn.args]
        params = "".join(f", {UNBOXED_KINDS[a.kind]} {name}" for a, name in zip(fn.args, args))
        out = _Lines()
        out.add(0, f"cdef {ctype} __jj_direct_body(tuple __jj_state{params}, int __jj_rem, "
                   f"int *__jj_L) except? {magic}:")
        child.declarations(out, 1, args)
        out.extend(body, 1)
        out.add(0, "")
        out.add(0, "")
        types = "".join(f", {UNBOXED_KINDS[a.kind]}" for a in fn.args)
        out.add(0, f"ctypedef {ctype} (*__jj_direct_t)(PyObject *{types}, int, int *) noexcept")
        out.add(0, "")
        out.add(0, "")
        out.add(0, f"cdef inline {ctype} __jj_direct(PyObject *__jj_state{params}, "
                   "int __jj_rem) noexcept:")
        out.add(1, "cdef int __jj_L[2]")
        out.add(1, f"cdef {ctype} __jj_r")
        out.add(1, f"__jj_L[0] = {int(self.fn.firstlineno or 0)}")
        out.add(1, "__jj_L[1] = 0")
        names = "".join(f", {name}" for name in args)
        out.add(1, "__jj_r = (<__jj_direct_t><void *>__jj_direct_body)"
                   f"(__jj_state{names}, __jj_rem, __jj_L)")
        out.add(1, f"if JJ_DirectRaised_{kind}(__jj_r, __jj_dirty):")
        out.add(2, f"JJ_ExitRaw(NULL, __jj_k[{self.tbc}], __jj_state, __jj_L)")
        out.add(1, "return __jj_r")
        out.add(0, "")
        out.add(0, "")
        return out

    def generator_entry(self, out: _Lines, body: _Lines, args: list[str]) -> None:
        # entry() returns the runtime's generator object (JJ_NewGenerator: CPython's protocol
        # on top of the Cython generator of the body), named like CPython's (__name__,
        # __qualname__), with gi_code the function's own code object.
        code = self.fn.code
        name = getattr(code, "co_name", None) or self.fn.name
        qualname = getattr(code, "co_qualname", None) or self.fn.qualname
        gi_code = self.k(code) if isinstance(code, types.CodeType) else self.k_tbc()
        params = "".join(", " + a for a in args)
        out.add(0, f"def entry(tuple __jj_state{params}):")
        out.add(1, f"__jj_calls[{self.call_counter()}] += 1")
        out.add(1, f"return JJ_NewGenerator(__jj_generator(__jj_state{params}), {gi_code}, "
                   f"{self.k_tbc()}, __jj_state, {self.name(name)}, {self.name(qualname)})")
        out.add(0, "")
        out.add(0, "")
        out.add(0, f"def __jj_generator(tuple __jj_state{params}):")
        out.add(1, "cdef int __jj_L[2]")
        self.declarations(out, 1, args)
        out.add(1, f"__jj_L[0] = {int(self.fn.firstlineno or 0)}")
        out.add(1, "__jj_L[1] = 0")
        if not self.has_yield:
            out.add(1, "if False:")
            out.add(2, "yield None  # a generator function without a reachable yield")
        out.add(1, "try:")
        out.extend(body, 2)
        if not any(not t.startswith("#") for _, t, _ in body.lines):
            out.add(2, "pass")
        out.add(1, "except BaseException as __jj_e:")
        out.add(2, f"JJ_Caught(__jj_e, {self.k_tbc()}, __jj_state, __jj_L)")
        if self.has_yield:
            self.thrown(out, 2)
        out.add(2, "JJ_Reraise(__jj_e, __jj_L)")
