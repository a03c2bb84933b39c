"""The Cython backend: register IR -> relooper -> register allocation -> .pyx -> C extension.

    compile(ir, ...) -> (entry, .pyx text, module)    explain(ir, stage) -> text of one stage
    warm_key_parts(opt_level, cache) -> key parts
    load_warm(cache, location, constants, on_source) -> as compile's

The warm path (`justjit.fingerprint`): `compile(..., on_entry=)` says which cache entry it
used and with which constants; `load_warm` loads that entry again in another process,
without running (or importing) the stages below or Cython.
"""

from __future__ import annotations

from collections import namedtuple

STAGES = ("shapes", "alloc", "pyx")
TYPED = True  # emits the typed ops of justjit.specialize
DIRECT_CALLS = True  # runs SelfCall: a specialization's calls of itself (justjit.specialize)
CHAINS = True  # modules take the next specialization of the dispatcher's chain (__jj_chain)
WARM = True  # offers warm_key_parts and load_warm, and compile(on_entry=)
NUMPY = True  # emits the numpy typed ops (GuardArray, ArrayLoad, ...; runtime/jj_numpy.h)
TIERED = True  # compile(tiered=True): a quick -Og module first, and its upgrade (see compile)


# (a named tuple, not a dataclass: a warm load imports this module, and making a dataclass
# costs about 1 ms)
CythonStages = namedtuple("CythonStages", "shape program allocation pyx")


def run_stages(ir) -> CythonStages:
    from ..emit_cython import emit_pyx
    from ..regalloc import allocate
    from ..relooper import lower_labelled_jumps, reloop, render

    successors = {block.id: block.all_successors() for block in ir.blocks.values()}
    shape = reloop(ir.entry, successors)
    program = lower_labelled_jumps(render(shape, successors))
    allocation = allocate(ir)
    pyx = emit_pyx(ir, program, allocation)
    return CythonStages(shape, program, allocation, pyx)


def compile(ir, *, key_extra: tuple, use_cache: bool, opt_level: int, on_source=None,
            metadata=None, on_entry=None, tiered: bool = False):
    """Build (or load from the cache) the extension for `ir`; returns (entry, pyx text,
    module). `metadata` (function, signature, backend) is recorded in the cache entry;
    `on_entry(location, constants)` is called when the module is in the cache (`location`
    is what `load_warm` needs, marshallable).

    With `tiered`, returns (entry, pyx text, module, upgrade): when the module had to be
    built, it is a quick one (cython_build.build_tiered) and `upgrade()` builds, caches and
    initializes the `opt_level` one and returns its (entry, pyx text, module); else
    `upgrade` is None."""
    from .cython_build import build_cached, build_tiered

    stages = run_stages(ir)
    text = stages.pyx.text
    constants = stages.pyx.constants
    if on_source is not None:
        on_source(text, ".pyx")
    build = build_tiered if tiered else build_cached
    module, module_name, key, store, *finish = build(
        text, name_hint=ir.name, key_extra=key_extra, use_cache=use_cache,
        opt_level=opt_level, metadata=metadata)
    finish = finish[0] if finish else None

    def ready(module, module_name, key, store, cached=True):
        # The module is keyed by the code object's fingerprint (in key_extra) as well as its
        # text, so the constants given here are always the ones its text was generated for
        # (a class a guard checks is named in the text with its address).
        _init(module, constants)
        location = None
        if cached and on_entry is not None and store is not None:
            location = store.location(module_name, key)
        if location is not None:
            on_entry(location, constants)
        return module.entry, text, module

    # (the quick module is in no cache: its upgrade is recorded instead)
    found = ready(module, module_name, key, store, cached=finish is None)
    if not tiered:
        return found
    return (*found, None if finish is None else lambda: ready(*finish()))


def warm_key_parts(opt_level: int, store) -> dict:
    from .cython_build import toolchain_parts

    return toolchain_parts(opt_level, store)


def load_warm(store, location: tuple, constants: tuple, on_source=None):
    """What `compile` returned for the cached module at `location` (see `compile`),
    initialized with `constants`; None when the entry is gone or damaged."""
    from .cython_build import load_entry

    found = load_entry(store, location)
    if found is None:
        return None
    module, pyx_path = found
    try:
        text = pyx_path.read_text(encoding="utf-8")
    except OSError:
        return None
    if _other_classes(module, constants):
        return None  # (the cold path makes a module of its own for these classes)
    if on_source is not None:
        on_source(text, ".pyx")
    _init(module, constants)
    return module.entry, text, module


def _init(module, constants: tuple) -> None:
    module.__jj_init(constants)
    module.__dict__["__jj_constants"] = constants


def _other_classes(module, constants: tuple) -> bool:
    """Whether `module` (one per process, whoever loads it) was initialized already with
    another class than one of `constants`: two classes of the same name give the same warm
    key (a class statement run again), but a module guards the one class it was given."""
    old = module.__dict__.get("__jj_constants")
    return old is not None and any(
        (isinstance(a, type) or isinstance(b, type)) and a is not b
        for a, b in zip(old, constants))


def explain(ir, stage: str) -> str:
    stages = run_stages(ir)
    if stage == "shapes":
        from ..relooper import format_ast, format_shape
        return format_shape(stages.shape) + "\n\n" + format_ast(stages.program)
    if stage == "alloc":
        from ..regalloc import format_allocation
        return format_allocation(ir, stages.allocation)
    return stages.pyx.text
