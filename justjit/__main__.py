"""Command line: ``python -m justjit <command> ...``.

Commands:

- ``explain MODULE:FUNC --stage STAGE``: print one stage of the pipeline for a
  function (``cfg``, ``ir``, ``shapes``, ``pyx``; more as the pipeline grows).
  ``MODULE`` is an importable module name or a path to a ``.py`` file; ``FUNC`` may be
  dotted (``Class.method``). A jitted function is unwrapped to its ``py_func``.
- ``demo``: run ``justjit.demo.main()``.
- ``run [--threshold N] [--report] [--verbose] [--exit-wait S] script.py [args...]``
  (or ``run -m module [args...]``): run a program as ``python script.py`` would,
  compiling its hot functions in the background without decorators (see
  ``justjit.autojit``). At exit it waits (up to ``--exit-wait`` seconds, default 10) for
  compilations under way, so that the next run finds them in the cache. ``--report``
  prints, at the end, what was compiled, how often each function ran and the time
  spent compiling.
- ``config``: print every setting's effective value and where it came from.
- ``cache list|info|clear``: the on-disk cache: its entries (function, signature,
  backend, size, age), a summary, or empty it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

KNOWN_STAGES = ("cfg", "ir", "shapes", "pyx")


class UsageError(Exception):
    """A bad target on the command line (reported as an argparse error)."""


def load_module(spec: str):
    """Import ``spec``: a dotted module name, or a path to a ``.py`` file."""
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise UsageError(f"no such file: {spec}")
        name = os.path.splitext(os.path.basename(path))[0]
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)  # as when running the file: siblings import
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # so pickling, dataclasses and jit's __module__ work
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise UsageError(f"cannot import module {spec!r}: {exc}") from exc
        raise


def resolve_function(target: str):
    """``MODULE:FUNC`` -> the plain Python function (jitted ones unwrapped)."""
    module_spec, sep, qualname = target.rpartition(":")
    if not sep or not module_spec or not qualname:
        raise UsageError(f"expected MODULE:FUNC, got {target!r}")
    obj = load_module(module_spec)
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{module_spec}:{qualname}: no attribute {part!r}") from None
    return unwrap(obj)


def unwrap(obj):
    """Peel staticmethod/classmethod/bound methods and jitted trampolines."""
    for _ in range(100):
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        elif getattr(getattr(obj, "dispatcher", None), "trampoline", None) is obj:
            obj = obj.py_func  # a jitted function (not a functools.wraps copy of one)
        elif hasattr(obj, "__func__"):
            obj = obj.__func__
        else:
            return obj
    return obj


def cmd_explain(args, parser) -> int:
    from justjit.errors import CompileError

    try:
        func = resolve_function(args.target)
    except UsageError as exc:
        parser.error(str(exc))
    from justjit import pipeline

    stages = getattr(pipeline, "STAGES", None)
    if stages is not None and args.stage not in stages:
        parser.error(f"unknown stage {args.stage!r}; choose one of {', '.join(stages)}")
    typed = {}
    if args.types is not None:
        typed["arg_types"] = _parse_types(args.types, parser)
    try:
        text = pipeline.explain_stage(func, args.stage, **typed)
    except CompileError as exc:
        print(f"justjit explain: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _parse_types(text: str, parser) -> tuple:
    """`--types int,float,list[float]` -> the lattice types of the arguments, in co_varnames
    order: any type a specialization can be made for (analyses.types.GUARD_NAMES), "none" for
    None, "object" for an argument left unspecialized."""
    import re

    from justjit.analyses.types import GUARD_NAMES, NONE, OBJECT, ndarray_type
    from justjit.ir.ops import NP_DTYPES

    known = {str(t): t for t in GUARD_NAMES}
    known.update(none=NONE, object=OBJECT)
    array = re.compile(r"ndarray\[(\w+),\s*([12])d,\s*([CFA])\]")
    out = []
    # (commas inside brackets belong to an array type: ndarray[float64,1d,C])
    for name in filter(None, (p.strip() for p in re.split(r",(?![^\[]*\])", text))):
        t = known.get(name)
        m = array.fullmatch(name)
        if t is None and m is not None and m.group(1) in NP_DTYPES:
            t = ndarray_type(m.group(1), int(m.group(2)), m.group(3))
        if t is None:
            parser.error(f"unknown type {name!r} in --types; use {', '.join(known)} or "
                         f"ndarray[DTYPE,NDIMd,LAYOUT] (DTYPE one of {', '.join(NP_DTYPES)}, "
                         f"NDIM 1 or 2, LAYOUT C, F or A)")
        out.append(t)
    return tuple(out)


def cmd_demo(args, parser) -> int:
    from justjit import demo

    result = demo.main()
    return result if isinstance(result, int) else 0


def cmd_run(args, parser) -> int:
    from justjit import autojit

    if args.verbose:
        from justjit.logs import enable_console

        enable_console()
    if args.module is None and not args.argv:
        parser.error("expected a script (or -m MODULE) to run")
    if args.threshold is not None and args.threshold < 1:
        parser.error("--threshold must be at least 1")
    status = 0
    try:
        if args.module is not None:
            autojit.run_module(args.module, args.argv, threshold=args.threshold)
        else:
            script, *rest = args.argv
            if not os.path.isfile(script):
                parser.error(f"no such file: {script}")
            autojit.run_path(script, rest, threshold=args.threshold)
    except SystemExit as exc:
        status = exc.code
        raise
    finally:
        if args.exit_wait > 0:
            # Let builds already under way finish (bounded): the next run then loads
            # them from the cache, and the report says what they became.
            autojit.wait(args.exit_wait)
        if args.report:
            sys.stdout.flush()
            sys.stderr.write(autojit.report())
            sys.stderr.flush()
    return status


def cmd_config(args, parser) -> int:
    from justjit import config

    try:
        text = config.describe()
    except (ValueError, TypeError) as exc:  # a bad value in pyproject.toml or the environment
        print(f"justjit config: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _age(created, now) -> str:
    if not isinstance(created, (int, float)):
        return "?"
    seconds = max(0.0, now - created)
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit}"
    return f"{seconds:.0f}s"


def cmd_cache(args, parser) -> int:
    import time

    from justjit import cache

    try:
        root = cache.cache_dir()
    except (ValueError, TypeError) as exc:
        print(f"justjit cache: {exc}", file=sys.stderr)
        return 1
    store = cache.Cache(root)
    if args.action == "clear":
        count = store.clear() if root.is_dir() else 0
        print(f"removed {count} entr{'y' if count == 1 else 'ies'} from {root}")
        return 0
    infos = store.list_entries() if root.is_dir() else []
    if args.action == "info":
        valid = [i for i in infos if i.valid]
        print(f"cache directory: {root}{'' if root.is_dir() else ' (does not exist yet)'}")
        reason = cache.unsafe_reason(root) if root.is_dir() else None
        if reason:
            print(f"  refused for use: {reason}")
        print(f"entries: {len(infos)} ({len(valid)} valid, {len(infos) - len(valid)} invalid), "
              f"{_size(sum(i.size for i in infos))}")
        for sub, label in ((store.tmp, "builds in progress or abandoned"),
                           (store.failed, "failed builds kept for inspection")):
            count = len(os.listdir(sub)) if sub.is_dir() else 0
            print(f"{label}: {count} ({sub})")
        print(f"functions remembered as not compilable (enable/run): {len(store.refused_keys())}")
        print(f"warm-path records (function fingerprint -> entry): {store.record_count()} "
              f"({store.index})")
        return 0
    # list
    if not infos:
        print(f"no entries in {root}")
        return 0
    now = time.time()
    rows = []
    for info in infos:
        meta = info.metadata or {}
        hint = info.module_name
        if hint.startswith("_jj_") and hint[-17:-16] == "_":
            hint = hint[4:-17] + " (name hint)"
        rows.append((
            str(meta.get("function") or hint),
            str(meta.get("signature") or meta.get("types") or "-"),
            str(meta.get("backend") or "-"),
            _size(info.size),
            _age(info.created, now),
            "ok" if info.valid else f"INVALID: {info.problem}",
            info.module_name,
        ))
    headers = ("function", "signature", "backend", "size", "age", "state", "module")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} in {root}")
    return 0


def _stages():
    try:
        from justjit.pipeline import STAGES
    except ImportError:
        return KNOWN_STAGES
    return STAGES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m justjit", description="JustJIT command line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    explain = commands.add_parser(
        "explain",
        help="print one pipeline stage for a function",
        description="Print one stage of the JustJIT pipeline for a function.",
    )
    explain.add_argument("target", metavar="MODULE:FUNC", help="module name or .py path, then the (dotted) function name")
    explain.add_argument(
        "--stage",
        default="ir",
        metavar="STAGE",
        help=f"stage to print: {'|'.join(_stages())} (default: ir)",
    )
    explain.add_argument(
        "--types",
        default=None,
        metavar="T1,T2,...",
        help="specialize for these argument types (int, float, bool, str, list, list[float], ...; "
        "default for --stage types: the annotations); later stages then show typed code",
    )
    explain.set_defaults(handler=cmd_explain, subparser=explain)

    demo = commands.add_parser("demo", help="run the JustJIT demo")
    demo.set_defaults(handler=cmd_demo, subparser=demo)

    run = commands.add_parser(
        "run",
        help="run a script, compiling its hot functions (no decorators needed)",
        description="Run a Python script (or -m module) as python would, compiling the functions "
        "of your own code that become hot, in the background.",
    )
    run.add_argument("--threshold", type=int, default=None, metavar="N",
                     help="calls (per argument-type signature) that make a function hot "
                          "(default: the 'threshold' setting)")
    run.add_argument("--report", action="store_true",
                     help="at the end, print what was compiled, call counts and compile time (stderr)")
    run.add_argument("--verbose", "-v", action="store_true", help="log each compilation on stderr")
    run.add_argument("--exit-wait", type=float, default=10.0, metavar="SECONDS",
                     help="at exit, wait up to this long for compilations under way (default 10; 0: "
                          "do not wait)")
    run.add_argument("-m", dest="module", metavar="MODULE", default=None, help="run a module, as python -m")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="script.py [args]",
                     help="the script and its arguments")
    run.set_defaults(handler=cmd_run, subparser=run)

    config = commands.add_parser("config", help="print the effective settings and their origin")
    config.set_defaults(handler=cmd_config, subparser=config)

    cache = commands.add_parser("cache", help="list, summarize or clear the on-disk cache")
    cache.add_argument("action", choices=("list", "info", "clear"))
    cache.set_defaults(handler=cmd_cache, subparser=cache)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
