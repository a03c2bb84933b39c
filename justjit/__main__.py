"""Command line: ``python -m justjit <command> ...``.

Commands:

- ``explain MODULE:FUNC --stage STAGE``: print one stage of the pipeline for a
  function (``cfg``, ``ir``, ``shapes``, ``pyx``; more as the pipeline grows).
  ``MODULE`` is an importable module name or a path to a ``.py`` file; ``FUNC`` may be
  dotted (``Class.method``). A jitted function is unwrapped to its ``py_func``.
- ``demo``: run ``justjit.demo.main()``.
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
    try:
        text = pipeline.explain_stage(func, args.stage)
    except CompileError as exc:
        print(f"justjit explain: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_demo(args, parser) -> int:
    from justjit import demo

    result = demo.main()
    return result if isinstance(result, int) else 0


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
    explain.set_defaults(handler=cmd_explain, subparser=explain)

    demo = commands.add_parser("demo", help="run the JustJIT demo")
    demo.set_defaults(handler=cmd_demo, subparser=demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
