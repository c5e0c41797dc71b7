"""Batch baking of a folder (``texgs bake-dir``): find the textures and material sets, skip
what the cache says is current, bake the rest in local processes or on a Ray cluster, and
write every output atomically from the driver.

The driver never imports PyTorch: workers do (``run_job``). Local and Ray runs call the same
``run_job`` with the same settings and write the same bytes (the bake is deterministic for
a given input, settings and seed, whatever the thread count). See docs/PIPELINE.md.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import format as fmt
from .bake_cache import BakeCache, job_key
from .errors import (InputError, OptionError, OutputError, TexgsError, UnsupportedError,
                     exit_code)
from .material import (IMAGE_SUFFIXES, WRAP_MODES, MapSource, kind_from_filename,
                       read_manifest)

MANIFEST_NAME = "texgs.toml"
#: Exit code reported for a job that failed with an unexpected error (a crash, a bug).
EXIT_INTERNAL = 70


@dataclass
class BakeJob:
    """One asset to bake: a texture or a material set.

    name: the job's path relative to the source folder, without extension (``sets/brick``);
    sources: its maps; output: the asset path; wrap: clamp | repeat | repeat-x | repeat-y
    (None: the batch's setting); error: a problem found while planning (the job fails).
    """

    name: str
    sources: list[MapSource]
    output: Path
    wrap: str | None = None
    error: str | None = None


@dataclass
class TextureResult:
    """What happened to one texture or set.

    status: "baked", "cached" (skipped: inputs and settings unchanged) or "failed".
    size_bytes, bits_per_texel (over the largest map), psnr_db (mean map PSNR), maps (per-map
    rows: map, input, width, height, psnr_db and the map's own metrics); seconds: bake time
    (0 when cached); attempts: tries made (a crashed or erroring worker is retried);
    renderer: where the fit ran ("cuda-kernel": a GPU, "cpu-kernel" or "torch": the CPU);
    host: the machine that baked it; visible_gpus: its worker's CUDA_VISIBLE_DEVICES (the GPU
    a local worker was pinned to or Ray assigned), None when unset;
    error: the one-line reason when failed, exit_code: the code the CLI gives that error.
    """

    name: str
    output: str
    inputs: list[str]
    status: str
    size_bytes: int = 0
    bits_per_texel: float = 0.0
    gaussians: int = 0
    psnr_db: float | None = None
    maps: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    attempts: int = 0
    renderer: str = ""
    host: str = ""
    visible_gpus: str | None = None
    error: str | None = None
    exit_code: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BatchResult:
    """Every job of a batch; ``ok`` when none failed."""

    source: str
    output: str
    backend: str
    results: list[TextureResult]
    seconds: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def as_dict(self) -> dict:
        return {"source": self.source, "output": self.output, "backend": self.backend,
                "seconds": self.seconds, "baked": self.count("baked"),
                "cached": self.count("cached"), "failed": self.count("failed"),
                "results": [r.as_dict() for r in self.results]}


@dataclass
class BatchEvent:
    """Progress of a batch for a user interface: kind is "start", "progress" or "done".

    job: index into the plan; step/total/psnr: the bake's progress; result: set on "done".
    """

    kind: str
    job: int
    name: str
    step: int = 0
    total: int = 0
    psnr: float = 0.0
    result: TextureResult | None = None


# ---------------------------------------------------------------------------------------
# Planning


def _base_and_kind(path: Path) -> tuple[str, int | None]:
    """``brick_Normal.png`` -> ("brick", MAP_NORMAL); ``rock.png`` -> ("rock", None)."""
    kind = kind_from_filename(path)
    stem = path.stem
    if kind is None:
        return stem, None
    suffix = re.split(r"[_\-. ]", stem)[-1]
    return stem[:len(stem) - len(suffix) - 1], kind


def _plan_directory(d: Path, rel: Path, dst: Path, images: list[Path]) -> list[BakeJob]:
    jobs: list[BakeJob] = []
    used: set[Path] = set()
    manifest = d / MANIFEST_NAME
    if manifest.is_file():
        name = (rel / d.name) if str(rel) != "." else Path(d.name)
        try:
            sources, extra = read_manifest(manifest)
            name = rel / str(extra.get("name", d.name)) if str(rel) != "." else \
                Path(str(extra.get("name", d.name)))
            wrap = extra.get("wrap")
            error = None
            if wrap is not None and wrap not in WRAP_MODES:
                error = f"{manifest}: wrap {wrap!r}: expected clamp, repeat, repeat-x or repeat-y"
            used |= {Path(s.path).resolve() for s in sources}
        except TexgsError as e:
            sources, wrap, error = [], None, str(e)
        jobs.append(BakeJob(name.as_posix(), sources, dst / rel / f"{name.name}.tgs", wrap,
                            error))
    groups: dict[str, list[tuple[Path, int | None]]] = {}
    for p in images:
        if p.resolve() in used:
            continue
        base, kind = _base_and_kind(p)
        groups.setdefault(base.lower(), []).append((p, kind))
    for key in sorted(groups):
        members = groups[key]
        if len(members) == 1:
            p, kind = members[0]
            jobs.append(BakeJob((rel / p.stem).as_posix(),
                                [MapSource(kind if kind is not None else fmt.MAP_BASECOLOR,
                                           str(p))],
                                dst / rel / f"{p.stem}.tgs"))
            continue
        base = _base_and_kind(members[0][0])[0]
        out = dst / rel / f"{base}.tgs"
        name = (rel / base).as_posix()
        found: dict[int, Path] = {}
        error = None
        for p, kind in members:
            k = fmt.MAP_BASECOLOR if kind is None else kind
            if k in found:
                error = (f"{d}: two {fmt.MAP_NAMES[k]} maps for {base} ({found[k].name}, "
                         f"{p.name}); add a {MANIFEST_NAME} naming the maps")
                break
            found[k] = p
        sources = [MapSource(k, str(found[k])) for k in sorted(found)]
        jobs.append(BakeJob(name, sources, out, None, error))
    return jobs


def plan_folder(src: str | Path, dst: str | Path) -> list[BakeJob]:
    """Every texture and material set under ``src``, with outputs mirrored under ``dst``.

    In each folder: a ``texgs.toml`` manifest is one set (its maps); the other images are
    grouped by name, a map suffix removed (``brick.png``, ``brick_Normal.png`` and
    ``brick_gloss.png`` are the set ``brick``); an image alone is one texture whose kind its
    suffix names (``rock_n.png`` is a normal map), base colour otherwise. Hidden files and
    folders, and ``dst`` itself when it lies inside ``src``, are skipped.
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise InputError(f"{src}: no such folder")
    if not src.is_dir():
        raise InputError(f"{src}: not a folder (bake-dir takes a folder; use bake for a file)")
    dst_res = dst.resolve()
    jobs: list[BakeJob] = []
    for root, dirs, files in os.walk(src):
        d = Path(root)
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and
                         (d / x).resolve() != dst_res)
        images = sorted(d / f for f in files if not f.startswith(".") and
                        Path(f).suffix.lower() in IMAGE_SUFFIXES)
        if not images and not (d / MANIFEST_NAME).is_file():
            continue
        jobs.extend(_plan_directory(d, d.relative_to(src), dst, images))
    seen: dict[Path, BakeJob] = {}
    for j in jobs:
        other = seen.get(j.output)
        if other is not None:
            msg = f"{j.output}: both {other.name} and {j.name} would write this output"
            j.error = other.error = msg
        seen[j.output] = j
    return jobs


# ---------------------------------------------------------------------------------------
# The worker


def job_spec(job: BakeJob, cfg, index: int) -> dict:
    """A picklable description of ``job`` for :func:`run_job`."""
    settings = asdict(cfg if job.wrap is None else with_wrap(cfg, job.wrap))
    return {"index": index, "name": job.name,
            "sources": [(s.kind, s.path, s.weight) for s in job.sources],
            "settings": settings}


def _fault_injection(name: str) -> None:
    """Test hook: with $TEXGS_FAULT_DIR set, a file ``<name with / as __>.fault`` there makes
    this job's next attempt fail once: "raise" raises an error, "exit" kills the worker."""
    folder = os.environ.get("TEXGS_FAULT_DIR")
    if not folder:
        return
    marker = Path(folder) / (name.replace("/", "__") + ".fault")
    try:
        action = marker.read_text().strip()
        marker.unlink()
    except OSError:
        return
    if action == "exit":
        os._exit(3)
    raise RuntimeError(f"injected fault in {name}")


def run_job(spec: dict, progress: Callable | None = None) -> dict:
    """Bake one job (in a worker process or Ray task). Returns {"index", "data" (asset bytes)
    or None, "summary", "error", "exit_code", "seconds"}. Errors in the inputs (TexgsError)
    are returned; anything else propagates so the driver can retry."""
    from .bake import BakeConfig, bake_set
    from .material import prepare_set

    _fault_injection(spec["name"])
    cfg = BakeConfig(**spec["settings"])
    sources = [MapSource(k, p, w) for k, p, w in spec["sources"]]
    t0 = time.perf_counter()
    try:
        cfg.validate()
        result = bake_set(prepare_set(sources), cfg, progress)
    except TexgsError as e:
        return {"index": spec["index"], "data": None, "summary": None, "error": str(e),
                "exit_code": exit_code(e),
                "seconds": time.perf_counter() - t0}
    summary = bake_summary(result)
    summary["host"] = socket.gethostname()
    summary["visible_gpus"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return {"index": spec["index"], "data": result.data, "summary": summary, "error": None,
            "exit_code": 0, "seconds": time.perf_counter() - t0}


def bake_summary(result) -> dict:
    """The JSON-able figures of a bake (texgs.bake.fit.BakeResult) that a TextureResult and the
    cache keep: size, bits per texel, Gaussians, mean PSNR and one row per map."""
    return {
        "size_bytes": result.size_bytes, "bits_per_texel": result.bits_per_texel,
        "gaussians": result.gaussians, "psnr_db": result.psnr, "renderer": result.renderer,
        "maps": [{"map": m.name, "input": m.path, "width": m.width, "height": m.height,
                  "psnr_db": m.psnr,
                  **{k: v for k, v in m.quality.as_dict().items() if k != "psnr"},
                  **({"note": m.note} if m.note else {})}
                 for m in result.maps],
    }


class _QueueProgress:
    """Progress callback for a worker process: sends a few updates per job to a queue."""

    def __init__(self, queue, index: int, total: int):
        self.queue, self.index, self.total, self.last = queue, index, total, -1

    def __call__(self, p) -> None:
        if p.step - self.last >= max(1, self.total // 50) or p.step >= self.total:
            self.last = p.step
            self.queue.put((self.index, p.step, p.total_steps, float(p.psnr)))


def _run_job_local(spec: dict, queue=None, threads: int | None = None) -> dict:
    if threads is not None:
        spec = {**spec, "settings": {**spec["settings"], "threads": threads}}
    cb = _QueueProgress(queue, spec["index"], spec["settings"]["steps"]) if queue else None
    return run_job(spec, cb)


# ---------------------------------------------------------------------------------------
# Executors: each runs specs and yields (spec index, outcome dict or exception, attempts)


def local_gpu_count(device: str) -> int:
    """CUDA GPUs the local workers will bake on for ``device`` ("cpu", "cuda", "auto"): 0
    for the CPU. PyTorch is imported only where an NVIDIA driver is present."""
    if device == "cpu" or not Path("/dev/nvidiactl").exists():
        return 0
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _pin_gpu(slots) -> None:
    """Worker initializer: take a GPU slot and make it the only GPU this process sees."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())


def _local_executor(specs: list[dict], jobs: int, threads: int, retries: int,
                    emit: Callable[[BatchEvent], None], names: list[str], gpus: int = 0):
    """Run every job in a pool of ``jobs`` processes; then retry, one at a time in a fresh
    process, the jobs that raised an unexpected error or were running when a worker died (a
    dead worker takes its whole pool down, so only an isolated rerun tells whose fault it
    was; those bystanders get one extra attempt). gpus: GPUs to spread the workers over
    (worker j sees only GPU j mod gpus); 0 for CPU bakes."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # no fork of a process that may hold threads
    manager = ctx.Manager()
    queue = manager.Queue()
    attempts = {s["index"]: 0 for s in specs}
    allowed = {s["index"]: 1 + retries for s in specs}
    retry: list[dict] = []
    workers = max(1, min(jobs, len(specs)))
    pin: dict = {}
    if gpus:  # GPU ids as this process sees them (a CUDA_VISIBLE_DEVICES list, if set)
        visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
                   if v.strip()]
        ids = visible[:gpus] if len(visible) >= gpus else [str(g) for g in range(gpus)]
        slots = manager.Queue()
        for j in range(workers):
            slots.put(ids[j % gpus])
        pin = {"initializer": _pin_gpu, "initargs": (slots,)}
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, **pin)
        running = {}
        for s in specs:
            attempts[s["index"]] += 1
            running[pool.submit(_run_job_local, s, queue, threads)] = s
            emit(BatchEvent("start", s["index"], names[s["index"]]))
        try:
            while running:
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(queue, emit, names)
                for fut in done:
                    s = running.pop(fut)
                    i = s["index"]
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        allowed[i] += 1  # maybe a bystander of another job's crash
                        retry.append(s)
                        continue
                    except Exception as e:  # noqa: BLE001 - reported per job
                        if attempts[i] < allowed[i]:
                            retry.append(s)
                        else:
                            yield i, e, attempts[i]
                        continue
                    yield i, outcome, attempts[i]
        except BaseException:
            _terminate(pool)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for s in retry:
            i = s["index"]
            while True:
                attempts[i] += 1
                if gpus:  # the isolated rerun takes the first GPU
                    slots.put(ids[0])
                pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, **pin)
                emit(BatchEvent("start", i, names[i]))
                error: BaseException | None = None
                try:
                    fut = pool.submit(_run_job_local, s, queue, threads)
                    while not fut.done():
                        wait([fut], timeout=0.2)
                        _drain(queue, emit, names)
                    outcome = fut.result()
                except BrokenProcessPool:
                    error = RuntimeError("its worker process died")
                except Exception as e:  # noqa: BLE001 - reported per job
                    error = e
                except BaseException:
                    _terminate(pool)
                    raise
                finally:
                    pool.shutdown(wait=False, cancel_futures=True)
                if error is None:
                    yield i, outcome, attempts[i]
                    break
                if attempts[i] >= allowed[i]:
                    yield i, error, attempts[i]
                    break
        _drain(queue, emit, names)
    finally:
        manager.shutdown()


def _terminate(pool) -> None:
    """Stop a pool's workers now (an interrupted batch must not leave bakes running)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except (OSError, AttributeError):
            pass


def _drain(queue, emit, names) -> None:
    import queue as q

    while True:
        try:
            i, step, total, psnr = queue.get_nowait()
        except (q.Empty, OSError, EOFError):
            return
        emit(BatchEvent("progress", i, names[i], step, total, psnr))


def _ray_executor(specs: list[dict], address: str, threads: int, retries: int,
                  emit: Callable[[BatchEvent], None], names: list[str], use_gpu: str):
    """One Ray task per job. use_gpu: "" (CPU tasks), "auto" (a GPU per task when the
    cluster has GPUs) or "cuda" (a GPU per task; refused when the cluster has none)."""
    if address != "local" and "RAY_AUTH_MODE" not in os.environ and (
            os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or
            (Path.home() / ".ray" / "auth_token").is_file()):
        # a cluster started with `ray start` (Ray >= 2.59) wants the token; a cluster
        # without authentication accepts a client that sends one
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise UnsupportedError("--ray needs Ray: pip install 'texgs[ray]'") from None
    started_here = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False,
                  "logging_level": "ERROR"}
        try:
            if address == "local":
                ray.init(**kwargs)
            else:
                ray.init(address=address, **kwargs)
        except Exception as e:  # noqa: BLE001 - any connection failure is the user's address
            raise OptionError(f"--ray {address}: cannot reach a Ray cluster "
                              f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
                from None
        started_here = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0) > 0 and use_gpu
        if use_gpu == "cuda" and not gpus:
            raise UnsupportedError("--device cuda: the Ray cluster has no GPUs (use --device "
                                   "auto or cpu)")
        task = ray.remote(_run_job_local).options(
            num_cpus=threads, num_gpus=1 if gpus else 0, max_retries=0,
            retry_exceptions=False)
        attempts = {s["index"]: 0 for s in specs}
        refs = {}
        for s in specs:
            attempts[s["index"]] += 1
            refs[task.remote(s, None, threads)] = s
            emit(BatchEvent("start", s["index"], names[s["index"]]))
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            ref = done[0]
            s = refs.pop(ref)
            try:
                yield s["index"], ray.get(ref), attempts[s["index"]]
            except Exception as e:  # noqa: BLE001 - task error or lost worker: retry
                if attempts[s["index"]] <= retries:
                    attempts[s["index"]] += 1
                    refs[task.remote(s, None, threads)] = s
                else:
                    cause = getattr(e, "cause", None) or e
                    yield s["index"], RuntimeError(str(cause).strip().splitlines()[-1]
                                                   if str(cause).strip() else
                                                   type(cause).__name__), attempts[s["index"]]
    finally:
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------------------------------
# The driver


def bake_folder(src: str | Path, dst: str | Path, cfg, *, jobs: int | None = None,
                ray: str | None = None, force: bool = False, retries: int = 1,
                on_event: Callable[[BatchEvent], None] | None = None) -> BatchResult:
    """Bake every texture and set under ``src`` into ``dst`` (see :func:`plan_folder`).

    cfg: BakeConfig for every job (a set's ``texgs.toml`` may set its wrap). jobs: local
    worker processes (default: one per CPU core, at most the number of jobs), each with
    ``cfg.threads`` threads (default: cores / jobs). ray: None for local processes, else
    "local" (start a Ray instance here), "auto" or "HOST:PORT" (an existing cluster); one
    task per job. force: bake even what the cache says is current. retries: extra attempts
    for a job whose worker crashed or raised an unexpected error (input errors are not
    retried). A failed job does not stop the others; outputs are written atomically by this
    process and recorded in the cache one by one, so an interrupted batch resumes.
    """
    from .images import atomic_write_bytes

    t0 = time.perf_counter()
    cfg.validate()
    if jobs is not None and not 1 <= jobs <= 1024:
        raise OptionError(f"--jobs {jobs}: must be 1..1024")
    if not 0 <= retries <= 10:
        raise OptionError(f"--retries {retries}: must be 0..10")
    src, dst = Path(src), Path(dst)
    plan = plan_folder(src, dst)
    if not plan:
        raise InputError(f"{src}: no images to bake under this folder")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{dst}: cannot create the folder ({e.strerror})") from None
    emit = on_event or (lambda e: None)
    names = [j.name for j in plan]
    results: list[TextureResult | None] = [None] * len(plan)
    keys: dict[int, str] = {}
    todo: list[dict] = []
    with BakeCache(dst) as cache:
        for i, job in enumerate(plan):
            base = TextureResult(job.name, str(job.output), [s.path for s in job.sources],
                                 "failed")
            if job.error is not None:
                base.error, base.exit_code = job.error, 2
                results[i] = base
                emit(BatchEvent("done", i, job.name, result=base))
                continue
            try:
                key = job_key(job.sources, cfg if job.wrap is None else with_wrap(cfg, job.wrap))
            except OSError as e:
                base.error, base.exit_code = f"{e.filename}: cannot read ({e.strerror})", 2
                results[i] = base
                emit(BatchEvent("done", i, job.name, result=base))
                continue
            hit = None if force else cache.lookup(job.output, key)
            if hit is not None:
                base.status = "cached"
                fill_result(base, hit)
                results[i] = base
                emit(BatchEvent("done", i, job.name, result=base))
                continue
            try:
                job.output.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                base.error, base.exit_code = f"{job.output.parent}: cannot create ({e.strerror})", 2
                results[i] = base
                emit(BatchEvent("done", i, job.name, result=base))
                continue
            keys[i] = key
            todo.append(job_spec(job, cfg, i))
        if todo:
            cores = os.cpu_count() or 1
            if ray is None:
                # GPU bakes: one worker per GPU unless --jobs says otherwise
                gpus = local_gpu_count(cfg.device)
                n = jobs or max(1, min(gpus or cores, len(todo)))
                threads = cfg.threads or max(1, cores // n)
                runner = _local_executor(todo, n, threads, retries, emit, names, gpus)
            else:
                threads = cfg.threads or 1
                runner = _ray_executor(todo, ray, threads, retries, emit, names,
                                       cfg.device if cfg.device != "cpu" else "")
            for i, outcome, tries in runner:
                job = plan[i]
                r = TextureResult(job.name, str(job.output), [s.path for s in job.sources],
                                  "failed", attempts=tries)
                if isinstance(outcome, BaseException):
                    r.error, r.exit_code = f"{job.name}: {outcome}", EXIT_INTERNAL
                elif outcome["error"] is not None:
                    r.error, r.exit_code = outcome["error"], outcome["exit_code"]
                    r.seconds = outcome["seconds"]
                else:
                    try:
                        atomic_write_bytes(job.output, outcome["data"])
                        cache.record(job.output, keys[i], outcome["data"], outcome["summary"])
                        r.status = "baked"
                        fill_result(r, outcome["summary"])
                        r.seconds = outcome["seconds"]
                    except TexgsError as e:
                        r.error, r.exit_code = str(e), 2
                results[i] = r
                emit(BatchEvent("done", i, job.name, result=r))
    return BatchResult(str(src), str(dst), "local" if ray is None else f"ray:{ray}",
                       [r for r in results if r is not None], time.perf_counter() - t0)


def with_wrap(cfg, wrap: str):
    """``cfg`` with the address mode named ``wrap`` (a WRAP_MODES key)."""
    from dataclasses import replace

    rx, ry = WRAP_MODES[wrap]
    return replace(cfg, repeat_x=rx, repeat_y=ry)


def fill_result(r: TextureResult, summary: dict) -> TextureResult:
    """Copy a :func:`bake_summary` into ``r``; returns ``r``."""
    r.size_bytes = summary["size_bytes"]
    r.bits_per_texel = summary["bits_per_texel"]
    r.gaussians = summary["gaussians"]
    r.psnr_db = summary["psnr_db"]
    r.maps = summary["maps"]
    r.renderer = summary.get("renderer", "")  # cache rows written before it was recorded
    r.host = summary.get("host", "")
    r.visible_gpus = summary.get("visible_gpus")
    return r
