"""The LLVM backend: register IR -> LLVM IR -> optimized -> machine code -> a builtin function.

    compile(ir, *, key_extra, use_cache, opt_level, on_source, metadata, on_entry)
        -> (entry, optimized .ll text, NativeCode)
    explain(ir, "llvm" | "llvm-raw") -> the optimized / the annotated unoptimized LLVM IR
    warm_key_parts(opt_level, cache) -> key parts
    load_warm(cache, location, constants, on_source) -> as compile's

No relooper and no C compiler per function: `llvm_lower` turns the IR's CFG into LLVM IR as
it is, llvmlite optimizes it as the `opt_level`'s tier says (`TIERS`; `TYPED_TIERS` for
specialized code) and emits an ELF object, and the object is loaded into a fresh MCJIT
execution engine. Generic operations call the C API and the `jj_runtime.h` helpers compiled
once into the `_jj_rt` extension (`llvm_runtime`). `on_source` receives the annotated .ll
(suffix ".ll") and, when there is one, the optimized .ll (".opt.ll"), for JUSTJIT_DUMP_DIR.

The callable. The native function has the METH_FASTCALL signature and is wrapped as a builtin
function (PyCFunction_NewEx with a PyMethodDef we own), so a call costs one vectorcall, no
ctypes. Its `self` is the tuple `constants + (holder,)`: the code reads constants from it, and
`holder` (a `NativeCode`) owns the execution engine and the PyMethodDef. A builtin function
holds its `self` until it is deallocated, so the engine, and with it the machine code, lives
exactly as long as something can still call it.

Engines and target machines. Every function gets its own MCJIT engine, and every engine its
own TargetMachine (an engine takes ownership of its target machine: sharing one between two
engines crashed). The object is always emitted by a separate, short-lived target machine.

The chain of specializations (the dispatcher's `_chain`): a typed module's entry guards hand
arguments they reject to the next entry, read from the module's @jj_chain (`CHAIN_NAME`),
which `NativeCode.chain` (the dispatcher's `__jj_chain`) sets; the NativeCode owns what it
points to. A warm load gets its link the same way, from the dispatcher.

Generators: the entry returns jj_runtime.h's generator object over a frame of _jj_rt.c
(JJL_GenFrame) that holds the constants tuple, so a generator keeps the machine code alive
as long as it exists, like the function itself.

The cache. The object file is cached on disk under the same rules as the Cython backend's
modules (`justjit.cache`: a key over everything that affects the result, atomic publish,
checksum verified before loading): the key covers the lowered .ll text, the code object's
fingerprint (key_extra), opt_level, LLVM's version, the target triple, the host CPU and its
features, the runtime helpers' sources and the C-API layout (`llvm_capi.FINGERPRINT`). A
cache hit skips LLVM's parser, optimizer and code generator: only the (cheap, Python) lowering
runs to compute the key and the constants, then the object is loaded. The warm path
(`justjit.fingerprint`, through `compile(on_entry=)` and `load_warm`) skips the lowering too,
and does not import `llvm_lower` nor the IR: it loads the object recorded under the
function's fingerprint with the constants and runtime symbols recorded beside it.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import CompileError
from . import llvm_capi as capi
from . import llvm_runtime

# (llvm_lower, and through it the IR, is imported only to lower: a warm load needs neither)

__all__ = ["compile", "explain", "NativeCode", "stats", "STAGES"]

STAGES = ("llvm", "llvm-raw")
TYPED = True  # lowers the typed ops of justjit.specialize
CHAINS = True  # modules take the next specialization of the dispatcher's chain (__jj_chain)
DIRECT_CALLS = True  # lowers SelfCall: a specialization's calls of itself (justjit.specialize)
WARM = True  # offers warm_key_parts and load_warm, and compile(on_entry=)
NUMPY = True  # lowers the numpy typed ops (GuardArray, ArrayLoad, ...; llvm_lower.py)
# The symbol of a module's call counters, [2 x i64]: calls served by its typed code and by its
# generic code (llvm_lower emits them, NativeCode.call_counts reads them).
CALLS_NAME = "jj_calls"
# The symbol of a module's link in the dispatcher's chain of specializations, [2 x ptr]:
# the next entry (or null) and the continue marker (NativeCode.chain writes it; only modules
# with entry guards have it).
CHAIN_NAME = "jj_chain"

_lock = threading.RLock()  # LLVM's global context and our tables: one compile at a time
_initialized = False
_memory_objects: dict[str, tuple[bytes, str]] = {}  # key -> (object, optimized .ll)


def _after_fork_in_child() -> None:
    # A child forked while another thread compiled holds a copy of the locked lock.
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass
class LLVMStats:
    """Counters for tests and benchmarks (this process only)."""

    compiles: int = 0        # LLVM parse + optimize + codegen runs
    memory_hits: int = 0     # object found in this process's memory
    disk_hits: int = 0       # object loaded from the on-disk cache
    corrupt_entries: int = 0  # verified entries whose object LLVM could not read (removed)
    engines: int = 0         # execution engines created
    engines_alive: int = 0   # execution engines not yet freed
    lower_seconds: float = 0.0
    llvm_seconds: float = 0.0
    load_seconds: float = 0.0


stats = LLVMStats()


def _llvm():
    global _initialized
    try:
        import llvmlite.binding as llvm
    except ImportError as exc:
        raise CompileError(f"the llvm backend needs llvmlite: {exc}", stage="backend",
                           construct="backend='llvm'") from exc

    if not _initialized:
        # llvm.initialize() raises in llvmlite 0.50: these two are all MCJIT needs.
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _initialized = True
    return llvm


@dataclass(frozen=True)
class Tier:
    """How much work LLVM does at one `opt_level`.

    - `passes`: the IR passes (names of llvmlite's ModulePassManager `add_<name>_pass`), or
      "O1"/"O2"/"O3" for LLVM's standard pipeline at that level;
    - `codegen`: the code generator's optimization level (0 selects FastISel and the fast
      register allocator: several times cheaper than the SelectionDAG at 1-3);
    - `inline_decref`, `frame_helper`: lowering choices (see `llvm_lower.lower`).
    """

    passes: Any
    codegen: int
    inline_decref: bool
    frame_helper: bool


# Measured on the ~20-line functions of benchmarks/llvm_compile_latency.py: LLVM's standard O2
# pipeline plus its O2 code generator cost 60-250 ms per function (most of it in instruction
# selection and in the phi nodes SSA form creates at the shared exit), while generic code
# (every operation a C-API call) gains about 10 % from it (geometric mean; up to 40 % on tight
# loops). The default tier therefore keeps the registers in the frame array, inlines the
# reference counting, and uses the fast code generator: 10-20 ms, within the 30 ms budget.
# opt_level=3 asks for everything.
TIERS = {
    0: Tier(passes=(), codegen=0, inline_decref=False, frame_helper=True),
    1: Tier(passes=("always_inliner",), codegen=0, inline_decref=True, frame_helper=True),
    2: Tier(passes=("always_inliner",), codegen=0, inline_decref=True, frame_helper=True),
    3: Tier(passes="O2", codegen=2, inline_decref=True, frame_helper=False),
}

# Specialized code (justjit.specialize) is there to run hot loops on unboxed values: they
# need their allocas promoted to SSA values and a real instruction selector. SROA +
# instcombine + simplifycfg with the SelectionDAG at 2 gives the same loops as the O2
# pipeline (sum of squares 0.83 ns/iteration, a mandelbrot step 2.6 ns, against 3.3 and 13 ns
# in the fast tier) for about half its compile time (20-25 ms against 45 ms). NewGVN then
# removes the loads that repeat (with llvm_lower's alias tags, also across floats stored in
# place): n-body 43.5 -> 36 ms, for about 0.2 s more on its 0.75 s compile.
TYPED_TIERS = {
    1: Tier(passes=("always_inliner", "sroa", "instruction_combine", "simplify_cfg", "new_gvn"),
            codegen=2, inline_decref=True, frame_helper=True),
}
TYPED_TIERS[2] = TYPED_TIERS[1]


def tier_for(ir, opt_level: int) -> Tier:
    """The tier `ir` compiles with at `opt_level`."""
    typed = getattr(getattr(ir, "specialization", None), "typed", False)
    return (TYPED_TIERS if typed else TIERS).get(opt_level, TIERS[opt_level])


def _lower(ir, tier: Tier) -> "LoweredModule":
    from .llvm_lower import LowerError, lower

    start = time.perf_counter()
    try:
        return lower(ir, inline_decref=tier.inline_decref, frame_helper=tier.frame_helper)
    except LowerError as exc:
        raise CompileError(f"the llvm backend cannot compile {ir.qualname}: {exc}",
                           construct=str(exc), stage="backend", filename=ir.filename,
                           lineno=ir.firstlineno) from exc
    finally:
        stats.lower_seconds += time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Target machines, optimization, code generation


_HOST: Optional[tuple[str, str, str]] = None


def _host() -> tuple[str, str, str]:
    """(triple, cpu name, cpu features) of this machine."""
    global _HOST
    if _HOST is None:
        llvm = _llvm()
        _HOST = (llvm.get_process_triple(), llvm.get_host_cpu_name(),
                 llvm.get_host_cpu_features().flatten())
    return _HOST


def _target_machine(opt_level: int):
    """A new TargetMachine for this host (never shared: see the module docstring)."""
    llvm = _llvm()
    triple, cpu, features = _host()
    target = llvm.Target.from_triple(triple)
    # 'jitdefault' is the large code model on x86-64: C-API symbols can be anywhere.
    return target.create_target_machine(cpu=cpu, features=features, opt=min(opt_level, 3),
                                        codemodel="jitdefault", jit=True)


def _optimize(text: str, tier: Tier):
    """Parse, verify and optimize `text` as `tier` says: (module ref, the target machine
    for its code generation)."""
    llvm = _llvm()
    tm = _target_machine(tier.codegen)
    mod = llvm.parse_assembly(text)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    if isinstance(tier.passes, str):
        pto = llvm.create_pipeline_tuning_options(speed_level=int(tier.passes[1:]))
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
    elif tier.passes:
        pto = llvm.create_pipeline_tuning_options(speed_level=1)
        pb = llvm.create_pass_builder(tm, pto)
        pm = llvm.create_new_module_pass_manager()
        for name in tier.passes:
            getattr(pm, f"add_{name}_pass")()
        pm.run(mod, pb)
    return mod, tm


def _codegen(text: str, tier: Tier) -> tuple[bytes, str]:
    """(ELF object, optimized .ll) for the lowered module `text`."""
    start = time.perf_counter()
    try:
        mod, tm = _optimize(text, tier)
        optimized = str(mod)
        obj = tm.emit_object(mod)
    except RuntimeError as exc:  # the parser or verifier rejected what we generated
        raise CompileError(f"LLVM rejected the generated module: {exc}",
                           stage="llvm", source_excerpt=str(exc)[:2000]) from exc
    finally:
        stats.llvm_seconds += time.perf_counter() - start
    stats.compiles += 1
    return obj, optimized


# --------------------------------------------------------------------------------------------
# Loading: an engine per function, a builtin function per engine


class NativeCode:
    """Owns what the native function needs: its execution engine (and the engine's target
    machine and loaded object) and its PyMethodDef. Reachable from the builtin function's
    `self` tuple, so it dies with the function; its engine is disposed of after it (see
    `_ENGINES`)."""

    __slots__ = ("engine", "method_def", "address", "name", "key", "counters", "link",
                 "linked", "__weakref__")

    def __init__(self, engine, address: int, name: str, key: str, counters: int = 0,
                 link: int = 0) -> None:
        self.engine = engine
        self.address = address
        self.name = name
        self.key = key
        self.counters = counters  # the address of the module's @jj_calls (0: none)
        self.link = link  # the address of the module's @jj_chain (0: none)
        self.linked = None  # what @jj_chain points to, owned here
        self.method_def = None
        stats.engines_alive += 1
        _ENGINES.append((weakref.ref(self), engine))

    def __repr__(self) -> str:
        return f"<justjit NativeCode {self.name} at {self.address:#x}>"

    def call_counts(self) -> tuple[int, int]:
        """(calls served by the typed code, calls served by the generic code), read from
        the module's counters (see llvm_lower.CALLS_NAME)."""
        if not self.counters:
            return (0, 0)
        import ctypes

        counts = (ctypes.c_int64 * 2).from_address(self.counters)
        return (int(counts[0]), int(counts[1]))

    def chain(self, next_entry, continue_marker) -> None:
        """Where arguments failing the entry guards go (_jj_rt.c's JJL_ChainNext): the entry
        `next_entry` (None: this module's generic code), whose answer `continue_marker` lets
        the generic code run them. Under the GIL, which the machine code holds while it reads
        the link: the marker is written first and the old references dropped last, so the
        code never sees a link to something freed."""
        import ctypes

        cells = (ctypes.c_void_p * 2).from_address(self.link)
        keep = (next_entry, continue_marker)
        cells[1] = id(continue_marker)
        cells[0] = None if next_entry is None else id(next_entry)
        self.linked = keep

    @property
    def _chain_link(self):
        # The dispatcher's `__jj_chain`: absent (AttributeError) without entry guards, as a
        # Cython module without them has none, so the dispatcher closes the chain there.
        if not self.link:
            raise AttributeError("__jj_chain")
        return self.chain


# The name the dispatcher reads a compiled module's call counters by (a Cython module's
# `__jj_counts` function). Set here: in the class body the name would be mangled.
NativeCode.__jj_counts = NativeCode.call_counts
NativeCode.__jj_chain = NativeCode._chain_link


# An engine is never garbage itself. A suspended generator keeps its machine code alive
# through its frame's constants (-> NativeCode -> engine) and runs that code to close itself
# when it is finalized; when a garbage cycle holds such a generator and the last reference to
# its engine, the collector finalizes the whole cycle in no particular order, so llvmlite's
# own finalizer of the engine (which frees the machine code) could run first. Hence `_ENGINES`
# holds every engine, with a weak reference to its NativeCode, and an engine is disposed of
# only once its NativeCode has been freed: after each collection (a gc.callbacks hook), and
# before each load.
_ENGINES: list = []  # (weakref to NativeCode, engine)
_disposing = False


def _dispose_dead_engines() -> None:
    global _disposing
    if _disposing:  # (a collection triggered while disposing)
        return
    _disposing = True
    try:
        dead = [pair for pair in _ENGINES if pair[0]() is None]
        for pair in dead:
            try:
                _ENGINES.remove(pair)
            except ValueError:  # (disposed of by another thread meanwhile)
                continue
            pair[1].close()
            stats.engines_alive -= 1
    finally:
        _disposing = False


def _after_collection(phase: str, info: dict) -> None:
    if phase == "stop" and _ENGINES:
        _dispose_dead_engines()


gc.callbacks.append(_after_collection)


def _load(obj: bytes, name: str, key: str, constants: tuple, symbols: list[str],
          entry_symbol: str):
    """A builtin function running the object code `obj` from `entry_symbol`: (function,
    NativeCode)."""
    _dispose_dead_engines()
    start = time.perf_counter()
    llvm = _llvm()
    llvm_runtime.register_symbols(symbols)
    tm = _target_machine(0)
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(entry_symbol)
    if not address:
        raise CompileError(f"the object code of {name} has no {entry_symbol}", stage="llvm")
    stats.engines += 1
    native = NativeCode(engine, address, name, key, engine.get_global_value_address(CALLS_NAME),
                        engine.get_global_value_address(CHAIN_NAME))
    func, mdef = capi.new_builtin(name, address, constants + (native,))
    native.method_def = mdef
    stats.load_seconds += time.perf_counter() - start
    return func, native


# --------------------------------------------------------------------------------------------
# Keys and the cache


def _key(lowered: "LoweredModule", key_extra: tuple, opt_level: int, tier: Tier) -> str:
    """The cache key of the object code for `lowered`."""
    from justjit import cache as _cache

    from .llvm_lower import LOWERING_FORMAT

    parts = _cache.environment_fingerprint()
    parts.update(warm_key_parts(opt_level))
    parts.update(
        backend="llvm",
        lowering_format=str(LOWERING_FORMAT),
        ll=lowered.text,
        key_extra=repr(tuple(key_extra)),
        opt_level=str(opt_level),
        tier=repr(tier),
    )
    return _cache.make_key(parts)


def warm_key_parts(opt_level: int, store=None) -> dict:
    """The key parts of LLVM, the host and the runtime (also in the warm path's key,
    `justjit.fingerprint.warm_key`)."""
    llvm = _llvm()
    triple, cpu, features = _host()
    return {
        "llvm_version": ".".join(map(str, llvm.llvm_version_info)),
        "triple": triple,
        "cpu": cpu,
        "cpu_features": features,
        "capi": capi.FINGERPRINT,
        "runtime": llvm_runtime.runtime_digest(),
    }


def _entry_name(hint: str, key: str) -> str:
    import re

    hint = re.sub(r"[^A-Za-z0-9_]", "_", hint, flags=re.ASCII)[:40] or "anon"
    return f"_jj_llvm_{hint}_{key[:16]}"


_MEMORY_LIMIT = 512  # objects remembered in this process (oldest forgotten first)


def _remember(key: str, obj: bytes, optimized: str) -> None:
    while len(_memory_objects) >= _MEMORY_LIMIT:
        _memory_objects.pop(next(iter(_memory_objects)))
    _memory_objects[key] = (obj, optimized)


def _object_for(lowered: "LoweredModule", name_hint: str, key: str, opt_level: int,
                tier: Tier, use_cache: bool,
                metadata: Optional[dict] = None) -> tuple[bytes, str]:
    """(object, optimized .ll): from memory, the disk cache, or LLVM."""
    from justjit import cache as _cache

    store = _cache.open_cache() if use_cache else None
    entry_name = _entry_name(name_hint, key)
    found = _cached_object(store, entry_name, key)
    if found is not None:
        return found
    obj, optimized = _codegen(lowered.text, tier)
    _remember(key, obj, optimized)
    if store is not None:
        _publish(store, entry_name, key, obj, optimized, name_hint, opt_level, metadata)
    return obj, optimized


def _cached_object(store, entry_name: str, key: str) -> Optional[tuple[bytes, str]]:
    """(object, optimized .ll) from memory or the verified cache entry, else None."""
    found = _memory_objects.get(key)
    if found is not None:
        stats.memory_hits += 1
        return found
    if store is None:
        return None
    entry, _problem = store.lookup(entry_name, key)
    if entry is None:
        return None
    try:
        obj = entry.so_path.read_bytes()
        try:
            optimized = entry.pyx_path.read_text(encoding="utf-8")
        except OSError:
            optimized = ""
    except OSError:
        return None  # removed since it was verified: rebuild
    parsed = _llvm().ObjectFileRef.from_data(obj)
    if not parsed:
        # Not object code LLVM can read, under a manifest that vouches for it (written so
        # by another process): llvmlite gives a null object for it, which would crash the
        # engine. Remove the entry, as for a failed checksum, and rebuild.
        parsed.detach()  # a null object: nothing to free
        stats.corrupt_entries += 1
        store.remove(entry_name)
        return None
    parsed.close()
    stats.disk_hits += 1
    _remember(key, obj, optimized)
    return obj, optimized


def _publish(store, entry_name: str, key: str, obj: bytes, optimized: str, name_hint: str,
             opt_level: int, metadata: Optional[dict]) -> None:
    """Best effort: a cache that cannot be written only costs the next process a compile."""
    import tempfile
    from pathlib import Path

    llvm = _llvm()
    try:
        build_dir = Path(tempfile.mkdtemp(prefix=f"{entry_name}-", dir=store.tmp))
        (build_dir / f"{entry_name}.o").write_bytes(obj)
        (build_dir / f"{entry_name}.ll").write_text(optimized, encoding="utf-8")
        triple, cpu, _features = _host()
        provenance = {"created": time.time(), "backend": "llvm", "opt_level": opt_level,
                      "llvm_version": ".".join(map(str, llvm.llvm_version_info)),
                      "triple": triple, "cpu": cpu}
        store.publish(build_dir, entry_name, key, f"{entry_name}.o", f"{entry_name}.ll",
                      provenance, metadata=dict(metadata or {"function": name_hint,
                                                              "backend": "llvm"}))
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# The backend interface


def compile(ir, *, key_extra: tuple = (), use_cache: bool = True, opt_level: int = 2,
            on_source=None, metadata: Optional[dict] = None, on_entry=None):
    """Compile (or load from the cache) `ir`: (entry, optimized .ll text, NativeCode).
    `metadata` (function, signature, backend) is recorded in a new cache entry;
    `on_entry(location, constants)` is called when the object is cached (`location` is
    what `load_warm` needs, marshallable)."""
    from .llvm_lower import ENTRY_NAME

    if not isinstance(opt_level, int) or not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be 0, 1, 2 or 3, not {opt_level!r}")
    with _lock:
        tier = tier_for(ir, opt_level)
        lowered = _lower(ir, tier)
        if on_source is not None:
            on_source(lowered.text, ".ll")
        key = _key(lowered, key_extra, opt_level, tier)
        obj, optimized = _object_for(lowered, ir.qualname, key, opt_level, tier, use_cache,
                                     metadata)
        if on_source is not None and optimized:
            on_source(optimized, ".opt.ll")
        entry, native = _load(obj, ir.name, key, lowered.constants, lowered.symbols,
                              ENTRY_NAME)
    if on_entry is not None and use_cache:
        on_entry((_entry_name(ir.qualname, key), key, ir.name, ENTRY_NAME,
                  tuple(lowered.symbols)), lowered.constants)
    return entry, optimized, native


def load_warm(store, location: tuple, constants: tuple, on_source=None):
    """What `compile` returned for the cached object at `location` (see `compile`), with
    `constants`; None when the entry is gone or damaged."""
    entry_name, key, name, entry_symbol, symbols = location
    with _lock:
        found = _cached_object(store, entry_name, key)
        if found is None:
            return None
        obj, optimized = found
        if on_source is not None and optimized:
            on_source(optimized, ".opt.ll")
        entry, native = _load(obj, name, key, constants, list(symbols), entry_symbol)
    return entry, optimized, native


def explain(ir, stage: str = "llvm", opt_level: int = 2) -> str:
    """The optimized LLVM IR of `ir` at `opt_level` (stage "llvm"), or the lowered IR before
    optimization, annotated with the source lines (stage "llvm-raw")."""
    with _lock:
        tier = tier_for(ir, opt_level)
        lowered = _lower(ir, tier)
        if stage == "llvm-raw":
            return lowered.text
        if stage != "llvm":
            raise ValueError(f"unknown llvm backend stage {stage!r}")
        mod, _tm = _optimize(lowered.text, tier)
        return str(mod)
