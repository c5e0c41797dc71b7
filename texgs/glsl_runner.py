"""Run the GLSL runtime (engine_shaders/glsl) through OpenGL 4.3 with moderngl.

Used by the tests (on Mesa llvmpipe, no GPU needed) and by examples. moderngl is optional;
import this module only where it is installed. The shaders' ``#include "..."`` lines are
resolved here by plain text substitution, as an engine's shader preprocessor would.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np

from . import layout
from .format import Asset
from .runtime import GpuBuffers, build_gpu_buffers, decode_block, decode_buffers

SHADER_DIR = Path(__file__).resolve().parents[1] / "engine_shaders"
_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.M)


def glsl_source(name: str, defines: dict[str, object] | None = None,
                shader_dir: Path | None = None) -> str:
    """Source of engine_shaders/glsl/NAME (or ``shader_dir``/glsl/NAME: another tree of
    engine_shaders, as benchmarks against an earlier commit use) with includes resolved and
    ``defines`` inserted after the #version line."""
    path = (shader_dir or SHADER_DIR) / "glsl" / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: shader not found (texgs must run from its source tree)")
    seen: set[Path] = set()

    def expand(p: Path) -> str:
        p = p.resolve()
        if p in seen:
            return ""
        seen.add(p)
        text = p.read_text()
        return _INCLUDE.sub(lambda m: expand(p.parent / m.group(1)), text)

    src = expand(path)
    lines = src.split("\n")
    extra = [f"#define {k} {v}" for k, v in (defines or {}).items()]
    return "\n".join(lines[:1] + extra + lines[1:])


def create_context():
    """A headless OpenGL 4.3 context (EGL; Mesa llvmpipe on machines without a GPU)."""
    import moderngl

    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    return moderngl.create_standalone_context(backend="egl", require=430)


def _in_context(method):
    """Run a GlslDecoder method with its own context current: another moderngl context made
    in the same thread (samples/render_plane.py makes one) leaves that one current."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if self._in_ctx:  # nested call: already current (leaving a nested scope would
            return method(self, *args, **kwargs)  # not restore it)
        self._in_ctx = True
        try:
            with self.ctx:
                return method(self, *args, **kwargs)
        finally:
            self._in_ctx = False

    return run


class GlslDecoder:
    """Decode assets with the GLSL compute and fragment paths."""

    def __init__(self, ctx=None, max_k: int = 16, max_channels: int = 16,
                 defines: dict[str, object] | None = None, shader_dir: Path | None = None):
        """``defines``: more shader defines for every program (texgs_sample.glsl's
        TEXGS_REACH_TEST, texgs_decode.comp's TEXGS_STATS_REACHED); ``shader_dir``: another
        engine_shaders tree to build from (bench/bench_shader_decode.py --baseline)."""
        self._shader_dir = shader_dir
        self.ctx = ctx or create_context()
        self._in_ctx = False
        defines = {"TEXGS_MAX_K": max_k, "TEXGS_MAX_CHANNELS": max_channels,
                   **(defines or {})}
        self._defines = defines
        self._tile_programs: dict[tuple[int, int, int], object] = {}
        self.max_channels = max_channels
        src = self._source
        self.compute = self.ctx.compute_shader(src("texgs_decode.comp", defines))
        self.index_builder = self.ctx.compute_shader(src("texgs_build_index.comp", defines))
        self.program = self.ctx.program(
            vertex_shader=src("fullscreen.vert"),
            fragment_shader=src("texgs_decode.frag", {**defines, "TEXGS_MAX_CHANNELS": 16}))

    def _source(self, name: str, defines: dict[str, object] | None = None) -> str:
        return glsl_source(name, defines, self._shader_dir)

    def _bind(self, bufs: GpuBuffers) -> list:
        out = []
        for i, arr in enumerate((bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids)):
            data = arr.astype("<u4").tobytes() or b"\0\0\0\0"
            b = self.ctx.buffer(data)
            b.bind_to_storage_buffer(i)
            out.append(b)
        return out

    @_in_context
    def build_index(self, bufs: GpuBuffers) -> tuple[np.ndarray, np.ndarray]:
        """Build the tile index with texgs_build_index.comp from ``bufs.meta`` and
        ``bufs.records`` -> (tile_offsets, tile_ids as 32-bit ids)."""
        meta = bufs.meta.copy()
        meta[layout.META_ID_BITS] = 32
        n = int(meta[layout.META_COUNT])
        tiles = int(meta[layout.META_TILES_X]) * int(meta[layout.META_TILES_Y])
        b_meta = self.ctx.buffer(meta.astype("<u4").tobytes())
        b_rec = self.ctx.buffer(bufs.records.astype("<u4").tobytes())
        b_off = self.ctx.buffer(reserve=4 * (tiles + 1))
        b_off.clear()
        b_cur = self.ctx.buffer(reserve=4 * tiles)
        b_ids = self.ctx.buffer(reserve=4)
        for i, b in ((0, b_meta), (1, b_rec), (2, b_off), (3, b_ids), (6, b_cur)):
            b.bind_to_storage_buffer(i)
        groups = (n + 255) // 256
        self.index_builder["build_pass"] = 0
        self.index_builder.run(groups)
        self.index_builder["build_pass"] = 1
        self.index_builder.run(1)
        offsets = np.frombuffer(b_off.read(), np.uint32).copy()
        b_ids.release()
        b_ids = self.ctx.buffer(reserve=4 * max(1, int(offsets[-1])))
        b_ids.bind_to_storage_buffer(3)
        self.index_builder["build_pass"] = 2
        self.index_builder.run(groups)
        ids = np.frombuffer(b_ids.read(), np.uint32)[:int(offsets[-1])].copy()
        for b in (b_meta, b_rec, b_off, b_cur, b_ids):
            b.release()
        return offsets, ids

    @_in_context
    def decode_compute(self, asset: Asset, lod: int | None = None,
                       size: tuple[int, int] | None = None, tile: int | None = None,
                       id_bits: int | None = None, gpu_index: bool = False,
                       filtered: bool = False, finish=None,
                       coding: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> (float32 [H', W', C], candidates examined per texel uint32 [H', W']).
        ``gpu_index``: build the tile index with the GLSL index builder instead of NumPy.
        ``filtered``: prefiltered minification, as ``decode.decode_texture(filtered=True)``.
        ``finish``: the shader's map finish words (``layout.map_finish_words``); those
        channels come back finished (default: every channel as blended). ``coding``: the
        tile lists' coding (texgs.layout ``INDEX_CODING_*``; default the runtime's)."""
        bufs, (w, h), fvar = decode_buffers(asset, lod, size, tile, id_bits, filtered, coding)
        if gpu_index:
            bufs.use_index(*self.build_index(bufs))
        self.compute["out_size"] = (w, h)
        self.compute["filter_var"] = fvar
        return self._run_decode(self.compute, bufs, (w, h), asset.channel_count, finish,
                                ((w + 7) // 8, (h + 7) // 8))

    def _run_decode(self, prog, bufs: GpuBuffers, size: tuple[int, int], c: int, finish,
                    groups: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Bind ``bufs`` and the outputs (values at binding 4, candidates at 5), set
        ``finish``, run ``prog`` over ``groups`` and read back (values [H, W, C], candidates
        [H, W])."""
        w, h = size
        keep = self._bind(bufs)
        out = self.ctx.buffer(reserve=w * h * c * 4)
        out.bind_to_storage_buffer(4)
        stats = self.ctx.buffer(reserve=w * h * 4)
        stats.bind_to_storage_buffer(5)
        prog["finish"] = _finish_words(finish)
        prog.run(*groups)
        vals = np.frombuffer(out.read(), np.float32).reshape(h, w, c).copy()
        cand = np.frombuffer(stats.read(), np.uint32).reshape(h, w).copy()
        for b in keep + [out, stats]:
            b.release()
        return vals, cand

    @_in_context
    def decode_tiles(self, asset: Asset, lod: int | None = None, tile: int | None = None,
                     id_bits: int | None = None, finish=None, prune: bool = True,
                     batch: int = 64, color_cache: int = 512,
                     coding: int | None = None,
                     block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The tile-cooperative decode (texgs_decode_tiles.comp) at the asset's own size,
        unfiltered: one workgroup of ``block`` x ``block`` invocations (the shader's
        TEXGS_DECODE_TILE; default the smaller of 8 and the index tile, which it must divide)
        per block of texels, over an index of ``tile`` texels (default the runtime's).
        ``batch``, ``color_cache``: the shader's TEXGS_TILE_BATCH and TEXGS_COLOR_CACHE
        (small values exercise the batch boundary and the uncached blend); ``coding`` as in
        :meth:`decode_compute`. -> as :meth:`decode_compute`."""
        bufs = build_gpu_buffers(asset, lod, tile, id_bits, prune=prune, coding=coding)
        tile = int(bufs.meta[layout.META_TILE])
        block = decode_block(tile, block)
        if block is None:
            raise ValueError(f"the default decode block does not divide the index tile {tile}")
        key = (block, batch, color_cache)
        if key not in self._tile_programs:
            self._tile_programs[key] = self.ctx.compute_shader(self._source(
                "texgs_decode_tiles.comp", {**self._defines, "TEXGS_DECODE_TILE": block,
                                            "TEXGS_TILE_BATCH": batch,
                                            "TEXGS_COLOR_CACHE": color_cache}))
        w, h = asset.width, asset.height
        return self._run_decode(self._tile_programs[key], bufs, (w, h),
                                asset.channel_count, finish,
                                ((w + block - 1) // block, (h + block - 1) // block))

    @_in_context
    def decode_fragment(self, asset: Asset, lod: int | None = None,
                        size: tuple[int, int] | None = None, finish=None) -> np.ndarray:
        """Render a full-screen triangle; -> float32 [H', W', C] (row 0 at the top).
        ``finish``: as in :meth:`decode_compute`."""
        bufs = build_gpu_buffers(asset, lod)
        w, h = size or (asset.width, asset.height)
        c = asset.channel_count
        keep = self._bind(bufs)
        n_targets = (c + 3) // 4
        texs = [self.ctx.texture((w, h), 4, dtype="f4") for _ in range(4)]
        fbo = self.ctx.framebuffer(color_attachments=texs)
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0)
        self.program["out_size"] = (w, h)
        self.program["finish"] = _finish_words(finish)
        vao = self.ctx.vertex_array(self.program, [])
        vao.render(mode=self.ctx.TRIANGLES if hasattr(self.ctx, "TRIANGLES") else 4,
                   vertices=3)
        planes = [np.frombuffer(t.read(), np.float32).reshape(h, w, 4) for t in
                  texs[:n_targets]]
        img = np.concatenate(planes, axis=2)[::-1, :, :c].copy()  # GL row 0 is the bottom
        for obj in keep + texs + [fbo, vao]:
            obj.release()
        return img

    def decode_map(self, asset: Asset, index: int, lod: int | None = None,
                   path: str = "compute") -> np.ndarray:
        """Map ``index`` of a material set at its own size, finished in the shader: float32
        [h, w, n], as ``texgs.decode.decode_maps(asset, lod)[index]``. ``path``: "compute"
        or "fragment"."""
        m = asset.map_table()[index]
        words = layout.map_finish_words(asset, index)
        size = (m.width, m.height)
        if path == "compute":
            vals, _ = self.decode_compute(asset, lod=lod, size=size, finish=words)
        elif path == "fragment":
            vals = self.decode_fragment(asset, lod=lod, size=size, finish=words)
        else:
            raise ValueError(f"path {path!r}: 'compute' or 'fragment'")
        return vals[..., m.first_channel:m.first_channel + m.channel_count].copy()


def _finish_words(finish) -> tuple[int, int, int, int]:
    """The ``finish`` uniform: four uint words, (0, 0, 0, 0) (no finish) by default."""
    if finish is None:
        return (0, 0, 0, 0)
    words = tuple(int(v) for v in finish)
    if len(words) != 4:
        raise ValueError(f"finish: 4 words expected, got {len(words)}")
    return words  # type: ignore[return-value]
