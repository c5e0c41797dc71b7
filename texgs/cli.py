"""The ``texgs`` command line (Typer + rich). Commands only: the work lives in the library.

Exit codes (docs/CLI.md): 0 success, 1 bad arguments or option combination, 2 input or
output file problem, 3 invalid or corrupt asset, 4 some jobs of a batch
failed (the others were written), 5 unsupported, 130 interrupted.
"""

from __future__ import annotations

if __name__ == "__main__":  # `python -m texgs.cli`: handle Ctrl-C during the imports below
    import signal as _signal

    from texgs.__main__ import interrupted_at_start as _interrupted_at_start

    _signal.signal(_signal.SIGINT, _interrupted_at_start)

import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from . import errors
from . import format as fmt
from .bake.config import BakeConfig
from .errors import InputError, OptionError, OutputError, TexgsError, UnsupportedError
from .material import WRAP_MODES
from .quality import format_db as _fmt_db

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_IO = 2
EXIT_INVALID_ASSET = 3
EXIT_BATCH_FAILED = 4
EXIT_UNSUPPORTED = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = errors.EXIT_CODES

# markdown: help paragraphs are reflowed to the terminal, and square brackets stay text (the
# "rich" mode took "[cuda]" in "pip install 'texgs[cuda]'" for markup and dropped it).
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="markdown",
                  help="Bake textures into Gaussian assets, decode and inspect them.")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _parse_size(size: str | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise OptionError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 512x512") from None
    if not (1 <= w <= fmt.MAX_DIMENSION and 1 <= h <= fmt.MAX_DIMENSION):
        raise OptionError(f"--size {size}: each side must be 1..{fmt.MAX_DIMENSION}")
    return w, h


def _emit_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


MAX_THREADS = 1024



def _gather_maps(src: Path | None, maps: list[str], weights: list[str], kind: str | None):
    """The maps to bake and settings from a manifest: SRC (image, folder or .toml) and/or
    --map options; --weight overrides. Checks everything before any work starts."""
    from .material import (MapSource, discover_maps, kind_from_name, parse_map_option,
                           parse_weight_option, read_manifest)

    sources: list[MapSource] = []
    extra: dict = {}
    if src is not None:
        if src.is_dir():
            if kind is not None:
                raise OptionError("--kind applies to a single image, not a folder")
            sources = discover_maps(src)
        elif src.suffix.lower() == ".toml":
            if kind is not None:
                raise OptionError("--kind applies to a single image, not a manifest")
            sources, extra = read_manifest(src)
        else:
            if not src.exists():
                raise InputError(f"{src}: no such file")
            k = kind_from_name(kind, "--kind") if kind is not None else fmt.MAP_BASECOLOR
            sources = [MapSource(k, str(src))]
    elif kind is not None:
        raise OptionError("--kind needs an input image")
    sources += [parse_map_option(m) for m in maps]
    if not sources:
        raise OptionError("nothing to bake: give an input (image, folder or .toml manifest) "
                          "or --map KIND=PATH")
    for m in sources:
        if not Path(m.path).exists():
            raise InputError(f"{m.path}: no such file")
    for text in weights:
        k, w = parse_weight_option(text)
        hit = [m for m in sources if m.kind == k]
        if not hit:
            raise OptionError(f"--weight {text}: the set has no {fmt.MAP_NAMES[k]} map")
        for m in hit:
            m.weight = w
    return sources, extra


@app.command()
def bake(
    src: Optional[Path] = typer.Argument(None, help="Input: an image (PNG, JPEG, TGA, WebP, "
                                         "EXR, float TIFF...), a folder holding a material "
                                         "set, or a .toml manifest. Optional with --map."),
    output: Path = typer.Option(..., "-o", "--output", help="Output asset (.tgs)."),
    maps: list[str] = typer.Option([], "--map", help="A map of the set as KIND=PATH "
                                   "(basecolor, normal, roughness, gloss, metalness, "
                                   "occlusion, orm, emissive, alpha, mask, generic); repeat."),
    weights: list[str] = typer.Option([], "--weight", help="Loss weight of a map kind as "
                                      "KIND=NUMBER (default 2 for normal maps, 1 for the "
                                      "others); repeat."),
    kind: Optional[str] = typer.Option(None, help="What a single input image is "
                                       "(default basecolor), e.g. normal."),
    bpp: Optional[float] = typer.Option(None, help="Bits per texel of the whole file over the "
                                        "largest map's texels (default 1.0 when --gaussians "
                                        "is not given)."),
    gaussians: Optional[int] = typer.Option(None, help="Number of Gaussians instead of --bpp."),
    psnr: Optional[float] = typer.Option(None, "--psnr", help="Instead of a budget: the "
                                         "smallest asset whose PSNR (mean map PSNR for a "
                                         "set) reaches this many dB, found in a few bakes."),
    match: Optional[str] = typer.Option(None, "--match", help="Instead of a budget: the "
                                        "smallest asset at least as good (PSNR) as this GPU "
                                        "format on the input: astc-4x4 ... astc-12x12, bc1, "
                                        "bc7 (needs the eval extra)."),
    max_bpp: Optional[float] = typer.Option(None, "--max-bpp", help="Largest budget "
                                            "--psnr / --match may try (bits per texel, "
                                            "default 16)."),
    quality: str = typer.Option(BakeConfig.quality, help="Speed / quality preset: fast, "
                                "balanced (default) or max (docs/BAKING.md \"Quality "
                                "presets\")."),
    steps: Optional[int] = typer.Option(None, help="Optimization steps (default: from "
                                        "--quality)."),
    sparse_steps: Optional[float] = typer.Option(None, "--sparse-steps", help="Share of the "
                                                 "steps (0..1, default 0) that fit one texel "
                                                 "of each 2x2 block: faster, for smooth or "
                                                 "upscaled textures; costs quality on "
                                                 "detailed ones (docs/BAKING.md)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same bytes."),
    device: str = typer.Option("auto", help="auto (default: the GPU when PyTorch sees a CUDA "
                              "GPU, else the CPU), cpu or cuda."),
    top_k: int = typer.Option(BakeConfig.top_k, "--top-k", help="Gaussians blended per texel (K)."),
    lod_levels: int = typer.Option(BakeConfig.lod_levels, "--lod-levels", help="LOD chunks (refinement rounds)."),
    loss: str = typer.Option(BakeConfig.loss, help="mse (default, faster) or l1-ssim (the Image-GS loss)."),
    wrap: Optional[str] = typer.Option(None, help="Address mode: clamp (default), repeat "
                                       "(tiling textures), repeat-x or repeat-y."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit Gaussians to a texture or a material set and write an LOD-chunked asset."""
    if bpp is not None and gaussians is not None:
        raise OptionError("--bpp and --gaussians are exclusive: give one")
    target = _check_rate_options(bpp, gaussians, psnr, match, max_bpp)
    if wrap is not None and wrap not in WRAP_MODES:
        raise OptionError(f"--wrap {wrap!r}: expected clamp, repeat, repeat-x or repeat-y")
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        # far more threads than cores crash OpenMP / the kernel's thread pool (segfault)
        raise OptionError(f"--threads {threads}: must be 1..{MAX_THREADS}")
    if not -2**63 <= seed < 2**64:  # torch.Generator.manual_seed raises on wider seeds
        raise OptionError(f"--seed {seed}: must fit in 64 bits")
    sources, extra = _gather_maps(src, maps, weights, kind)
    if src is not None and output.resolve() == src.resolve():  # e.g. the manifest itself
        raise OptionError(f"{output}: output would overwrite the input")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():  # checked now, not after a long bake
        raise OutputError(f"{output}: folder {parent} does not exist or is not a folder")
    if wrap is None:
        wrap = extra.get("wrap", "clamp")
        if wrap not in WRAP_MODES:
            raise InputError(f"{src}: wrap {wrap!r}: expected clamp, repeat, repeat-x or "
                             "repeat-y")
    rep_x, rep_y = WRAP_MODES[wrap]
    cfg = BakeConfig(bpp=bpp if gaussians is None else None, gaussians=gaussians, steps=steps,
                     seed=seed, top_k=top_k, lod_levels=lod_levels, device=device, loss=loss,
                     repeat_x=rep_x, repeat_y=rep_y, threads=threads, quality=quality,
                     sparse_fraction=sparse_steps)
    if cfg.bpp is None and cfg.gaussians is None:
        cfg.bpp = 1.0
    cfg.validate()
    run_on = _check_device(device)
    from .bake import bake_maps, render  # torch is imported only here

    if run_on == "cpu" and render.backend_name() != "cpu-kernel" and not quiet and not as_json:
        from .bake import render_cpu
        err.print(f"[yellow]note:[/] compiled CPU kernel unavailable ({render_cpu.status()}); "
                  "using the slower PyTorch renderer")
    label = src.name if src is not None else Path(sources[0].path).name
    if target is not None:
        _bake_rate(sources, output, cfg, target, max_bpp, label, src, wrap, quiet, as_json)
        return
    if quiet or as_json:
        result = bake_maps(sources, output, cfg)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        with Progress(TextColumn("[bold]baking[/] {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task(label, total=cfg.steps, info="")

            def on_progress(p):
                extra = "" if p.phase == "fit" else f"  ({p.phase})"
                bar.update(task, completed=p.step, total=p.total_steps,
                           info=f"{p.gaussians} Gaussians  PSNR {_fmt_db(p.psnr)} dB{extra}")

            result = bake_maps(sources, output, cfg, on_progress)
    _print_bake(result, output, src, wrap, as_json)


def _check_rate_options(bpp, gaussians, psnr, match, max_bpp):
    """--psnr / --match / --max-bpp against the budget options, before any work. Returns
    ("psnr", dB) or ("match", format name), or None for a plain bake."""
    from .bake.rate import parse_match

    if psnr is not None and match is not None:
        raise OptionError("--psnr and --match are exclusive: give one")
    for flag, v in (("--psnr", psnr), ("--match", match)):
        if v is not None:
            for other, w in (("--bpp", bpp), ("--gaussians", gaussians)):
                if w is not None:
                    raise OptionError(f"{flag} and {other} are exclusive: {flag} searches the "
                                      "budget")
    if max_bpp is not None:
        if psnr is None and match is None:
            raise OptionError("--max-bpp applies to --psnr or --match")
        if not 0.01 <= max_bpp <= 64:
            raise OptionError(f"--max-bpp {max_bpp:g} outside 0.01..64")
    if psnr is not None:
        if not 1 <= psnr <= 150:
            raise OptionError(f"--psnr {psnr:g} outside 1..150 dB")
        return ("psnr", psnr)
    if match is not None:
        from .bake.rate import check_match_available

        check_match_available(match)
        return ("match", parse_match(match))
    return None


def _bake_rate(sources, output, cfg, target, max_bpp, label, src, wrap, quiet, as_json):
    """bake --psnr / --match: a rate search, one progress bar per try."""
    from .bake.rate import MAX_BPP, bake_maps_rate

    kw = {"target_db": target[1]} if target[0] == "psnr" else {"match": target[1]}
    kw["max_bpp"] = MAX_BPP if max_bpp is None else max_bpp
    if quiet or as_json:
        res = bake_maps_rate(sources, output, cfg, **kw)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)
        with Progress(TextColumn("[bold]baking[/] {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task(label, total=cfg.steps, info="")

            def on_progress(p):
                extra = "" if p.phase == "fit" else f"  ({p.phase})"
                bar.update(task, completed=p.step, total=p.total_steps,
                           info=f"{p.gaussians} Gaussians  PSNR {_fmt_db(p.psnr)} dB{extra}")

            def on_try(i, b, tr):
                if tr is None:
                    bar.reset(task, total=cfg.steps, description=f"{label} try {i + 1} at "
                              f"{b:.3f} bits/texel", info="")
                    return
                what = "reached" if tr.reached else "below target"
                bar.console.print(f"try {i + 1}: {tr.bits_per_texel:.3f} bits/texel, "
                                  f"{tr.size_bytes:,} bytes, PSNR {_fmt_db(tr.psnr)} dB "
                                  f"({what}), {tr.seconds:.1f} s", highlight=False)

            res = bake_maps_rate(sources, output, cfg, progress=on_progress, on_try=on_try,
                                 **kw)
    rate = res.as_dict()
    _print_bake(res.result, output, src, wrap, as_json, rate, res.seconds)


def _print_bake(result, output, src, wrap, as_json, rate=None, seconds=None):
    """The summary of a bake: one line (and one per map of a set), or JSON."""
    map_rows = [{"map": m.name, "input": m.path, "width": m.width, "height": m.height,
                 "psnr_db": m.psnr, "lod_psnr_db": m.lod_psnr, "loss_weight": m.weight,
                 **{k: v for k, v in m.quality.as_dict().items() if k != "psnr"},
                 **({"note": m.note} if m.note else {})}
                for m in result.maps]
    seconds = result.seconds if seconds is None else seconds
    summary = {
        "input": str(src) if src is not None else None, "output": str(output),
        "width": result.width, "height": result.height, "channels": result.channels,
        "size_bytes": result.size_bytes, "bits_per_texel": result.bits_per_texel,
        "gaussians": result.gaussians, "lod_counts": result.lod_counts,
        "psnr_db": result.psnr, "psnr_float_db": result.psnr_float,
        "lod_psnr_db": result.lod_psnr, "seconds": seconds,
        "renderer": result.renderer, "wrap": wrap, "maps": map_rows,
    }
    if result.color_search:
        summary["color_search"] = result.color_search
    if rate is not None:
        summary["rate"] = rate
    if as_json:
        _emit_json(summary)
        return
    for r in map_rows:
        if "note" in r:
            err.print(f"[yellow]note:[/] {r['input']}: {r['note']}")
    if result.color_search:
        err.print(f"[yellow]note:[/] {result.color_search}", highlight=False)
    extras = ("angular_mean_deg", "alpha_flip_fraction", "relative_error")
    if len(result.maps) > 1 or any(k in map_rows[0] for k in extras):
        for r in map_rows:
            extra_txt = ""
            if "angular_mean_deg" in r:
                extra_txt += (f", normal error {r['angular_mean_deg']:.2f} deg mean / "
                              f"{r['angular_p99_deg']:.2f} p99")
            if "alpha_flip_fraction" in r:
                extra_txt += f", alpha-test flips {100 * r['alpha_flip_fraction']:.2f} %"
            if "relative_error" in r:
                extra_txt += f", mean relative error {100 * r['relative_error']:.2f} %"
            if len(result.maps) > 1 and r["loss_weight"] != 1.0:
                extra_txt += f" (loss weight {r['loss_weight']:g})"
            size = f"{r['width']}x{r['height']}"
            out.print(f"  {r['map']:10s} {size:>9s}  PSNR "
                      f"{_fmt_db(r['psnr_db'])} dB{extra_txt}")
    what = "mean map PSNR" if len(result.maps) > 1 else "PSNR"
    search = ""
    if rate is not None:
        tried = ", ".join(f"{t['bits_per_texel']:.3f}" for t in rate["tries"])
        m = rate["match"]
        goal = (f"--match {m['format']} ({m['bits_per_texel']:.3f} bits/texel, "
                f"{_fmt_db(m['psnr_db'])} dB)" if m else
                f"--psnr {_fmt_db(rate['target_psnr_db'])} dB")
        search = (f"; {goal}: try {rate['chosen_try']} of {len(rate['tries'])} "
                  f"(tried {tried} bits/texel)")
    out.print(f"{output}: {result.size_bytes:,} bytes, {result.bits_per_texel:.3f} bits/texel, "
              f"{result.gaussians:,} Gaussians in {len(result.lod_counts)} LODs, "
              f"{what} {_fmt_db(result.psnr)} dB (float {_fmt_db(result.psnr_float)} dB), "
              f"{seconds:.1f} s{search}", highlight=False)


@app.command("bake-dir")
def bake_dir(
    src: Path = typer.Argument(..., help="A folder of textures and material sets "
                               "(searched recursively)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder: one .tgs per "
                                "texture or set, mirroring SRC's layout, plus the bake cache."),
    bpp: Optional[float] = typer.Option(None, help="Bits per texel of each file (default 1.0 "
                                        "when --gaussians is not given)."),
    gaussians: Optional[int] = typer.Option(None, help="Gaussians per asset instead of --bpp."),
    quality: str = typer.Option(BakeConfig.quality, help="Speed / quality preset: fast, "
                                "balanced (default) or max (docs/BAKING.md \"Quality presets\")."),
    steps: Optional[int] = typer.Option(None, help="Optimization steps (default: from --quality)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same bytes."),
    top_k: int = typer.Option(BakeConfig.top_k, "--top-k", help="Gaussians blended per texel (K)."),
    lod_levels: int = typer.Option(BakeConfig.lod_levels, "--lod-levels", help="LOD chunks."),
    loss: str = typer.Option(BakeConfig.loss, help="mse or l1-ssim."),
    wrap: str = typer.Option("clamp", help="Address mode of every asset whose texgs.toml "
                             "does not set one: clamp, repeat, repeat-x or repeat-y."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Local worker processes "
                                       "(default: one per CPU core)."),
    threads: Optional[int] = typer.Option(None, help="Threads per job (default: cores / jobs "
                                          "locally, 1 per Ray task)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray instead of local "
                                      "processes: 'local' (start Ray here), 'auto' (the "
                                      "cluster this machine belongs to) or HOST:PORT."),
    device: str = typer.Option("auto", help="auto (default: GPUs where there are some: one "
                               "local worker per GPU, or one GPU per Ray task on a cluster "
                               "with GPUs), cpu or cuda."),
    retries: int = typer.Option(1, help="Extra attempts for a job whose worker crashed."),
    force: bool = typer.Option(False, "--force", help="Bake everything, ignoring the cache."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Bake every texture and material set under a folder, skipping those whose inputs and
    settings did not change; exit code 4 when some failed (the others are still written)."""
    from .batch import bake_folder

    if bpp is not None and gaussians is not None:
        raise OptionError("--bpp and --gaussians are exclusive: give one")
    if wrap not in WRAP_MODES:
        raise OptionError(f"--wrap {wrap!r}: expected clamp, repeat, repeat-x or repeat-y")
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise OptionError(f"--threads {threads}: must be 1..{MAX_THREADS}")
    if jobs is not None and ray is not None:
        raise OptionError("--jobs sets local processes; with --ray, Ray places the tasks")
    if not -2**63 <= seed < 2**64:
        raise OptionError(f"--seed {seed}: must fit in 64 bits")
    if not src.is_dir():
        raise InputError(f"{src}: {'not a folder' if src.exists() else 'no such folder'}")
    if output.exists() and not output.is_dir():
        raise OptionError(f"-o {output}: not a folder")
    if output.resolve() == src.resolve():
        raise OptionError(f"-o {output}: the output folder must differ from the source folder")
    rep_x, rep_y = WRAP_MODES[wrap]
    cfg = BakeConfig(bpp=bpp if gaussians is None else None, gaussians=gaussians, steps=steps,
                     quality=quality,
                     seed=seed, top_k=top_k, lod_levels=lod_levels, loss=loss,
                     repeat_x=rep_x, repeat_y=rep_y, threads=threads, device=device)
    if cfg.bpp is None and cfg.gaussians is None:
        cfg.bpp = 1.0
    cfg.validate()
    if ray is None and device == "cuda":  # local workers use this machine's GPUs: check
        _check_device(device)                # now, not in every worker
    if quiet or as_json:
        import contextlib

        # Ray's driver prints worker-failure notices to stdout; keep stdout for the JSON
        with contextlib.redirect_stdout(sys.stderr):
            result = bake_folder(src, output, cfg, jobs=jobs, ray=ray, force=force,
                                 retries=retries)
    else:
        result = _bake_dir_with_progress(src, output, cfg, jobs, ray, force, retries)
    if as_json:
        _emit_json(result.as_dict())
    else:
        _print_batch_table(result)
    if not result.ok:
        raise typer.Exit(EXIT_BATCH_FAILED)


def _bake_dir_with_progress(src, output, cfg, jobs, ray, force, retries):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    from .batch import bake_folder

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        overall = bar.add_task("[bold]all textures[/]", total=None, info="")
        per_job: dict[int, int] = {}
        state = {"done": 0, "failed": 0}

        def on_event(e) -> None:
            if e.kind == "start" and e.job not in per_job:
                per_job[e.job] = bar.add_task(f"  {e.name}", total=cfg.steps, info="")
            elif e.kind == "progress" and e.job in per_job:
                bar.update(per_job[e.job], completed=e.step,
                           info=f"PSNR {_fmt_db(e.psnr)} dB")
            elif e.kind == "done":
                state["done"] += 1
                state["failed"] += e.result.status == "failed"
                if e.job in per_job:
                    bar.remove_task(per_job.pop(e.job))
                mark = {"baked": "[green]baked[/]", "cached": "[dim]cached[/]",
                        "failed": "[red]failed[/]"}[e.result.status]
                bar.console.print(f"{mark} {e.name}" + (f": {e.result.error}"
                                                        if e.result.error else ""))
                bar.update(overall, completed=state["done"],
                           info=f"{state['failed']} failed" if state["failed"] else "")

        return bake_folder(src, output, cfg, jobs=jobs, ray=ray, force=force, retries=retries,
                           on_event=on_event)


def _print_batch_table(result) -> None:
    from rich.table import Table

    table = Table(title=f"{result.output} ({result.backend})", title_justify="left")
    for col, just in (("texture", "left"), ("status", "left"), ("bytes", "right"),
                      ("bits/texel", "right"), ("PSNR dB", "right"), ("seconds", "right")):
        table.add_column(col, justify=just)
    for r in result.results:
        ok = r.status != "failed"
        table.add_row(r.name, r.status if ok else "[red]failed[/]",
                      f"{r.size_bytes:,}" if ok else "", f"{r.bits_per_texel:.3f}" if ok else "",
                      _fmt_db(r.psnr_db) if ok and r.psnr_db is not None else "",
                      f"{r.seconds:.1f}" if r.status == "baked" else "")
    out.print(table)
    for r in result.results:
        if r.status == "failed":
            out.print(f"[red]failed[/] {r.name}: {r.error}")
    baked = [r for r in result.results if r.status != "failed"]
    total = sum(r.size_bytes for r in baked)
    out.print(f"{len(result.results)} textures: {result.count('baked')} baked, "
              f"{result.count('cached')} unchanged, {result.count('failed')} failed; "
              f"{total:,} bytes written in all, {result.seconds:.1f} s")


def _check_device(device: str) -> str:
    """The device a bake will run on ("cpu" or "cuda"), checked before any work starts."""
    from .bake.render import pick_device  # imports torch

    return pick_device(device).type


def _map_file_suffix(asset: fmt.Asset, m: fmt.MapInfo) -> str:
    hdr = any(asset.channels[j].encoding == fmt.ENCODING_LOG2 for j in m.channel_range)
    return ".exr" if hdr else ".png"


def _encode_map(path: Path, img, hdr: bool) -> None:
    from .images import atomic_write_bytes, encode_png

    if hdr:
        from .hdr_io import write_hdr

        write_hdr(path, img)
    else:
        atomic_write_bytes(path, encode_png(img))


@app.command()
def decode(
    asset_path: Path = typer.Argument(..., metavar="ASSET", help="A texgs asset."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (.png; .exr or .tif "
                                "for HDR maps) or, for a material set, a folder that gets "
                                "one file per map."),
    lod: Optional[int] = typer.Option(None, help="Decode only the first N LOD chunks."),
    size: Optional[str] = typer.Option(None, help="Output size WIDTHxHEIGHT (default: the "
                                       "map's own size; single-map assets or --map)."),
    map_name: Optional[str] = typer.Option(None, "--map", help="Decode only this map of a "
                                           "set (e.g. normal) to the file -o."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    backend: str = typer.Option("numpy", "--backend", help="Decoder: numpy (the reference) "
                                "or cuda (NVIDIA GPU, needs pycuda: pip install "
                                "'texgs[cuda]')."),
) -> None:
    """Decode an asset with the NumPy reference decoder (or the CUDA decoder, --backend
    cuda): every map in its own encoding and size (a set's normal map gets its z rebuilt,
    HDR maps are written as float images)."""
    from .decode import decode_texture, finish_map

    if backend not in ("numpy", "cuda"):
        raise OptionError(f"--backend {backend}: expected numpy or cuda")
    if backend == "cuda":
        from .cuda_decoder import CudaDecoder

        decode_texture = CudaDecoder().decode_texture  # noqa: F811 (same signature)
    wh = _parse_size(size)
    asset = fmt.read_asset_file(asset_path)
    if output.resolve() == asset_path.resolve():
        raise OptionError(f"-o {output}: output would overwrite the input asset")
    if lod is not None and not 1 <= lod <= len(asset.lod_counts):
        raise OptionError(f"--lod {lod}: {asset_path} has LODs 1..{len(asset.lod_counts)}")
    maps = asset.map_table()
    if map_name is not None:
        names = [m.name for m in maps]
        if map_name not in names:
            raise OptionError(f"--map {map_name}: {asset_path} holds {', '.join(names)}")
        chosen = [maps[names.index(map_name)]]
    else:
        chosen = maps
    single = len(chosen) == 1
    if not single and wh is not None:
        raise OptionError("--size applies to one map: add --map NAME")
    jobs: list[tuple[fmt.MapInfo, Path]] = []
    if single:
        m = chosen[0]
        want = _map_file_suffix(asset, m)
        allowed = (".exr", ".tif", ".tiff") if want == ".exr" else (".png",)
        if output.suffix.lower() not in allowed:
            raise OptionError(f"-o {output}: the {m.name} map is written as "
                              f"{' or '.join(allowed)}")
        jobs.append((m, output))
    else:
        if (output.exists() and not output.is_dir()) or output.suffix.lower() in (
                ".png", ".exr", ".tif", ".tiff", ".jpg", ".tga", ".webp"):
            raise OptionError(f"-o {output}: a set of {len(chosen)} maps needs a folder "
                              "(or choose one with --map)")
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # e.g. a parent is a regular file, or no permission
            raise OutputError(f"{output}: cannot create the folder ({e.strerror})") from None
        for m in chosen:
            jobs.append((m, output / f"{asset_path.stem}_{m.name}{_map_file_suffix(asset, m)}"))
    rows = []
    for m, path in jobs:
        stats: list = []
        osize = wh if wh is not None else (m.width, m.height)
        full = decode_texture(asset, lod=lod, size=osize, stats_out=stats, prune=True)
        img = finish_map(m, asset, full[..., m.first_channel:m.first_channel + m.channel_count])
        _encode_map(path, img, path.suffix.lower() != ".png")
        rows.append({"map": m.name, "output": str(path), "width": img.shape[1],
                     "height": img.shape[0], "channels": img.shape[2],
                     "mean_candidates_per_texel": stats[0].mean_candidates,
                     "p99_candidates_per_texel": stats[0].p99_candidates})
    res = {"asset": str(asset_path), "lod": lod or len(asset.lod_counts),
           "gaussians": asset.prefix_count(lod), "maps": rows}
    if single:  # the flat fields of a one-map decode
        res.update({k: rows[0][k] for k in ("output", "width", "height",
                                            "mean_candidates_per_texel",
                                            "p99_candidates_per_texel")})
    if as_json:
        _emit_json(res)
        return
    for r in rows:
        out.print(f"{r['output']}: {r['map']} {r['width']}x{r['height']}, LOD {res['lod']}/"
                  f"{len(asset.lod_counts)}, {res['gaussians']:,} Gaussians, "
                  f"{r['mean_candidates_per_texel']:.1f} candidates per texel on average")


def asset_summary(asset: fmt.Asset, size_bytes: int) -> dict:
    """The header and LOD table as a JSON-ready dict (the `info --json` schema);
    ``morton_order``: whether every chunk's records are in Morton order (docs/FORMAT.md
    "Record order"; assets baked before are not, and `pack --reorder` puts them in it)."""
    from .record_order import chunks_in_morton_order

    texels = asset.width * asset.height
    lods = []
    cum = 0
    for i, e in enumerate(asset.lods):
        cum += e.count
        prefix_bytes = e.offset + e.length
        lods.append({"level": i + 1, "gaussians": e.count, "cumulative_gaussians": cum,
                     "offset": e.offset, "length": e.length, "crc32": f"{e.crc32:08x}",
                     "prefix_bits_per_texel": prefix_bytes * 8 / texels})
    return {
        "version": fmt.VERSION, "width": asset.width, "height": asset.height,
        "maps": [{"map": m.name, "width": m.width, "height": m.height,
                  "channels": list(m.channel_range),
                  "stored_channels": [j for j in m.channel_range if asset.channels[j].bits],
                  "normal_z_rebuilt": bool(m.flags & fmt.MAP_FLAG_NORMAL_Z),
                  "straight_alpha": bool(m.flags & fmt.MAP_FLAG_ALPHA)}
                 for m in asset.map_table()],
        "channels": [{"map": fmt.MAP_NAMES[c.map_kind], "component": c.component,
                      "encoding": fmt.ENCODING_NAMES[c.encoding], "bits": c.bits,
                      "range": [c.lo, c.hi], "fallback": c.fallback} for c in asset.channels],
        "gaussians": asset.gaussian_count, "top_k": asset.top_k, "tile_size": asset.tile_size,
        "address": [fmt.ADDRESS_NAMES[asset.address_x], fmt.ADDRESS_NAMES[asset.address_y]],
        "record_bits": asset.layout.record_bits,
        "field_bits": {"position": asset.layout.pos_bits, "scale": asset.layout.scale_bits,
                       "rotation": asset.layout.rot_bits,
                       "color": list(asset.layout.color_bits)},
        "log2_scale_range": [asset.log2_scale_min, asset.log2_scale_max],
        "header_bytes": asset.header_size(), "size_bytes": size_bytes,
        "bits_per_texel": size_bytes * 8 / texels, "lods": lods,
        "morton_order": chunks_in_morton_order(asset),
    }


@app.command()
def info(
    asset_path: Path = typer.Argument(..., metavar="ASSET", help="A texgs asset."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    gpu: bool = typer.Option(False, "--gpu", help="Also build the runtime's GPU buffers "
                             "(docs/RUNTIME.md) and report what an engine keeps: records "
                             "and tile index, at the default index tile and at 16."),
) -> None:
    """Show an asset's header, channels and LOD table."""
    from rich.table import Table

    asset = fmt.read_asset_file(asset_path)
    s = asset_summary(asset, asset_path.stat().st_size)
    if gpu:
        s["gpu"] = gpu_memory_summary(asset)
    if as_json:
        _emit_json(s)
        return
    out.print(f"[bold]{asset_path}[/]: texgs v{s['version']}, {s['width']}x{s['height']}, "
              f"{len(s['channels'])} channels, {s['gaussians']:,} Gaussians, "
              f"{s['size_bytes']:,} bytes = {s['bits_per_texel']:.3f} bits/texel")
    out.print(f"  K={s['top_k']}, tile {s['tile_size']}, address {s['address'][0]}/"
              f"{s['address'][1]}, {s['record_bits']} bits per Gaussian "
              f"(position {s['field_bits']['position']}, scale {s['field_bits']['scale']}, "
              f"rotation {s['field_bits']['rotation']}, colour {s['field_bits']['color']}), "
              + ("records in Morton order" if s["morton_order"] else
                 "records not in Morton order (`texgs pack --reorder` packs them smaller)"))
    for m in s["maps"]:
        notes = [n for n, on in (("z rebuilt from x, y", m["normal_z_rebuilt"]),
                                 ("straight alpha", m["straight_alpha"])) if on]
        out.print(f"  map {m['map']}: {m['width']}x{m['height']}, channels "
                  f"{m['channels'][0]}..{m['channels'][-1]}"
                  + (f" ({', '.join(notes)})" if notes else ""))
    for i, c in enumerate(s["channels"]):
        how = (f"{c['bits']} bits over [{c['range'][0]:.4g}, {c['range'][1]:.4g}]" if c["bits"]
               else f"constant {c['range'][0]:.4g} (not stored)")
        out.print(f"  channel {i}: {c['map']}[{c['component']}] {c['encoding']}, {how}")
    t = Table("LOD", "Gaussians", "cumulative", "offset", "bytes", "CRC32", "prefix bits/texel")
    for e in s["lods"]:
        t.add_row(str(e["level"]), f"{e['gaussians']:,}", f"{e['cumulative_gaussians']:,}",
                  str(e["offset"]), f"{e['length']:,}", e["crc32"],
                  f"{e['prefix_bits_per_texel']:.3f}")
    out.print(t)
    for g in s.get("gpu", []):
        mark = " (the runtime's choice)" if g.get("chosen") else ""
        out.print(f"  GPU, {g['index_tile']}-texel index{mark}: {g['gpu_bits_per_texel']:.3f} "
                  f"bits/texel ({g['record_bytes']:,} bytes of records + "
                  f"{g['index_bytes']:,} of index, +{100 * g['index_overhead']:.0f} %), "
                  f"{g['mean_candidates_per_texel']:.1f} candidates per texel sampled at random")


def gpu_memory_summary(asset: fmt.Asset) -> list[dict]:
    """What an engine keeps on the GPU for the whole asset (texgs.runtime.build_gpu_buffers:
    meta, records, pruned Rice-coded tile index), at the index tile the runtime chooses
    (``chosen``: 32 or 64 texels, texgs.runtime.choose_index_tile) and at 32 and 16 texels,
    with the candidates a randomly sampled texel walks."""
    from .runtime import DEFAULT_INDEX_TILE, build_gpu_buffers, choose_index_tile, dequantize

    w, h = asset.width, asset.height
    chosen = choose_index_tile(dequantize(asset))
    res = []
    for tile in sorted({chosen, DEFAULT_INDEX_TILE, 16}, reverse=True):
        b = build_gpu_buffers(asset, tile=tile)
        per_texel = b.index.counts_per_texel(w, h).mean()
        texels = w * h
        res.append({"index_tile": tile, "chosen": tile == chosen, "gpu_bytes": b.total_bytes,
                    "record_bytes": b.record_bytes, "index_bytes": b.index_bytes,
                    "gpu_bits_per_texel": b.total_bytes * 8 / texels,
                    "index_overhead": b.index_bytes / b.record_bytes,
                    "mean_candidates_per_texel": float(per_texel)})
    return res


def _read_input_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise errors.AssetFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise errors.AssetFormatError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise errors.AssetFormatError(f"{path}: cannot read ({e.strerror})") from None


def _check_output(src: Path, output: Path) -> None:
    if output.resolve() == src.resolve():
        raise OptionError(f"-o {output}: output would overwrite the input")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{output}: folder {parent} does not exist or is not a folder")


@app.command()
def pack(
    asset_path: Path = typer.Argument(..., metavar="IN.tgs", help="A texgs asset."),
    output: Path = typer.Option(..., "-o", "--output", help="Output download container "
                                "(.tgsz)."),
    level: int = typer.Option(19, help="zstd level 1..22 (packing speed only: unpacking is "
                              "as fast at any level)."),
    reorder: bool = typer.Option(False, "--reorder", help="First put each LOD chunk's "
                                 "records in Morton order, as the baker writes them (for "
                                 "assets baked before it did: the same Gaussians, a smaller "
                                 "container, which then unpacks to the reordered asset)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Pack an asset into the download container: per-LOD packets of zstd-coded byte planes
    that unpack to the exact asset bytes (docs/FORMAT.md "Download container")."""
    from . import format as fmt
    from .package import pack_download, read_download_header
    from .record_order import chunks_in_morton_order, in_morton_order

    if not 1 <= level <= 22:
        raise OptionError(f"--level {level}: must be 1..22")
    _check_output(asset_path, output)
    data = _read_input_bytes(asset_path)
    reordered = False
    if reorder:
        asset = fmt.read_asset(data, str(asset_path))
        if not chunks_in_morton_order(asset):
            data = fmt.write_asset(in_morton_order(asset))
            reordered = True
    packed = pack_download(data, level, str(asset_path))
    from .images import atomic_write_bytes

    atomic_write_bytes(output, packed)
    info = read_download_header(packed, str(output))
    texels = info.asset.width * info.asset.height
    methods = [p.method for p in info.packets]
    res = {"input": str(asset_path), "output": str(output), "asset_bytes": len(data),
           "download_bytes": len(packed), "ratio": len(packed) / len(data),
           "gpu_bits_per_texel": len(data) * 8 / texels,
           "download_bits_per_texel": len(packed) * 8 / texels, "reordered": reordered,
           "packets": [{"level": i + 1, "method": m, "bytes": p.length,
                        "chunk_bytes": e.length,
                        "prefix_download_bytes": p.offset + p.length}
                       for i, (p, e, m) in enumerate(zip(
                           info.packets, info.asset.lods,
                           (_method_name(m) for m in methods)))]}
    if as_json:
        _emit_json(res)
        return
    coded = sum(m != 0 for m in methods)
    out.print(f"{output}: {len(packed):,} bytes from {len(data):,} ({100 * res['ratio']:.1f} %), "
              f"GPU {res['gpu_bits_per_texel']:.3f} bits/texel, download "
              f"{res['download_bits_per_texel']:.3f} bits/texel, {len(methods)} packets "
              f"({coded} zstd, {len(methods) - coded} stored)"
              + (", records put in Morton order" if reordered else ""), highlight=False)


def _method_name(m: int) -> str:
    from .package import METHOD_NAMES

    return METHOD_NAMES[m]


@app.command()
def unpack(
    src: Path = typer.Argument(..., metavar="IN.tgsz", help="A download container."),
    output: Path = typer.Option(..., "-o", "--output", help="Output asset (.tgs)."),
    lod: Optional[int] = typer.Option(None, help="Only the first K LOD chunks: a valid "
                                      "coarser asset (the input may end after packet K)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Unpack a download container to the runtime asset (exactly the bytes that were packed,
    or with --lod K the asset of the first K LOD chunks)."""
    from .package import read_download_header, unpack_download

    _check_output(src, output)
    data = _read_input_bytes(src)
    info = read_download_header(data, str(src), partial=lod is not None)
    nlod = len(info.packets)
    if lod is not None and not 1 <= lod <= nlod:
        raise OptionError(f"--lod {lod}: {src} has LODs 1..{nlod}")
    tgs = unpack_download(data, str(src), lod)
    from .images import atomic_write_bytes

    atomic_write_bytes(output, tgs)
    k = nlod if lod is None else lod
    used = info.packets[k - 1].offset + info.packets[k - 1].length
    texels = info.asset.width * info.asset.height
    res = {"input": str(src), "output": str(output), "lod": k, "lod_count": nlod,
           "gaussians": sum(info.asset.lod_counts[:k]), "asset_bytes": len(tgs),
           "download_bytes": used, "gpu_bits_per_texel": len(tgs) * 8 / texels,
           "download_bits_per_texel": used * 8 / texels}
    if as_json:
        _emit_json(res)
        return
    out.print(f"{output}: {len(tgs):,} bytes, LOD {k}/{nlod}, {res['gaussians']:,} Gaussians, "
              f"GPU {res['gpu_bits_per_texel']:.3f} bits/texel, from {used:,} download bytes "
              f"({res['download_bits_per_texel']:.3f} bits/texel)", highlight=False)


@app.command("gltf")
def gltf_cmd(
    src: Path = typer.Argument(..., metavar="IN", help="A glTF 2.0 scene (.gltf with external "
                               "or embedded buffers and images, or .glb)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output binary glTF (.glb)."),
    bpp: Optional[float] = typer.Option(None, help="Bits per texel of each set's asset over "
                                        "its largest map's texels (default 1.0 when "
                                        "--gaussians is not given)."),
    gaussians: Optional[int] = typer.Option(None, help="Gaussians per set instead of --bpp."),
    quality: str = typer.Option(BakeConfig.quality, help="Speed / quality preset: fast, "
                                "balanced (default) or max (docs/BAKING.md \"Quality presets\")."),
    steps: Optional[int] = typer.Option(None, help="Optimization steps per set (default: from --quality)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same bytes."),
    device: str = typer.Option("auto", help="auto (default: the GPU when PyTorch sees a CUDA "
                              "GPU, else the CPU), cpu or cuda."),
    top_k: int = typer.Option(BakeConfig.top_k, "--top-k", help="Gaussians blended per texel (K)."),
    lod_levels: int = typer.Option(BakeConfig.lod_levels, "--lod-levels", help="LOD chunks (refinement rounds)."),
    loss: str = typer.Option(BakeConfig.loss, help="mse (default, faster) or l1-ssim."),
    fallback: str = typer.Option("original", help="What each baked texture keeps as its "
                                 "glTF source: original (the source image) or decoded (a PNG "
                                 "of the decoded map)."),
    fallback_size: Optional[int] = typer.Option(None, "--fallback-size", help="Largest side "
                                                "of a decoded fallback PNG (default: the "
                                                "map's size)."),
    no_fallback: bool = typer.Option(False, "--no-fallback", help="No fallback image: the "
                                     "extension becomes required."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Bake every material texture set of a glTF scene into a .glb whose textures carry the
    TEXGS_texture_gaussian extension (docs/GLTF.md); shared sets are baked once."""
    if bpp is not None and gaussians is not None:
        raise OptionError("--bpp and --gaussians are exclusive: give one")
    if fallback not in ("original", "decoded"):
        raise OptionError(f"--fallback {fallback!r}: expected original or decoded "
                          "(or --no-fallback)")
    if no_fallback and fallback != "original":
        raise OptionError("--no-fallback and --fallback are exclusive: give one")
    if fallback_size is not None and fallback != "decoded":
        raise OptionError("--fallback-size applies to --fallback decoded")
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise OptionError(f"--threads {threads}: must be 1..{MAX_THREADS}")
    if not -2**63 <= seed < 2**64:
        raise OptionError(f"--seed {seed}: must fit in 64 bits")
    cfg = BakeConfig(bpp=bpp if gaussians is None else None, gaussians=gaussians, steps=steps,
                     quality=quality,
                     seed=seed, top_k=top_k, lod_levels=lod_levels, device=device, loss=loss,
                     threads=threads)
    if cfg.bpp is None and cfg.gaussians is None:
        cfg.bpp = 1.0
    cfg.validate()
    _check_device(device)
    from .gltf import bake_gltf

    policy = "none" if no_fallback else fallback
    if quiet or as_json:
        result = bake_gltf(src, output, cfg, fallback=policy, fallback_size=fallback_size)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)
        with Progress(TextColumn("[bold]set {task.fields[index]}[/] {task.description}"),
                      BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            tasks: dict[int, int] = {}

            def on_progress(p) -> None:
                if p.set_index not in tasks:
                    tasks[p.set_index] = bar.add_task(
                        p.label, total=steps, info="",
                        index=f"{p.set_index + 1}/{p.set_count}")
                if p.bake is not None:
                    bar.update(tasks[p.set_index], completed=p.bake.step,
                               info=f"{p.bake.gaussians} Gaussians  PSNR "
                                    f"{_fmt_db(p.bake.psnr)} dB")

            result = bake_gltf(src, output, cfg, fallback=policy, fallback_size=fallback_size,
                               progress=on_progress)
    summary = {"input": str(src), **result.as_dict()}
    if as_json:
        _emit_json(summary)
        return
    for note in result.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    for s in result.sets:
        maps = ", ".join(f"{m.name} {_fmt_db(m.psnr_db)} dB" for m in s.maps)
        out.print(f"  {s.label}: {s.size_bytes:,} bytes, {s.bits_per_texel:.3f} bits/texel, "
                  f"wrap {s.wrap[0]}/{s.wrap[1]}; {maps}", highlight=False)
    out.print(f"{output}: {len(result.sets)} sets baked for {result.materials} materials, "
              f"{result.output_bytes:,} bytes ({result.asset_bytes:,} in assets, "
              f"{result.fallback_bytes:,} in fallback images), {result.bits_per_texel:.3f} "
              f"bits/texel, mean map PSNR {_fmt_db(result.mean_psnr_db)} dB",
              highlight=False)


@app.command("eval")
def eval_report(
    paths: list[Path] = typer.Argument(..., metavar="PATHS...", help="Textures to evaluate "
                                       "(8- or 16-bit images; colour channels are compared)."),
    output: Path = typer.Option(..., "-o", "--output", help="Report folder (created): "
                                "index.html, results.json, results.md, plots/, crops/."),
    bpp: str = typer.Option("0.25,0.5,1,2,4", help="Comma-separated rates in bits per texel "
                            "for texgs and the download codecs."),
    steps: Optional[int] = typer.Option(None, help="texgs optimization steps per bake (default 1500, from the default preset)."),
    codecs: Optional[str] = typer.Option(None, help="Comma-separated subset of texgs, "
                                         "astc4x4..astc12x12, bc1, bc7, jpeg, webp, avif, "
                                         "jxl (default: all)."),
    device: str = typer.Option("auto", help="Where texgs bakes: auto (a CUDA GPU when "
                               "PyTorch sees one), cpu or cuda."),
    bake_cache: Optional[Path] = typer.Option(None, "--bake-cache", help="Folder of texgs "
                                              "bakes keyed by input and settings: reused when "
                                              "found, stored when made."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Rate-distortion report: texgs against ASTC, BC1/BC7 and JPEG/WebP/AVIF/JPEG XL on the
    same textures, with BD-rates, plots and an HTML page of crops and error maps."""
    from .eval.report import ALL_CODECS, EvalConfig, parse_rates, run_report

    rates = parse_rates(bpp)
    chosen = ALL_CODECS if codecs is None else tuple(c.strip() for c in codecs.split(","))
    cfg = EvalConfig(rates=rates, codecs=chosen, device=device,
                     bake_cache=str(bake_cache) if bake_cache is not None else None,
                     **({"steps": steps} if steps is not None else {}))
    cfg.validate()
    if bake_cache is not None and bake_cache.exists() and not bake_cache.is_dir():
        raise OptionError(f"--bake-cache {bake_cache}: not a folder")
    if device == "cuda" and "texgs" in chosen:
        _check_device(device)
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file")
        if p.is_dir():
            raise InputError(f"{p}: is a directory, not an image")
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output}: exists and is not a folder")
    if quiet or as_json:
        report = run_report(list(paths), output, cfg)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        with Progress(TextColumn("[bold]evaluating[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.description}"), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("", total=cfg.units_per_texture() * len(paths))

            def on_progress(p) -> None:
                bar.update(task, completed=p.done, total=p.total, description=p.label)

            report = run_report(list(paths), output, cfg, on_progress)
    summary = {"output": str(output), "index": str(output / "index.html"),
               "results_json": str(output / "results.json"),
               "textures": [t.name for t in report.textures],
               "measurements": sum(len(t.measurements) for t in report.textures),
               "missing": report.missing, "bd_rate_mean_percent": report.bd_rate_mean,
               "seconds": report.seconds}
    if as_json:
        _emit_json(summary)
        return
    bd = ", ".join(f"{a} {v['mean_percent']:+.1f} %" for a, v in report.bd_rate_mean.items()
                   if v["mean_percent"] is not None)
    bd = f"vs {bd}" if bd else "n/a (no PSNR overlap)"
    miss = f"; missing: {', '.join(sorted(report.missing))}" if report.missing else ""
    out.print(f"{output / 'index.html'}: {len(report.textures)} texture(s), "
              f"{summary['measurements']} measurements, texgs BD-rate {bd}{miss}, "
              f"{report.seconds:.1f} s")


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version.")) -> None:
    if version:
        out.print(f"texgs {__version__}")
        raise typer.Exit(0)


def _interrupted(argv: list[str] | None) -> int:
    """Ctrl-C: every output is written to a temporary file and renamed, and the temporary
    file is removed as the interrupt unwinds, so nothing partial is left. From the command
    line, leave at once: a second KeyboardInterrupt raised later from a pending signal, or
    PyTorch's and OpenMP's thread pools at interpreter shutdown, could otherwise kill the
    process by signal or hang it after the message."""
    from .__main__ import INTERRUPTED_LINE

    err.print(INTERRUPTED_LINE.decode().strip())
    if argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to exit codes, never show a traceback for them."""
    if argv is None:  # a program, not a library call: Ctrl-C unwinds as KeyboardInterrupt
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="texgs")
        if rv == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into this return value
            return _interrupted(argv)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except typer.Exit as e:
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(argv)
    except typer.TyperException as e:  # Typer's (vendored Click) usage errors
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        if type(e).__name__ == "NoArgsIsHelpError":
            # bare `texgs`: the help went to stdout; the message itself is empty
            msg = "no command given: use bake, bake-dir, gltf, decode, info, pack, unpack or eval (see texgs --help)"
        err.print(f"texgs: error: {msg}", markup=False, highlight=False)
        return EXIT_USAGE
    except TexgsError as e:
        err.print(f"texgs: error: {e}", markup=False, highlight=False)
        return errors.exit_code(e)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
