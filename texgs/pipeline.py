"""The Python API for build systems: bake a file, a material set, a folder or a glTF with the
options of the CLI, and get result objects back (paths, sizes, metrics).

::

    from texgs.pipeline import BakeConfig, bake_texture, bake_material, bake_folder

    r = bake_texture("rock.png", "build/rock.tgs", BakeConfig(bpp=1.0))
    print(r.size_bytes, r.bits_per_texel, r.psnr_db)

    s = bake_material({"basecolor": "brick.png", "normal": "brick_n.png"}, "build/brick.tgs",
                      BakeConfig(bpp=2.0, repeat_x=True, repeat_y=True))
    print([(m["map"], m["psnr_db"]) for m in s.maps])

    batch = bake_folder("art/textures", "build/textures", BakeConfig(bpp=1.0))
    if not batch.ok:
        for r in batch.results:
            if r.status == "failed":
                print(r.name, r.error)

Every function raises :class:`texgs.errors.TexgsError` subclasses for bad options or inputs
(``bake_folder`` reports a failing texture in its result and goes on). Importing this module
does not import PyTorch; baking does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from . import format as fmt
from .bake.config import BakeConfig, Progress
from .batch import (BatchEvent, BatchResult, TextureResult, bake_folder, bake_summary,
                    fill_result, plan_folder, with_wrap)
from .errors import InputError, OptionError
from .material import WRAP_MODES, MapSource, discover_maps, kind_from_name, read_manifest

__all__ = ["BakeConfig", "BatchEvent", "BatchResult", "Progress", "TextureResult",
           "bake_folder", "bake_gltf", "bake_material", "bake_texture", "plan_folder"]


def _result(name: str, dst: Path, sources: list[MapSource], bake) -> TextureResult:
    r = TextureResult(name=name, output=str(dst), inputs=[s.path for s in sources],
                      status="baked", seconds=bake.seconds, attempts=1)
    return fill_result(r, bake_summary(bake))


def _bake(sources: list[MapSource], dst: str | Path, cfg: BakeConfig | None,
          progress: Callable[[Progress], None] | None) -> TextureResult:
    from .bake import bake_maps

    cfg = cfg or BakeConfig()
    dst = Path(dst)
    bake = bake_maps(sources, dst, cfg, progress)
    return _result(dst.stem, dst, sources, bake)


def bake_texture(src: str | Path, dst: str | Path, cfg: BakeConfig | None = None, *,
                 kind: str = "basecolor",
                 progress: Callable[[Progress], None] | None = None) -> TextureResult:
    """Bake one image ``src`` (a map of ``kind``: basecolor, normal, roughness...) into the
    asset ``dst`` (written atomically). ``cfg``: default ``BakeConfig()`` (1 bit per texel)."""
    if not Path(src).is_file():
        raise InputError(f"{src}: no such file")
    return _bake([MapSource(kind_from_name(kind, "kind"), str(src))], dst, cfg, progress)


def bake_material(maps: str | Path | Mapping[str, str | Path], dst: str | Path,
                  cfg: BakeConfig | None = None, *, weights: Mapping[str, float] | None = None,
                  progress: Callable[[Progress], None] | None = None) -> TextureResult:
    """Bake a material set into one asset ``dst``.

    maps: a folder (maps found by file name, like ``texgs bake FOLDER``), a ``.toml``
    manifest (its ``wrap`` applies unless ``cfg`` repeats), or a mapping kind -> path
    (``{"basecolor": "brick.png", "normal": "brick_n.png"}``). weights: loss weight per kind
    for the kinds given (the others: ``material.DEFAULT_WEIGHTS``, 2 for a normal map, 1
    for every other map).
    """
    if isinstance(maps, Mapping):
        sources = [MapSource(kind_from_name(k, "maps"), str(p)) for k, p in maps.items()]
    else:
        p = Path(maps)
        if p.is_dir():
            sources = discover_maps(p)
        elif p.suffix.lower() == ".toml":
            sources, extra = read_manifest(p)
            cfg = cfg or BakeConfig()
            wrap = extra.get("wrap")
            if wrap is not None and not (cfg.repeat_x or cfg.repeat_y):
                if wrap not in WRAP_MODES:
                    raise InputError(f"{p}: wrap {wrap!r}: expected clamp, repeat, repeat-x "
                                     "or repeat-y")
                cfg = with_wrap(cfg, wrap)
        else:
            raise InputError(f"{p}: expected a folder, a .toml manifest or a mapping of maps")
    for s in sources:
        if not Path(s.path).is_file():
            raise InputError(f"{s.path}: no such file")
    for k, w in (weights or {}).items():
        kind = kind_from_name(k, "weights")
        hit = [s for s in sources if s.kind == kind]
        if not hit:
            raise OptionError(f"weights: the set has no {fmt.MAP_NAMES[kind]} map")
        for s in hit:
            s.weight = float(w)
    return _bake(sources, dst, cfg, progress)


def bake_gltf(src: str | Path, dst: str | Path, cfg: BakeConfig | None = None, **options):
    """Bake every material texture set of a glTF asset into a .glb (see texgs.gltf and
    docs/GLTF.md); ``options`` are those of :func:`texgs.gltf.bake_gltf`."""
    from .gltf import bake_gltf as _bake_gltf

    return _bake_gltf(src, dst, cfg or BakeConfig(), **options)

