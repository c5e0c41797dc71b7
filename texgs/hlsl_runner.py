"""Run the HLSL runtime (engine_shaders/hlsl) on Vulkan through wgpu.

The HLSL is compiled to SPIR-V with glslang's HLSL front end (``glslangValidator -D -V``),
checked with ``spirv-val`` and run through wgpu (PyPI ``wgpu``), by default on Mesa lavapipe
(Vulkan on the CPU) so no GPU is needed. Used by the tests and by examples. wgpu and the two
command-line tools are optional: this module imports without them (wgpu is imported when a
device is made) and raises a clear error when one is missing.

wgpu does not hand SPIR-V to the driver as is: naga reads it and writes its own SPIR-V. naga
ignores the NoContraction decoration (HLSL ``precise``); on lavapipe the results are still
bit-identical to the GLSL path on llvmpipe. Engines compile the HLSL with DXC or glslang and
keep ``precise``.

Resources follow the bindings declared in engine_shaders/hlsl/texgs_decode_cs.hlsl and
texgs_decode_ps.hlsl (descriptor set 0): 0..3 the four texgs buffers (read-only storage),
4 the decoded values and 5 the candidates per texel (storage, compute only), 6 a 32-byte
uniform buffer: uint2 output size, float footprint variance (compute only), uint padding,
uint4 map finish words (texgs.layout.map_finish_words; zero: no finish).
The index builder texgs_build_index_cs.hlsl (HlslDecoder.build_index) has its own layout:
0 meta and 1 records (read-only storage), 2 tile offsets, 3 tile ids and 4 fill cursors
(storage), 6 a 16-byte uniform buffer holding the pass (0 count, 1 scan, 2 fill).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import layout
from .format import Asset
from .runtime import GpuBuffers, build_gpu_buffers, decode_block, decode_buffers

SHADER_DIR = Path(__file__).resolve().parents[1] / "engine_shaders"
HLSL_DIR = SHADER_DIR / "hlsl"

_STAGES = {"comp": "comp", "cs": "comp", "compute": "comp",
           "frag": "frag", "ps": "frag", "pixel": "frag", "fragment": "frag",
           "vert": "vert", "vs": "vert", "vertex": "vert"}


class ToolMissingError(RuntimeError):
    """A command-line tool the HLSL path needs (glslangValidator, spirv-val) is not installed."""


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} not found on PATH: install it (Debian/Ubuntu: "
                               f"apt-get install {package}) to compile or check HLSL shaders")
    return path


def validate_spirv(spirv: bytes, what: str = "SPIR-V module") -> None:
    """Run ``spirv-val`` on a SPIR-V module; raise RuntimeError with its message if invalid."""
    tool = _tool("spirv-val", "spirv-tools")
    with tempfile.TemporaryDirectory(prefix="texgs_spv_") as tmp:
        p = Path(tmp) / "module.spv"
        p.write_bytes(spirv)
        r = subprocess.run([tool, str(p)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"spirv-val rejected {what}:\n{r.stdout}{r.stderr}")


def compile_hlsl(path: str | Path, stage: str, entry: str = "main",
                 defines: dict[str, object] | None = None, validate: bool = True,
                 include_dirs: list[str | Path] | None = None) -> bytes:
    """Compile the HLSL file ``path`` for ``stage`` ("comp"/"cs", "frag"/"ps", "vert"/"vs")
    with glslangValidator to Vulkan SPIR-V (glslang legalizes HLSL, which inlines the buffer
    parameters of texgs_sample.hlsli); check it with spirv-val when ``validate``. Includes are
    resolved relative to the including file, then in ``include_dirs``. A relative ``path``
    that does not exist is looked up in engine_shaders/hlsl. Returns the SPIR-V bytes."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = HLSL_DIR / path
    if not path.exists():
        raise FileNotFoundError(f"{path}: shader not found")
    if stage not in _STAGES:
        raise ValueError(f"unknown shader stage {stage!r}; one of {sorted(_STAGES)}")
    tool = _tool("glslangValidator", "glslang-tools")
    with tempfile.TemporaryDirectory(prefix="texgs_hlsl_") as tmp:
        out = Path(tmp) / "out.spv"
        cmd = [tool, "-D", "-V", "-S", _STAGES[stage], "-e", entry, f"-I{path.parent}"]
        cmd += [f"-I{d}" for d in (include_dirs or [])]
        cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()]
        cmd += [str(path), "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not out.exists():
            raise RuntimeError(f"glslangValidator failed on {path} ({stage}, entry {entry}):\n"
                               f"{r.stdout}{r.stderr}")
        spirv = out.read_bytes()
    if validate:
        validate_spirv(spirv, f"{path.name} ({stage})")
    return spirv


def create_device(software: bool = True):
    """A wgpu device on a Vulkan adapter: the CPU one (Mesa lavapipe) when ``software``, else
    the first hardware adapter (falling back to the CPU one)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    import wgpu

    try:  # Vulkan only: the GL backend would switch the thread's current EGL context
        from wgpu.backends.wgpu_native.extras import set_instance_extras

        set_instance_extras(backends=["Vulkan"])
    except (ImportError, RuntimeError):  # not wgpu-native, or the instance exists already
        pass
    adapters = [a for a in wgpu.gpu.enumerate_adapters_sync()
                if a.info.get("backend_type") == "Vulkan"]
    if not adapters:
        raise RuntimeError("no Vulkan adapter found (install mesa-vulkan-drivers and "
                           "libvulkan1 for lavapipe)")
    cpu = [a for a in adapters if a.info.get("adapter_type") == "CPU"]
    hw = [a for a in adapters if a.info.get("adapter_type") != "CPU"]
    order = (cpu + hw) if software else (hw + cpu)
    adapter = order[0]
    # four RGBA32Float targets are 64 bytes per sample (WebGPU's default limit is 32)
    limit = "max-color-attachment-bytes-per-sample"
    want = min(64, adapter.limits.get(limit, 32))
    return adapter.request_device_sync(required_limits={limit: want})


class _DropNoContraction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "NoContraction" not in record.getMessage()


@contextlib.contextmanager
def _quiet_no_contraction():
    """wgpu translates SPIR-V through naga, whose SPIR-V reader does not know the
    NoContraction decoration (HLSL ``precise``) and logs one warning per decorated
    instruction; drop those lines (and only those) while a module is created."""
    log = logging.getLogger("wgpu")
    f = _DropNoContraction()
    log.addFilter(f)
    try:
        yield
    finally:
        log.removeFilter(f)


def create_shader_module(device, spirv: bytes, label: str = ""):
    """A wgpu shader module from SPIR-V bytes (translated by naga for the device)."""
    with _quiet_no_contraction():
        return device.create_shader_module(label=label, code=spirv)


class HlslDecoder:
    """Decode assets with the HLSL compute and pixel-shader paths (SPIR-V on wgpu/Vulkan)."""

    def __init__(self, device=None, max_k: int = 16, max_channels: int = 16,
                 defines: dict[str, object] | None = None, shader_dir: Path | None = None):
        """``defines``: more shader defines for every pipeline (texgs_sample.hlsli's
        TEXGS_REACH_TEST, texgs_decode_cs.hlsl's TEXGS_STATS_REACHED); ``shader_dir``:
        another engine_shaders tree to build from (bench/bench_shader_decode.py --baseline)."""
        hlsl_dir = HLSL_DIR if shader_dir is None else Path(shader_dir) / "hlsl"
        self._hlsl_dir = hlsl_dir
        import wgpu

        self.wgpu = wgpu
        self.device = device or create_device()
        self.max_channels = max_channels
        defines = {"TEXGS_MAX_K": max_k, "TEXGS_MAX_CHANNELS": max_channels,
                   **(defines or {})}
        self._defines = defines
        self._tile_pipelines: dict[tuple[int, int, int], object] = {}
        d = self.device
        cs = create_shader_module(
            d, compile_hlsl(hlsl_dir / "texgs_decode_cs.hlsl", "comp", defines=defines),
            "texgs_decode_cs")
        vs = create_shader_module(d, compile_hlsl(hlsl_dir / "fullscreen_vs.hlsl", "vert"),
                                  "fullscreen_vs")
        ps = create_shader_module(
            d, compile_hlsl(hlsl_dir / "texgs_decode_ps.hlsl", "frag",
                            defines={**defines, "TEXGS_MAX_CHANNELS": 16}),
            "texgs_decode_ps")
        S = wgpu.ShaderStage
        BT = wgpu.BufferBindingType

        def entries(vis, extra):
            e = [{"binding": i, "visibility": vis, "buffer": {"type": BT.read_only_storage}}
                 for i in range(4)]
            e += [{"binding": i, "visibility": vis, "buffer": {"type": BT.storage}}
                  for i in extra]
            e.append({"binding": 6, "visibility": vis, "buffer": {"type": BT.uniform}})
            return e

        self.cs_layout = d.create_bind_group_layout(entries=entries(S.COMPUTE, (4, 5)))
        self.ps_layout = d.create_bind_group_layout(entries=entries(S.FRAGMENT, ()))
        self.compute = self.compute_pipeline(cs)
        # the tile-index builder: 0, 1 read-only, 2..4 read-write storage, 6 the pass
        bi = create_shader_module(
            d, compile_hlsl(hlsl_dir / "texgs_build_index_cs.hlsl", "comp", defines=defines),
            "texgs_build_index_cs")
        self.build_layout = d.create_bind_group_layout(entries=[
            {"binding": i, "visibility": S.COMPUTE,
             "buffer": {"type": BT.read_only_storage if i < 2 else BT.storage}}
            for i in range(5)] + [{"binding": 6, "visibility": S.COMPUTE,
                                   "buffer": {"type": BT.uniform}}])
        self.index_builder = d.create_compute_pipeline(
            layout=d.create_pipeline_layout(bind_group_layouts=[self.build_layout]),
            compute={"module": bi, "entry_point": "main"})
        self.n_targets = 4
        self.render = d.create_render_pipeline(
            layout=d.create_pipeline_layout(bind_group_layouts=[self.ps_layout]),
            vertex={"module": vs, "entry_point": "main", "buffers": []},
            primitive={"topology": wgpu.PrimitiveTopology.triangle_list,
                       "cull_mode": wgpu.CullMode.none},
            fragment={"module": ps, "entry_point": "main",
                      "targets": [{"format": wgpu.TextureFormat.rgba32float}] * self.n_targets})

    def compute_pipeline(self, module_or_spirv, entry: str = "main"):
        """A compute pipeline over the bindings of texgs_decode_cs.hlsl (0..6) from a shader
        module or SPIR-V bytes; decode_compute(..., pipeline=) runs it."""
        d = self.device
        module = module_or_spirv
        if isinstance(module_or_spirv, (bytes, bytearray)):
            module = create_shader_module(d, bytes(module_or_spirv), "texgs_compute")
        return d.create_compute_pipeline(
            layout=d.create_pipeline_layout(bind_group_layouts=[self.cs_layout]),
            compute={"module": module, "entry_point": entry})

    # -- helpers ---------------------------------------------------------------------------
    def _storage(self, arr: np.ndarray):
        data = np.ascontiguousarray(arr, dtype="<u4").tobytes() or b"\0\0\0\0"
        return self.device.create_buffer_with_data(data=data,
                                                   usage=self.wgpu.BufferUsage.STORAGE)

    def _input_entries(self, bufs: GpuBuffers, w: int, h: int,
                       filter_var: float = 0.0, finish=None) -> list[dict]:
        ins = [self._storage(a) for a in (bufs.meta, bufs.records, bufs.tile_offsets,
                                          bufs.tile_ids)]
        words = np.zeros(8, "<u4")
        words[0:2] = (w, h)
        words[2] = np.float32(filter_var).view(np.uint32)
        if finish is not None:
            fw = np.asarray(finish, "<u4").reshape(-1)
            if fw.shape != (4,):
                raise ValueError(f"finish: 4 words expected, got {fw.shape[0]}")
            words[4:8] = fw
        params = self.device.create_buffer_with_data(data=words.tobytes(),
                                                     usage=self.wgpu.BufferUsage.UNIFORM)
        e = [{"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}}
             for i, b in enumerate(ins)]
        e.append({"binding": 6, "resource": {"buffer": params, "offset": 0, "size": 32}})
        return e

    # -- tile index ------------------------------------------------------------------------
    def build_index(self, bufs: GpuBuffers) -> tuple[np.ndarray, np.ndarray]:
        """Build the tile index with texgs_build_index_cs.hlsl from ``bufs.meta`` and
        ``bufs.records`` (tile size, grid and FILTER_MAX_VAR padding from the meta words)
        -> (tile_offsets uint32 [tiles + 1], tile_ids uint32 [offsets[-1]], 32-bit ids).
        The lists hold the reference's ids (texgs.runtime.build_tile_index) in any order.

        Two submissions: count and scan, then (once the total is read back to size the ids
        buffer) fill."""
        wgpu, d = self.wgpu, self.device
        meta = bufs.meta.copy()
        meta[layout.META_ID_BITS] = 32
        n = int(meta[layout.META_COUNT])
        tiles = int(meta[layout.META_TILES_X]) * int(meta[layout.META_TILES_Y])
        rw = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC
        b_meta, b_rec = self._storage(meta), self._storage(bufs.records)
        b_off = d.create_buffer(size=4 * (tiles + 1), usage=rw)  # wgpu zero-fills
        b_cur = d.create_buffer(size=4 * max(1, tiles), usage=wgpu.BufferUsage.STORAGE)
        passes = [d.create_buffer_with_data(data=np.array([p, 0, 0, 0], "<u4").tobytes(),
                                            usage=wgpu.BufferUsage.UNIFORM)
                  for p in range(3)]

        def group(b_ids, p):
            bs = {0: b_meta, 1: b_rec, 2: b_off, 3: b_ids, 4: b_cur, 6: passes[p]}
            return d.create_bind_group(layout=self.build_layout, entries=[
                {"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}}
                for i, b in bs.items()])

        def run(steps):
            enc = d.create_command_encoder()
            for bg, groups in steps:  # one pass per dispatch: a barrier between them
                cp = enc.begin_compute_pass()
                cp.set_pipeline(self.index_builder)
                cp.set_bind_group(0, bg)
                cp.dispatch_workgroups(groups, 1, 1)
                cp.end()
            d.queue.submit([enc.finish()])

        groups = (n + 255) // 256
        dummy = d.create_buffer(size=4, usage=wgpu.BufferUsage.STORAGE)
        steps = [(group(dummy, 0), groups)] if groups else []
        run(steps + [(group(dummy, 1), 1)])
        offsets = np.frombuffer(d.queue.read_buffer(b_off), np.uint32).copy()
        total = int(offsets[-1])
        b_ids = d.create_buffer(size=4 * max(1, total), usage=rw)
        if groups and total:
            run([(group(b_ids, 2), groups)])
        ids = np.frombuffer(d.queue.read_buffer(b_ids), np.uint32)[:total].copy()
        for b in [b_meta, b_rec, b_off, b_cur, b_ids, dummy] + passes:
            b.destroy()
        return offsets, ids

    # -- decoding --------------------------------------------------------------------------
    def decode_compute(self, asset: Asset, lod: int | None = None,
                       size: tuple[int, int] | None = None, tile: int | None = None,
                       id_bits: int | None = None, filtered: bool = False,
                       pipeline=None, gpu_index: bool = False,
                       finish=None, coding: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> (float32 [H', W', C], candidates examined per texel uint32 [H', W']).

        ``filtered``: prefiltered minification, as ``decode.decode_texture(filtered=True)``.
        ``gpu_index``: build the tile index with texgs_build_index_cs.hlsl (build_index)
        instead of NumPy; its ids are 32-bit (``id_bits`` then only affects the unused
        reference index).
        ``pipeline``: another compute pipeline with the same bindings and 8x8 thread groups
        (see compute_pipeline); default texgs_decode_cs.hlsl.
        ``finish``: the shader's map finish words (``layout.map_finish_words``); those
        channels come back finished (default: every channel as blended).
        ``coding``: how the tile lists are stored (``layout.INDEX_CODING_*``; None: the
        runtime's default, ``texgs.runtime.DEFAULT_INDEX_CODING``); a GPU-built index is
        always fixed-width."""
        bufs, (w, h), fvar = decode_buffers(asset, lod, size, tile, id_bits, filtered,
                                            coding=coding)
        if gpu_index:
            bufs.use_index(*self.build_index(bufs))
        return self._run_decode(pipeline or self.compute, bufs, (w, h), asset.channel_count,
                                fvar, finish, ((w + 7) // 8, (h + 7) // 8))

    def _run_decode(self, pipeline, bufs: GpuBuffers, size: tuple[int, int], c: int,
                    filter_var: float, finish,
                    groups: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Bind ``bufs``, the parameters and the outputs (values at binding 4, candidates
        at 5), dispatch ``pipeline`` over ``groups`` and read back (values [H, W, C],
        candidates [H, W])."""
        if c > self.max_channels:
            raise ValueError(f"{c} channels; this decoder was built for at most "
                             f"{self.max_channels}")
        wgpu, d = self.wgpu, self.device
        w, h = size
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC
        out = d.create_buffer(size=w * h * c * 4, usage=usage)
        stats = d.create_buffer(size=w * h * 4, usage=usage)
        entries = self._input_entries(bufs, w, h, filter_var, finish)
        entries += [{"binding": 4, "resource": {"buffer": out, "offset": 0, "size": out.size}},
                    {"binding": 5, "resource": {"buffer": stats, "offset": 0,
                                                "size": stats.size}}]
        group = d.create_bind_group(layout=self.cs_layout, entries=entries)
        enc = d.create_command_encoder()
        cp = enc.begin_compute_pass()
        cp.set_pipeline(pipeline)
        cp.set_bind_group(0, group)
        cp.dispatch_workgroups(groups[0], groups[1], 1)
        cp.end()
        d.queue.submit([enc.finish()])
        vals = np.frombuffer(d.queue.read_buffer(out), np.float32).reshape(h, w, c).copy()
        cand = np.frombuffer(d.queue.read_buffer(stats), np.uint32).reshape(h, w).copy()
        for b in (out, stats):
            b.destroy()
        return vals, cand

    def decode_tiles(self, asset: Asset, lod: int | None = None, tile: int | None = None,
                     id_bits: int | None = None, finish=None, prune: bool = True,
                     batch: int = 64, color_cache: int = 512,
                     coding: int | None = None,
                     block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The tile-cooperative decode (texgs_decode_tiles_cs.hlsl) at the asset's own size,
        unfiltered: one group of ``block`` x ``block`` threads (the shader's
        TEXGS_DECODE_TILE; default the smaller of 8 and the index tile, which it must divide)
        per block of texels, over an index of ``tile`` texels (default the runtime's).
        ``batch``, ``color_cache``: its TEXGS_TILE_BATCH and TEXGS_COLOR_CACHE (small values
        exercise the batch boundary and the uncached blend); ``coding``: as in
        :meth:`decode_compute`. -> as :meth:`decode_compute`."""
        bufs = build_gpu_buffers(asset, lod, tile, id_bits, prune=prune, coding=coding)
        tile = int(bufs.meta[layout.META_TILE])
        block = decode_block(tile, block)
        if block is None:
            raise ValueError(f"the default decode block does not divide the index tile {tile}")
        key = (block, batch, color_cache)
        if key not in self._tile_pipelines:
            spirv = compile_hlsl(self._hlsl_dir / "texgs_decode_tiles_cs.hlsl", "comp", defines={
                **self._defines, "TEXGS_DECODE_TILE": block, "TEXGS_TILE_BATCH": batch,
                "TEXGS_COLOR_CACHE": color_cache})
            self._tile_pipelines[key] = self.compute_pipeline(spirv)
        w, h = asset.width, asset.height
        return self._run_decode(self._tile_pipelines[key], bufs, (w, h),
                                asset.channel_count, 0.0, finish,
                                ((w + block - 1) // block, (h + block - 1) // block))

    def decode_fragment(self, asset: Asset, lod: int | None = None,
                        size: tuple[int, int] | None = None, finish=None,
                        coding: int | None = None) -> np.ndarray:
        """Draw a full-screen triangle into four RGBA32Float targets; -> float32 [H', W', C]
        (row 0 at the top: Vulkan framebuffer row 0 is the top row, no flip).
        ``finish``, ``coding``: as in :meth:`decode_compute`."""
        wgpu, d = self.wgpu, self.device
        c = asset.channel_count
        if c > 4 * self.n_targets:
            raise ValueError(f"{c} channels; the pixel-shader path writes at most "
                             f"{4 * self.n_targets}")
        bufs = build_gpu_buffers(asset, lod, coding=coding)
        w, h = size or (asset.width, asset.height)
        group = d.create_bind_group(layout=self.ps_layout,
                                    entries=self._input_entries(bufs, w, h, finish=finish))
        texs = [d.create_texture(size=(w, h, 1), format=wgpu.TextureFormat.rgba32float,
                                 usage=wgpu.TextureUsage.RENDER_ATTACHMENT
                                 | wgpu.TextureUsage.COPY_SRC)
                for _ in range(self.n_targets)]
        enc = d.create_command_encoder()
        rp = enc.begin_render_pass(color_attachments=[
            {"view": t.create_view(), "load_op": wgpu.LoadOp.clear,
             "store_op": wgpu.StoreOp.store, "clear_value": (0.0, 0.0, 0.0, 0.0)}
            for t in texs])
        rp.set_pipeline(self.render)
        rp.set_bind_group(0, group)
        rp.draw(3, 1, 0, 0)
        rp.end()
        # texture -> buffer copies need rows padded to a multiple of 256 bytes
        row = w * 16
        stride = (row + 255) // 256 * 256
        n_used = (c + 3) // 4
        reads = []
        for t in texs[:n_used]:
            b = d.create_buffer(size=stride * h, usage=wgpu.BufferUsage.COPY_DST
                                | wgpu.BufferUsage.COPY_SRC)
            enc.copy_texture_to_buffer(
                {"texture": t, "mip_level": 0, "origin": (0, 0, 0)},
                {"buffer": b, "offset": 0, "bytes_per_row": stride, "rows_per_image": h},
                (w, h, 1))
            reads.append(b)
        d.queue.submit([enc.finish()])
        planes = []
        for b in reads:
            raw = np.frombuffer(d.queue.read_buffer(b), np.uint8).reshape(h, stride)
            planes.append(raw[:, :row].copy().view(np.float32).reshape(h, w, 4))
            b.destroy()
        for t in texs:
            t.destroy()
        return np.concatenate(planes, axis=2)[:, :, :c].copy()

    def decode_map(self, asset: Asset, index: int, lod: int | None = None,
                   path: str = "compute", coding: int | None = None) -> np.ndarray:
        """Map ``index`` of a material set at its own size, finished in the shader: float32
        [h, w, n], as ``texgs.decode.decode_maps(asset, lod)[index]``. ``path``: "compute"
        or "fragment" (the pixel shader); ``coding``: as in :meth:`decode_compute`."""
        m = asset.map_table()[index]
        words = layout.map_finish_words(asset, index)
        size = (m.width, m.height)
        if path == "compute":
            vals, _ = self.decode_compute(asset, lod=lod, size=size, finish=words,
                                          coding=coding)
        elif path == "fragment":
            vals = self.decode_fragment(asset, lod=lod, size=size, finish=words,
                                        coding=coding)
        else:
            raise ValueError(f"path {path!r}: 'compute' or 'fragment'")
        return vals[..., m.first_channel:m.first_channel + m.channel_count].copy()
