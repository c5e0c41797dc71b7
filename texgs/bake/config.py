"""Bake settings and budget planning (no PyTorch import, so the CLI can check options
before it loads the baker)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import format as fmt
from ..errors import OptionError


# What each --quality preset sets (docs/BAKING.md "Quality presets" has the measured time and
# PSNR): Adam steps in total, the share of them fitted against half-resolution targets
# (coarse-to-fine) and on 2x2 lattices (sparse steps), when to relocate the least useful
# Gaussians, whether to search the colour width, and how often the CPU kernel ranks each
# texel's top K afresh (``rank_every``; between rankings it reuses the candidates each row of
# texels selected, render_cpu.RankReuse). "max" ranks on every step; "balanced" (the
# default) is max's recipe with a ranking every 4th step (2 to 12 % less time on the
# CPU in bench/bench_speed.py, PSNR within 0.2 dB of max); "fast" has 600 steps and no relocation.
QUALITY_PRESETS: dict[str, dict[str, float | int | tuple]] = {
    "fast": {"steps": 600, "coarse_fraction": 0.25, "sparse_fraction": 0.0, "relocate_at": (),
             "color_search": False, "rank_every": 4},
    "balanced": {"steps": 1500, "coarse_fraction": 0.0, "sparse_fraction": 0.0,
                 "relocate_at": (0.3, 0.4, 0.5), "color_search": True, "rank_every": 4},
    "max": {"steps": 1500, "coarse_fraction": 0.0, "sparse_fraction": 0.0,
            "relocate_at": (0.3, 0.4, 0.5), "color_search": True, "rank_every": 1},
}

# Colour widths the colour search tries, in turn, above ``BakeConfig.color_bits``.
WIDE_COLOR_BITS = (10, 12)


@dataclass
class BakeConfig:
    """Settings of one bake. Exactly one of ``bpp`` / ``gaussians`` sets the budget.

    bpp: bits per texel of the whole file, header included (size_bytes * 8 / (W * H)).
    steps: Adam steps in total over all rounds. lod_levels: refinement rounds, one LOD chunk
    each; init_fraction: share of the budget placed before the first step.
    qat_fraction: last share of the steps with quantization in the loop.
    relocate_at: fractions of the steps at which, once every growth round is done, the
    ``relocate_fraction`` of Gaussians with the lowest ``relocate_by`` score (colour
    contrast by default) move to high-error texels (the ``balanced`` and ``max`` presets: at
    30, 40 and 50 %; see docs/BAKING.md "Quality presets").
    loss: "mse" (default: equal PSNR and 1.6x faster in bench/bench_recipe.py, see
    docs/BAKING.md) or "l1-ssim" (the
    Image-GS loss, L1 + ssim_weight * (1 - SSIM), with MSE for the last ``mse_fraction``).
    sparse_fraction: the share of the steps, after the coarse ones, that each render one
    texel of every 2x2 block (the four lattices in turn, a quarter of the texels per step;
    each lattice's error is an unbiased sample of the full one). Off in every preset: it
    pays only on smooth content (docs/BAKING.md "Sparse steps").
    color_search: bake again with wider colours (``WIDE_COLOR_BITS``) when the first bake
    reaches ``color_search_above`` dB or loses ``color_search_loss`` dB to quantization,
    and keep the best (the ``balanced`` and ``max`` presets; see
    :func:`texgs.bake.fit.bake_set`).
    rank_every: the CPU kernel ranks each texel's top K afresh every this many steps and in
    between reuses the candidates each row of texels selected (``render_cpu.RankReuse``;
    ``balanced`` and ``fast``: 4, ``max``: 1); rankings restart after every growth round and
    relocation. Other renderers rank on every step.
    quality: "fast", "balanced" (default) or "max", a preset (``QUALITY_PRESETS``) for the
    settings left as None: ``steps``, ``coarse_fraction`` (the first share of the steps
    fitted against half-resolution targets), ``sparse_fraction``, ``relocate_at``,
    ``color_search`` and ``rank_every``. Settings given explicitly
    win over the preset; the preset is applied when the config is created.
    """

    bpp: float | None = 1.0
    gaussians: int | None = None
    quality: str = "balanced"  # max's recipe, faster; see docs/BAKING.md "Quality presets"
    steps: int | None = None  # None: from the quality preset
    coarse_fraction: float | None = None  # None: from the quality preset
    sparse_fraction: float | None = None  # None: from the quality preset
    seed: int = 0
    top_k: int = 5
    tile: int = 16
    lod_levels: int = 5
    init_fraction: float = 0.25
    grow_until: float = 0.2
    pos_bits: int = 12
    scale_bits: int = 8
    rot_bits: int = 8
    color_bits: int = 8
    hdr_color_bits: int = 10  # log2-encoded HDR channels: 8 bits over ~20 stops is coarse
    qat_fraction: float = 0.25
    relocate_at: tuple[float, ...] | None = None  # None: from the quality preset
    rank_every: int | None = None  # None: from the quality preset
    relocate_fraction: float = 0.05  # share of the Gaussians each relocation moves
    relocate_by: str = "contrast"  # which move: least "contrast" or "mass" (blend_scores)
    color_search: bool | None = None  # None: from the quality preset (max: on)
    color_search_above: float = 45.0  # dB: a first bake this good starts the search
    color_search_loss: float = 1.0  # dB lost from float fit to stored asset: starts it too
    loss: str = "mse"
    mse_fraction: float = 0.3
    clamp_colors: bool = False  # keep colours inside the target's per-channel range
    set_loss: str = "psnr"  # sets: "psnr" (mean of per-map log MSE) or "mse" (mean MSE)
    ssim_weight: float = 0.1
    lr_pos: float = 0.15625  # texels per step (scaled to UV by the larger side)
    lr_scale: float = 3.75e-2
    lr_rot: float = 3.75e-2
    lr_color: float = 3.75e-2
    lr_final: float = 0.02
    repeat_x: bool = False
    repeat_y: bool = False
    device: str = "auto"  # the GPU when PyTorch sees one (and its kernels build), else the CPU
    threads: int | None = None

    def __post_init__(self) -> None:
        preset = QUALITY_PRESETS.get(self.quality)
        if preset is None:
            raise OptionError(f"--quality {self.quality!r}: expected one of "
                              f"{', '.join(QUALITY_PRESETS)}")
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def validate(self) -> None:
        if self.quality not in QUALITY_PRESETS:
            raise OptionError(f"--quality {self.quality!r}: expected one of "
                              f"{', '.join(QUALITY_PRESETS)}")
        if (self.bpp is None) == (self.gaussians is None):
            raise OptionError("give exactly one of --bpp and --gaussians")
        if self.bpp is not None and not (0.01 <= self.bpp <= 64):
            raise OptionError(f"--bpp {self.bpp} outside 0.01..64")
        if self.gaussians is not None and not (1 <= self.gaussians <= fmt.MAX_GAUSSIANS):
            raise OptionError(f"--gaussians {self.gaussians} outside 1..{fmt.MAX_GAUSSIANS}")
        if self.steps < 0 or self.steps > 1_000_000:
            raise OptionError(f"--steps {self.steps} outside 0..1000000")
        if not 0.0 <= self.sparse_fraction <= 1.0:
            raise OptionError(f"--sparse-steps {self.sparse_fraction} outside 0..1")
        if not 0.0 <= self.coarse_fraction <= 1.0:
            raise OptionError(f"coarse_fraction {self.coarse_fraction} outside 0..1")
        if not 1 <= self.top_k <= 32:
            raise OptionError(f"--top-k {self.top_k} outside 1..32")
        if not 4 <= self.tile <= 128:
            raise OptionError(f"--tile {self.tile} outside 4..128")
        if not 1 <= self.lod_levels <= fmt.MAX_LODS:
            raise OptionError(f"--lod-levels {self.lod_levels} outside 1..{fmt.MAX_LODS}")
        for name in ("pos_bits", "scale_bits", "rot_bits", "color_bits", "hdr_color_bits"):
            v = getattr(self, name)
            if not 1 <= v <= fmt.MAX_FIELD_BITS:
                raise OptionError(f"{name} {v} outside 1..{fmt.MAX_FIELD_BITS}")
        if self.loss not in ("mse", "l1-ssim"):
            raise OptionError(f"--loss {self.loss!r}: expected mse or l1-ssim")
        if self.set_loss not in ("psnr", "mse"):
            raise OptionError(f"set_loss {self.set_loss!r}: expected psnr or mse")
        if self.relocate_by not in ("contrast", "mass"):
            raise OptionError(f"relocate_by {self.relocate_by!r}: expected contrast or mass")
        if not 1 <= self.rank_every <= 16:
            raise OptionError(f"rank_every {self.rank_every} outside 1..16")
        if not 0.0 <= self.relocate_fraction <= 0.5:
            raise OptionError(f"relocate_fraction {self.relocate_fraction} outside 0..0.5")
        if not all(0.0 <= f <= 1.0 for f in self.relocate_at):
            raise OptionError(f"relocate_at {self.relocate_at}: fractions of the steps, 0..1")
        if self.device not in ("cpu", "auto", "cuda"):
            raise OptionError(f"--device {self.device!r}: expected cpu, cuda or auto")


@dataclass
class Progress:
    step: int
    total_steps: int
    gaussians: int
    psnr: float
    phase: str


def plan_budget(width: int, height: int, channels: int | tuple[int, ...], cfg: BakeConfig,
                n_maps: int = 1) -> list[int]:
    """Gaussians per LOD level so the whole file fits ``cfg.bpp`` bits per texel of the
    ``width`` x ``height`` grid (or totals ``cfg.gaussians``).

    ``channels``: a channel count (each ``cfg.color_bits`` wide) or every channel's width
    (0 for constant channels). Every level but the last is a multiple of the layout's chunk
    alignment.
    """
    bits = (cfg.color_bits,) * channels if isinstance(channels, int) else tuple(channels)
    channels = len(bits)
    layout = fmt.RecordLayout(cfg.pos_bits, cfg.scale_bits, cfg.rot_bits, bits)
    align = layout.chunk_align
    levels = cfg.lod_levels
    if cfg.gaussians is not None:
        total = cfg.gaussians
    else:
        header = fmt.FIXED_HEADER_SIZE + fmt.MAP_ENTRY_SIZE * n_maps + \
            fmt.CHANNEL_ENTRY_SIZE * channels + fmt.LOD_ENTRY_SIZE * levels
        bits = math.floor(cfg.bpp * width * height) - 8 * header
        total = (bits // 32 * 32) // layout.record_bits if bits > 0 else 0
        # the last chunk is padded to a word: make sure the padded total still fits
        while total > 0 and header + fmt.chunk_payload_bytes(total, layout.record_bits) > \
                cfg.bpp * width * height / 8:
            total -= 1
    if total < levels:
        raise OptionError(f"budget too small: {total} Gaussians for {levels} LOD levels "
                          f"(raise --bpp or --gaussians, or lower --lod-levels)")
    if levels == 1:
        return [total]
    first = max(align, int(total * cfg.init_fraction) // align * align)
    rest = total - first
    per = max(align, rest // (levels - 1) // align * align)
    counts = [first] + [per] * (levels - 2)
    last = total - sum(counts)
    if last < 1:
        raise OptionError(f"budget too small: {total} Gaussians cannot fill {levels} LOD "
                          f"levels of {align}")
    return counts + [last]
