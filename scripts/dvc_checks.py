"""Two cheap checks of the DVC pipeline's bookkeeping (no stage is run, no data is needed).

    scripts/python scripts/dvc_checks.py deps   # each stage lists the code its command imports
    scripts/python scripts/dvc_checks.py lock   # dvc.lock was produced by this code, params and cmds
    scripts/python scripts/dvc_checks.py        # both (CI: .ci/run, `make check-dvc`)
    scripts/python scripts/dvc_checks.py lock --pipeline dvc.yaml   # only that dvc.yaml's stages

deps: for every stage of dvc.yaml (foreach expanded by DVC itself) whose command runs
``-m <module>``, the project modules that module imports, transitively and statically (every
``import`` in the source, also those inside functions; only the repository's own packages), must
each lie under one of the stage's ``deps``. Prints one line per missing file and stage. ~1 s.

lock: ``dvc status`` against the committed dvc.lock, keeping only what says the lock is stale:
a changed command, a modified / new / deleted code dependency, a changed params.yaml key.
Dependencies that are another stage's output (data/raw, data/processed, reports/train/*.json),
missing outputs and pipelines that have no dvc.lock at all (pipelines/videos: never run, it needs
the user's videos) are ignored, so it passes on a clean clone without data and fails (exit 1, one
line per stage and path) when code, params or commands changed without `dvc repro` (or `dvc
commit`) refreshing dvc.lock. A few seconds: DVC hashes only the code directories (and whatever
data is present, once; it caches the hashes).
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---- static imports ----------------------------------------------------------------------------
def project_packages(root: Path = ROOT) -> set[str]:
    return {p.parent.name for p in root.glob("*/__init__.py")}


def module_file(name: str, root: Path = ROOT) -> Path | None:
    base = root.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _imported_names(path: Path, module: str) -> set[str]:
    """Absolute names of every module imported in ``path`` (``module`` is its dotted name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                src = f"{base}.{node.module}" if node.module else base
            else:
                src = node.module or ""
            out.add(src)
            out.update(f"{src}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return out


def imported_files(module: str, root: Path = ROOT) -> set[Path]:
    """The repository files ``module`` needs: itself, its parent packages' __init__.py and,
    transitively, every project module it imports (anywhere in its source)."""
    packages = project_packages(root)
    seen: set[str] = set()
    files: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name.split(".")[0] not in packages:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        f = module_file(name, root)
        if f is None:
            continue  # `from pkg import function`: not a module
        files.add(f.relative_to(root))
        todo.extend(_imported_names(f, name))
    return files


# ---- the stages --------------------------------------------------------------------------------
def stages(root: Path = ROOT) -> list[dict]:
    """[{name, cmd, deps (paths), params (keys), outs}] of dvc.yaml, as DVC resolves it."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    out = []
    with Repo(str(root)) as repo:
        for st in repo.index.stages:
            deps = [d for d in st.deps if not isinstance(d, ParamsDependency)]
            params = [k for d in st.deps if isinstance(d, ParamsDependency) for k in d.params]
            lock = Path(st.dvcfile.path).with_name("dvc.lock")
            out.append({"name": st.addressing, "cmd": st.cmd, "deps": [d.def_path for d in deps],
                        "params": params, "outs": [o.def_path for o in st.outs], "locked": lock.is_file()})
    return out


def _covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


def missing_code_deps(root: Path = ROOT) -> list[str]:
    problems = []
    for st in stages(root):
        m = re.search(r"-m\s+([\w.]+)", st["cmd"])
        if not m:
            continue
        for f in sorted(imported_files(m.group(1), root)):
            if not _covered(f, st["deps"]):
                problems.append(f"{st['name']}: runs {m.group(1)}, which imports {f}, not in its deps")
    return problems


def _dvcfile(stage_name: str) -> str:
    """The dvc.yaml of a stage name as ``dvc status`` gives it (``pipelines/x/dvc.yaml:stage``; root: ``stage``)."""
    head, sep, _ = stage_name.rpartition(".yaml:")
    return head + ".yaml" if sep else "dvc.yaml"


def stale_lock(root: Path = ROOT, pipelines: list[str] | None = None) -> list[str]:
    """What says a committed dvc.lock is stale; ``pipelines``: only the stages of these dvc.yaml files
    (a `dvc exp run -S profile=tiny` re-runs the root pipeline only: the side pipelines that follow
    ``profile`` are then stale by design)."""
    from dvc.repo import Repo

    all_stages = stages(root)
    produced = [o for st in all_stages for o in st["outs"]]
    never_run = {st["name"] for st in all_stages if not st["locked"]}  # a dvc.yaml without any dvc.lock
    with Repo(str(root)) as repo:
        status = repo.status()
    problems = []
    for name, entries in sorted(status.items()):
        if name in never_run or (pipelines is not None and _dvcfile(name) not in pipelines):
            continue
        for entry in entries:
            if isinstance(entry, str):  # "changed command", "always changed"
                problems.append(f"{name}: {entry}")
                continue
            for path, what in (entry.get("changed deps") or {}).items():
                if _covered(Path(path), produced):
                    continue  # data made by another stage: absent on a clean clone
                if isinstance(what, dict):
                    problems.extend(f"{name}: params.yaml key {k} {v}" for k, v in sorted(what.items()))
                else:
                    problems.append(f"{name}: {path} {what}")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pipelines = None
    while "--pipeline" in argv:
        i = argv.index("--pipeline")
        if i + 1 >= len(argv):
            print("usage: dvc_checks.py [deps] [lock] [--pipeline DVC_YAML ...]  (--pipeline needs a path)",
                  file=sys.stderr)
            return 2
        pipelines = (pipelines or []) + [argv[i + 1]]
        del argv[i:i + 2]
    which = argv or ["deps", "lock"]
    bad = [w for w in which if w not in ("deps", "lock")]
    if bad:
        print(f"usage: dvc_checks.py [deps] [lock] [--pipeline DVC_YAML ...]  (unknown: {bad})", file=sys.stderr)
        return 2
    problems = []
    if "deps" in which:
        problems += missing_code_deps()
    if "lock" in which:
        found = stale_lock(pipelines=pipelines)
        if found:
            found.append("dvc.lock is stale: run `.venv/bin/dvc repro` (or `dvc commit` if outputs are current) "
                         "and commit dvc.lock")
        problems += found
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"dvc_checks: {' and '.join(which)} ok", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
