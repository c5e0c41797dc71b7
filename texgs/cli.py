"""The ``texgs`` command line (Typer + rich). Commands only: the work lives in the library.

Exit codes (docs/CLI.md): 0 success, 1 bad arguments or option combination, 2 input or
output file problem, 3 invalid or corrupt asset, 5 unsupported, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__
from . import format as fmt
from .bake.config import BakeConfig
from .errors import (AssetFormatError, InputError, OptionError, OutputError, TexgsError,
                     UnsupportedError)

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_IO = 2
EXIT_INVALID_ASSET = 3
EXIT_UNSUPPORTED = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    OptionError: EXIT_USAGE,
    InputError: EXIT_IO,
    OutputError: EXIT_IO,
    AssetFormatError: EXIT_INVALID_ASSET,
    UnsupportedError: EXIT_UNSUPPORTED,
}

app = typer.Typer(add_completion=False, no_args_is_help=True,
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


def _fmt_db(v: float) -> str:
    return "inf" if v == float("inf") else f"{v:.2f}"


@app.command()
def bake(
    src: Path = typer.Argument(..., help="Input texture (PNG, JPEG, TGA, WebP...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output asset (.tgs)."),
    bpp: Optional[float] = typer.Option(None, help="Bits per texel of the whole file "
                                        "(default 1.0 when --gaussians is not given)."),
    gaussians: Optional[int] = typer.Option(None, help="Number of Gaussians instead of --bpp."),
    steps: int = typer.Option(BakeConfig.steps, help="Optimization steps."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same bytes."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    top_k: int = typer.Option(BakeConfig.top_k, "--top-k", help="Gaussians blended per texel (K)."),
    lod_levels: int = typer.Option(BakeConfig.lod_levels, "--lod-levels", help="LOD chunks (refinement rounds)."),
    loss: str = typer.Option(BakeConfig.loss, help="mse (default, faster) or l1-ssim (the Image-GS loss)."),
    wrap: str = typer.Option("clamp", help="Address mode: clamp or repeat (tiling textures)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit Gaussians to a texture and write an LOD-chunked asset."""
    if bpp is not None and gaussians is not None:
        raise OptionError("--bpp and --gaussians are exclusive: give one")
    if wrap not in ("clamp", "repeat"):
        raise OptionError(f"--wrap {wrap!r}: expected clamp or repeat")
    if threads is not None and threads < 1:
        raise OptionError(f"--threads {threads}: must be at least 1")
    from .bake import bake_file, render  # torch is imported only here

    cfg = BakeConfig(bpp=bpp if gaussians is None else None, gaussians=gaussians, steps=steps,
                     seed=seed, top_k=top_k, lod_levels=lod_levels, device=device, loss=loss,
                     repeat_x=wrap == "repeat", repeat_y=wrap == "repeat", threads=threads)
    if cfg.bpp is None and cfg.gaussians is None:
        cfg.bpp = 1.0
    cfg.validate()
    _check_device(device)
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if render.backend_name() != "cpu-kernel" and not quiet and not as_json:
        from .bake import render_cpu
        err.print(f"[yellow]note:[/] compiled CPU kernel unavailable ({render_cpu.status()}); "
                  "using the slower PyTorch renderer")
    if quiet or as_json:
        result = bake_file(src, output, cfg)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        with Progress(TextColumn("[bold]baking[/] {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task(src.name, total=steps, info="")

            def on_progress(p):
                bar.update(task, completed=p.step,
                           info=f"{p.gaussians} Gaussians  PSNR {_fmt_db(p.psnr)} dB")

            result = bake_file(src, output, cfg, on_progress)
    summary = {
        "input": str(src), "output": str(output), "width": result.width,
        "height": result.height, "channels": result.channels, "size_bytes": result.size_bytes,
        "bits_per_texel": result.bits_per_texel, "gaussians": result.gaussians,
        "lod_counts": result.lod_counts, "psnr_db": result.psnr,
        "psnr_float_db": result.psnr_float, "lod_psnr_db": result.lod_psnr,
        "seconds": result.seconds, "renderer": render.backend_name(),
    }
    if as_json:
        _emit_json(summary)
        return
    out.print(f"{output}: {result.size_bytes:,} bytes, {result.bits_per_texel:.3f} bits/texel, "
              f"{result.gaussians:,} Gaussians in {len(result.lod_counts)} LODs, "
              f"PSNR {_fmt_db(result.psnr)} dB (float {_fmt_db(result.psnr_float)} dB), "
              f"{result.seconds:.1f} s")


def _check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UnsupportedError("--device cuda: no CUDA GPU is available to PyTorch "
                                   "(use --device cpu or auto)")
        raise UnsupportedError("--device cuda: GPU baking is not implemented yet; "
                               "use --device cpu")


@app.command()
def decode(
    asset_path: Path = typer.Argument(..., metavar="ASSET", help="A texgs asset."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (.png)."),
    lod: Optional[int] = typer.Option(None, help="Decode only the first N LOD chunks."),
    size: Optional[str] = typer.Option(None, help="Output size WIDTHxHEIGHT (default: native)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Decode an asset to a PNG with the NumPy reference decoder."""
    from .decode import decode_texture
    from .images import atomic_write_bytes, encode_png

    wh = _parse_size(size)
    if output.suffix.lower() != ".png":
        raise OptionError(f"-o {output}: only .png output is supported")
    asset = fmt.read_asset_file(asset_path)
    if lod is not None and not 1 <= lod <= len(asset.lod_counts):
        raise OptionError(f"--lod {lod}: {asset_path} has LODs 1..{len(asset.lod_counts)}")
    if asset.channel_count > 4:
        raise UnsupportedError(f"{asset_path}: {asset.channel_count} channels do not fit one PNG")
    stats: list = []
    img = decode_texture(asset, lod=lod, size=wh, stats_out=stats)
    atomic_write_bytes(output, encode_png(img))
    res = {"asset": str(asset_path), "output": str(output), "width": img.shape[1],
           "height": img.shape[0], "lod": lod or len(asset.lod_counts),
           "gaussians": asset.prefix_count(lod),
           "mean_candidates_per_texel": stats[0].mean_candidates,
           "p99_candidates_per_texel": stats[0].p99_candidates}
    if as_json:
        _emit_json(res)
        return
    out.print(f"{output}: {img.shape[1]}x{img.shape[0]}, LOD {res['lod']}/"
              f"{len(asset.lod_counts)}, {res['gaussians']:,} Gaussians, "
              f"{stats[0].mean_candidates:.1f} candidates per texel on average")


def asset_summary(asset: fmt.Asset, size_bytes: int) -> dict:
    """The header and LOD table as a JSON-ready dict (the `info --json` schema)."""
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
    }


@app.command()
def info(
    asset_path: Path = typer.Argument(..., metavar="ASSET", help="A texgs asset."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Show an asset's header, channels and LOD table."""
    from rich.table import Table

    asset = fmt.read_asset_file(asset_path)
    s = asset_summary(asset, asset_path.stat().st_size)
    if as_json:
        _emit_json(s)
        return
    out.print(f"[bold]{asset_path}[/]: texgs v{s['version']}, {s['width']}x{s['height']}, "
              f"{len(s['channels'])} channels, {s['gaussians']:,} Gaussians, "
              f"{s['size_bytes']:,} bytes = {s['bits_per_texel']:.3f} bits/texel")
    out.print(f"  K={s['top_k']}, tile {s['tile_size']}, address {s['address'][0]}/"
              f"{s['address'][1]}, {s['record_bits']} bits per Gaussian "
              f"(position {s['field_bits']['position']}, scale {s['field_bits']['scale']}, "
              f"rotation {s['field_bits']['rotation']}, colour {s['field_bits']['color']})")
    for i, c in enumerate(s["channels"]):
        out.print(f"  channel {i}: {c['map']}[{c['component']}] {c['encoding']}, {c['bits']} "
                  f"bits over [{c['range'][0]:.4g}, {c['range'][1]:.4g}]")
    t = Table("LOD", "Gaussians", "cumulative", "offset", "bytes", "CRC32", "prefix bits/texel")
    for e in s["lods"]:
        t.add_row(str(e["level"]), f"{e['gaussians']:,}", f"{e['cumulative_gaussians']:,}",
                  str(e["offset"]), f"{e['length']:,}", e["crc32"],
                  f"{e['prefix_bits_per_texel']:.3f}")
    out.print(t)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version.")) -> None:
    if version:
        out.print(f"texgs {__version__}")
        raise typer.Exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to exit codes, never show a traceback for them."""
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="texgs")
        if rv == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into this return value
            err.print("texgs: interrupted; no output was written")
            return EXIT_INTERRUPTED
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except typer.Exit as e:
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("texgs: interrupted; no output was written")
        return EXIT_INTERRUPTED
    except typer.TyperException as e:  # Typer's (vendored Click) usage errors
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        err.print(f"texgs: error: {msg}", markup=False, highlight=False)
        return EXIT_USAGE
    except TexgsError as e:
        err.print(f"texgs: error: {e}", markup=False, highlight=False)
        for cls, code in EXIT_CODES.items():
            if isinstance(e, cls):
                return code
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
