"""Rate-distortion report: texgs against GPU block formats and download codecs, one run.

For every input texture, :func:`evaluate_texture` bakes texgs at each requested rate (bits
per texel of the whole ``.tgs`` file) and, on the same 8-bit input in the same run, encodes

- ASTC at every block size of :data:`ASTC_LADDER` (fixed rates 8.00 .. 0.89 bpp),
- BC1 (4 bpp) and BC7 (8 bpp),
- JPEG, WebP, AVIF and JPEG XL at each requested rate (the highest quality whose file fits),

then measures PSNR, SSIM, FLIP and, for normal maps, the angular error. Rates are always
``size_bytes * 8 / (W * H)`` of the stored bytes. :func:`write_report` writes
``results.json``, ``results.md``, rate-distortion plots and ``index.html`` with crops and
error maps; :func:`run_report` does both. A codec or metric whose library is missing is
listed in the report (``missing``), never fatal.

Inputs are compared on their colour channels as 8-bit RGB: alpha is dropped and grey is
repeated to RGB, so every codec sees the very same image (texgs bakes that RGB image too).
A normal map (file-name suffix ``_n``, ``_nm``, ``_Normal``... see
:data:`texgs.material.SUFFIXES`) is baked by texgs as a normal map (x, y stored, z rebuilt);
the baselines encode its RGB as it is.
"""

from __future__ import annotations

import html
import json
import math
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .. import format as fmt
from ..errors import InputError, OptionError, OutputError, UnsupportedError
from . import baselines
from .bdrate import bd_rate
from .metrics import MetricUnavailable, flip, psnr, ssim, to_float

__all__ = ["ALL_CODECS", "ASTC_LADDER", "EvalConfig", "EvalProgress", "Measurement",
           "TextureReport", "Report", "evaluate_texture", "load_rgb8", "parse_rates",
           "run_report", "write_report"]

#: ASTC block footprints of the ladder, largest rate first (name -> (width, height)).
ASTC_LADDER: dict[str, tuple[int, int]] = {
    "astc4x4": (4, 4), "astc5x5": (5, 5), "astc6x6": (6, 6), "astc8x8": (8, 8),
    "astc10x10": (10, 10), "astc12x12": (12, 12),
}
BC_CODECS: tuple[str, ...] = tuple(baselines.BC_FORMATS)
DOWNLOAD_CODECS: tuple[str, ...] = baselines.IMAGE_CODECS
#: Every codec a report can hold, in report order.
ALL_CODECS: tuple[str, ...] = ("texgs", *ASTC_LADDER, *BC_CODECS, *DOWNLOAD_CODECS)
#: Curves texgs is compared with by BD-rate: the ASTC ladder, the BC pair, each download codec.
BD_ANCHORS: tuple[str, ...] = ("astc", "bc", *DOWNLOAD_CODECS)
#: The download codecs again, with texgs at the size of its download container (``texgs
#: pack``, docs/FORMAT.md "Download container"): the form in which it would be shipped.
BD_DOWNLOAD_ANCHORS: tuple[str, ...] = tuple(f"{c} (download)" for c in DOWNLOAD_CODECS)
TEXGS_DOWNLOAD_CURVE = "texgs (download)"
#: The GPU block formats again, with texgs at what an engine keeps on the GPU: records plus
#: the tile index at the runtime's choice of tile (texgs.runtime.build_gpu_buffers;
#: docs/RUNTIME.md).
BD_GPU_ANCHORS: tuple[str, ...] = ("astc (GPU memory)", "bc (GPU memory)")
TEXGS_GPU_CURVE = "texgs (GPU memory)"
DEFAULT_RATES: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
MIN_RATE, MAX_RATE = 0.01, 64.0
ERROR_MAP_FULL_SCALE = 0.25  # absolute error (of 1.0) shown at the top of the colour map


def family_of(codec: str) -> str:
    """``"texgs"``, ``"astc"``, ``"bc"`` or ``"download"``: how a codec reaches its rate."""
    if codec == "texgs":
        return "texgs"
    if codec in ASTC_LADDER:
        return "astc"
    if codec in BC_CODECS:
        return "bc"
    if codec in DOWNLOAD_CODECS:
        return "download"
    raise ValueError(f"unknown codec {codec!r}")


def parse_rates(text: str, flag: str = "--bpp") -> tuple[float, ...]:
    """``"0.25,0.5,1"`` -> ``(0.25, 0.5, 1.0)``, sorted, each in 0.01..64, no repeats.
    Raises :class:`OptionError` naming ``flag``."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise OptionError(f"{flag} {text!r}: expected a comma-separated list of rates, "
                          "e.g. 0.25,0.5,1,2,4")
    rates: list[float] = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise OptionError(f"{flag} {text!r}: {p!r} is not a number") from None
        if not MIN_RATE <= v <= MAX_RATE:  # also rejects NaN
            raise OptionError(f"{flag} {text!r}: {p} outside {MIN_RATE:g}..{MAX_RATE:g}")
        rates.append(v)
    if len(set(rates)) != len(rates):
        raise OptionError(f"{flag} {text!r}: a rate is repeated")
    return tuple(sorted(rates))


@dataclass
class EvalConfig:
    """Settings of one report run.

    rates: texgs and download-codec target rates in bits per texel. steps, seed, threads:
    the texgs bake (see :class:`texgs.bake.BakeConfig`). astc_quality: astcenc preset 0..100
    (100 exhaustive). codecs: the subset of :data:`ALL_CODECS` to run. crop: side of the
    square crops shown in ``index.html`` (upscaled x ``crop_zoom``, nearest). device: where
    texgs bakes (``BakeConfig.device``). bake_cache: a folder of texgs assets keyed by the
    exact input image and bake settings (:func:`bake_cache_key`); an asset found there is
    reused instead of baked (e.g. bakes made on a GPU machine by ``texgs eval --codecs texgs
    --bake-cache DIR``), one baked here is stored there.
    """

    rates: tuple[float, ...] = DEFAULT_RATES
    steps: int = 1500
    seed: int = 0
    threads: int | None = None
    astc_quality: float = 100.0
    codecs: tuple[str, ...] = ALL_CODECS
    crop: int = 128
    crop_zoom: int = 2
    device: str = "auto"
    bake_cache: str | None = None

    def validate(self) -> None:
        """Raise :class:`OptionError` for any out-of-range setting."""
        if not self.rates:
            raise OptionError("--bpp: give at least one rate")
        for r in self.rates:
            if not MIN_RATE <= r <= MAX_RATE:
                raise OptionError(f"--bpp {r}: outside {MIN_RATE:g}..{MAX_RATE:g}")
        if not 0 <= self.steps <= 1_000_000:
            raise OptionError(f"--steps {self.steps} outside 0..1000000")
        if not 0.0 <= self.astc_quality <= 100.0:
            raise OptionError(f"ASTC quality {self.astc_quality} outside 0..100")
        unknown = [c for c in self.codecs if c not in ALL_CODECS]
        if unknown:
            raise OptionError(f"--codecs: unknown codec {unknown[0]!r} (expected some of "
                              f"{', '.join(ALL_CODECS)})")
        if not self.codecs:
            raise OptionError("--codecs: give at least one codec")
        if self.device not in ("auto", "cpu", "cuda"):
            raise OptionError(f"--device {self.device!r}: expected auto, cpu or cuda")
        if not 8 <= self.crop <= 1024 or not 1 <= self.crop_zoom <= 8:
            raise OptionError(f"crop {self.crop} x{self.crop_zoom}: outside 8..1024 x 1..8")

    def units_per_texture(self) -> int:
        """Encodes run per texture (the progress bar's steps)."""
        n = 0
        for c in self.codecs:
            n += len(self.rates) if family_of(c) in ("texgs", "download") else 1
        return n


@dataclass
class Measurement:
    """One encode + decode of one texture by one codec.

    ``bits_per_texel`` is ``size_bytes * 8 / (width * height)`` of the stored bytes (texgs:
    the whole file; ASTC/BC: the block payload; download codecs: the whole file);
    ``download_bits_per_texel``: texgs only, the same for its download container (.tgsz),
    ``None`` without the zstandard package; ``gpu_bits_per_texel``: texgs only, what an
    engine keeps on the GPU (records and the default tile index). ``target_bpp``: the
    requested rate (texgs and download codecs), ``None`` for fixed-rate formats. ``over_budget``: the lowest quality setting was still above the target.
    ``flip``: mean FLIP error, ``None`` when flip-evaluator is missing. Angular errors are
    set for normal maps only.
    """

    texture: str
    codec: str
    family: str
    target_bpp: float | None
    bits_per_texel: float
    size_bytes: int
    psnr: float
    ssim: float
    flip: float | None
    angular_mean_deg: float | None = None
    angular_p99_deg: float | None = None
    over_budget: bool = False
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    download_bits_per_texel: float | None = None  # texgs: its download container's size
    gpu_bits_per_texel: float | None = None  # texgs: records + default tile index on the GPU


@dataclass
class TextureReport:
    """Everything measured on one texture. ``decoded`` holds float32 RGB images for the
    crops, keyed ``(codec, target_bpp or None)``; ``skipped`` lists encodes that could not
    run (e.g. a rate too small for the texgs header) with the reason."""

    name: str
    path: str
    width: int
    height: int
    is_normal_map: bool
    measurements: list[Measurement] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    bd_rate: dict[str, float | None] = field(default_factory=dict)
    original: np.ndarray | None = field(default=None, repr=False)
    decoded: dict[tuple[str, float | None], np.ndarray] = field(default_factory=dict,
                                                                 repr=False)


@dataclass
class Report:
    """A whole run: per-texture results, codecs/metrics that were missing (name -> reason),
    and the overall BD-rates (mean over the textures where each is defined)."""

    config: EvalConfig
    textures: list[TextureReport]
    missing: dict[str, str]
    bd_rate_mean: dict[str, dict[str, Any]]
    seconds: float


@dataclass
class EvalProgress:
    """Progress of a run: ``done`` of ``total`` encodes finished; ``label`` says what runs
    next (or ``"done"``)."""

    done: int
    total: int
    label: str


# ----------------------------------------------------------------------------- inputs


def load_rgb8(path: str | Path) -> np.ndarray:
    """A texture as uint8 ``(H, W, 3)`` RGB: alpha dropped, grey repeated, 16-bit rounded to
    8. Raises :class:`InputError` (missing, unreadable) or :class:`UnsupportedError` (HDR)."""
    from ..images import to_uint8
    from ..material import load_map_image

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    img, hdr = load_map_image(p)
    if hdr:
        raise UnsupportedError(f"{p}: HDR textures are not evaluated (8- and 16-bit inputs "
                               "only)")
    c = img.shape[2]
    rgb = img[..., :3] if c >= 3 else np.repeat(img[..., :1], 3, axis=2)
    return to_uint8(rgb)


def is_normal_map(path: str | Path) -> bool:
    """True when the file name's suffix names a normal map (``_n``, ``_nm``, ``_Normal``...)."""
    from ..material import kind_from_filename

    return kind_from_filename(path) == fmt.MAP_NORMAL


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "texture"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


# ----------------------------------------------------------------------------- measuring


def probe_missing(codecs: Iterable[str]) -> dict[str, str]:
    """Codecs (and the FLIP metric, key ``"flip"``) whose libraries cannot be loaded here:
    name -> reason. Checked once, before any work."""
    missing: dict[str, str] = {}
    checks: dict[str, Callable[[], Any]] = {
        "astc": baselines._import_astc,
        "bc": baselines._import_bc,
        "jpeg": baselines._import_imagecodecs,
    }
    for name, (cls_name, _, _) in baselines._IMAGE_CODEC_INFO.items():
        checks[name] = (lambda c=cls_name, n=name: baselines._import_codec(c, n.upper()))

    def texgs_check() -> None:
        try:
            import torch  # noqa: F401
        except Exception as exc:
            raise baselines.BaselineUnavailable(f"texgs baking needs PyTorch: {exc}") from exc

    checks["texgs"] = texgs_check
    for codec in codecs:
        key = codec if family_of(codec) in ("texgs", "download") else family_of(codec)
        try:
            checks[key]()
        except baselines.BaselineUnavailable as exc:
            missing[codec] = str(exc)
    try:
        import flip_evaluator  # noqa: F401
    except Exception as exc:
        missing["flip"] = f"FLIP needs the 'flip-evaluator' package: {exc}"
    return missing


def _measure(texture: str, codec: str, target: float | None, ref: np.ndarray,
             decoded: np.ndarray, size_bytes: int, normal: bool, seconds: float,
             params: dict[str, Any], missing: dict[str, str]) -> Measurement:
    from ..quality import normal_angles_deg

    h, w = ref.shape[:2]
    flip_value: float | None = None
    if "flip" not in missing:
        try:
            flip_value = flip(ref, decoded)
        except MetricUnavailable as exc:
            missing["flip"] = str(exc)
    bpp = size_bytes * 8.0 / (w * h)
    m = Measurement(texture=texture, codec=codec, family=family_of(codec), target_bpp=target,
                    bits_per_texel=bpp, size_bytes=int(size_bytes), psnr=psnr(ref, decoded),
                    ssim=ssim(ref, decoded) if min(h, w) >= 11 else float("nan"),
                    flip=flip_value, over_budget=target is not None and bpp > target,
                    seconds=seconds, params=params)
    if params.get("download_bytes") is not None:
        m.download_bits_per_texel = params["download_bytes"] * 8.0 / (w * h)
    if params.get("gpu_bytes") is not None:
        m.gpu_bits_per_texel = params["gpu_bytes"] * 8.0 / (w * h)
    if normal:
        ang = normal_angles_deg(ref, decoded)
        m.angular_mean_deg = float(ang.mean())
        m.angular_p99_deg = float(np.percentile(ang, 99))
    return m


def bake_cache_key(rgb8: np.ndarray, normal: bool, target: float, steps: int,
                   seed: int) -> str:
    """File name of a texgs bake in an eval bake cache: a hash of the exact 8-bit RGB input,
    its kind, the rate, steps, seed and the format version."""
    import hashlib

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(rgb8, np.uint8).tobytes())
    h.update(f"{rgb8.shape}|{normal}|{target!r}|{steps}|{seed}|v{fmt.VERSION}".encode())
    return h.hexdigest()[:32] + ".tgs"


def _bake_texgs(rgb8: np.ndarray, normal: bool, target: float, cfg: EvalConfig,
                tmp: Path) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Bake the RGB image at ``target`` bpp (or take it from ``cfg.bake_cache``); return
    (decoded 8-bit as float, bytes, params)."""
    from PIL import Image

    from ..bake import BakeConfig, bake_maps
    from ..decode import decode_maps
    from ..images import atomic_write_bytes, to_uint8
    from ..material import MapSource
    from ..runtime import build_gpu_buffers

    cached = None
    if cfg.bake_cache is not None:
        cached = Path(cfg.bake_cache) / bake_cache_key(rgb8, normal, target, cfg.steps, cfg.seed)
    if cached is not None and cached.is_file():
        data = cached.read_bytes()
        asset = fmt.read_asset(data, str(cached))
        origin = "cache"
    else:
        src = tmp / "input.png"
        if not src.exists():
            Image.fromarray(rgb8).save(src)
        dst = tmp / f"texgs_{target:g}.tgs"
        bake_cfg = BakeConfig(bpp=target, steps=cfg.steps, seed=cfg.seed, threads=cfg.threads,
                              device=cfg.device)
        kind = fmt.MAP_NORMAL if normal else fmt.MAP_BASECOLOR
        result = bake_maps([MapSource(kind, str(src))], dst, bake_cfg)
        data = dst.read_bytes()
        asset = fmt.read_asset(data, str(dst))
        origin = result.renderer
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cached, data)
    data, asset, reordered = _in_morton_order(data, asset)
    decoded = decode_maps(asset)[0][..., :3]
    params = {"steps": cfg.steps, "seed": cfg.seed, "gaussians": asset.gaussian_count,
              "lod_counts": list(asset.lod_counts), "kind": "normal" if normal else "basecolor",
              "baked_by": origin, "download_bytes": _download_bytes(data),
              "gpu_bytes": build_gpu_buffers(asset).total_bytes}
    if reordered:
        params["reordered"] = True
    return to_float(to_uint8(decoded)), len(data), params


def _in_morton_order(data: bytes, asset: fmt.Asset) -> tuple[bytes, fmt.Asset, bool]:
    """An asset from a cache of earlier bakes, whose chunks are not in Morton order, put in
    it (the same Gaussians, as the baker writes them now: docs/FORMAT.md "Record order");
    (bytes, asset, whether it was reordered)."""
    from ..record_order import chunks_in_morton_order, in_morton_order

    if chunks_in_morton_order(asset):
        return data, asset, False
    data = fmt.write_asset(in_morton_order(asset))
    return data, fmt.read_asset(data), True


def _download_bytes(data: bytes) -> int | None:
    """Size of the download container of the asset ``data``; None without zstandard."""
    from ..package import pack_download

    try:
        return len(pack_download(data))
    except UnsupportedError:
        return None


def evaluate_texture(path: str | Path, cfg: EvalConfig, missing: dict[str, str],
                     name: str | None = None,
                     on_unit: Callable[[str], None] | None = None) -> TextureReport:
    """Measure every codec of ``cfg.codecs`` on the texture at ``path``.

    ``missing`` (codec or metric -> reason) is read and extended: a codec in it is skipped,
    one whose library fails now is added. ``on_unit(label)`` is called before each encode
    (with what runs next) and once more with ``"done"``.
    """
    rgb8 = load_rgb8(path)
    h, w = rgb8.shape[:2]
    normal = is_normal_map(path)
    label = name or Path(path).stem
    ref = to_float(rgb8)
    rep = TextureReport(name=label, path=str(path), width=w, height=h,
                        is_normal_map=normal, original=ref)
    tick = on_unit or (lambda _label: None)

    def record(codec: str, target: float | None, run: Callable[[], tuple[np.ndarray, int,
                                                                        dict[str, Any]]]):
        tick(f"{label}: {codec}" + (f" at {target:g} bpp" if target is not None else ""))
        if codec in missing:
            return
        t0 = time.perf_counter()
        try:
            decoded, size, params = run()
        except baselines.BaselineUnavailable as exc:
            missing[codec] = str(exc)
            return
        except OptionError as exc:  # texgs: e.g. the rate cannot hold the header
            rep.skipped.append({"codec": codec, "target_bpp": target, "reason": str(exc)})
            return
        m = _measure(label, codec, target, ref, decoded, size, normal,
                     time.perf_counter() - t0, params, missing)
        rep.measurements.append(m)
        rep.decoded[(codec, target)] = decoded.astype(np.float32)

    def from_baseline(result: baselines.BaselineResult):
        return result.decoded, result.size_bytes, _jsonable(result.params)

    with tempfile.TemporaryDirectory(prefix="texgs_eval_") as tmp_name:
        tmp = Path(tmp_name)
        for codec in cfg.codecs:
            fam = family_of(codec)
            if fam == "texgs":
                for r in cfg.rates:
                    record(codec, r, lambda r=r: _bake_texgs(rgb8, normal, r, cfg, tmp))
            elif fam == "astc":
                record(codec, None, lambda c=codec: from_baseline(baselines.astc(
                    rgb8, ASTC_LADDER[c], cfg.astc_quality, threads=1)))
            elif fam == "bc":
                record(codec, None, lambda c=codec: from_baseline(
                    baselines.block_compress(rgb8, c)))
            else:
                for r in cfg.rates:
                    record(codec, r, lambda c=codec, r=r: from_baseline(
                        baselines.image_codec_at_rate(c, rgb8, r)))
    rep.bd_rate = texture_bd_rates(rep.measurements)
    return rep


def _curve(measurements: list[Measurement], select: Callable[[Measurement], bool]
           ) -> tuple[list[float], list[float]]:
    pts = [(m.bits_per_texel, m.psnr) for m in measurements if select(m)]
    return [p[0] for p in pts], [p[1] for p in pts]


def texture_bd_rates(measurements: list[Measurement]) -> dict[str, float | None]:
    """BD-rate (PSNR, PCHIP, percent) of texgs against each anchor curve of
    :data:`BD_ANCHORS`, with texgs at its GPU memory against the block formats
    (:data:`BD_GPU_ANCHORS`) and at its download size against each download codec
    (:data:`BD_DOWNLOAD_ANCHORS`); ``None`` where undefined (too few points, no PSNR
    overlap)."""
    tr, tq = _curve(measurements, lambda m: m.codec == "texgs")
    out: dict[str, float | None] = {}
    for anchor in BD_ANCHORS:
        if anchor in ("astc", "bc"):
            ar, aq = _curve(measurements, lambda m, a=anchor: m.family == a)
        else:
            ar, aq = _curve(measurements, lambda m, a=anchor: m.codec == a)
        if not ar or not tr:
            continue
        out[anchor] = bd_rate(ar, aq, tr, tq)
    # texgs at another of its sizes against the anchors that size is for
    others = [("gpu_bits_per_texel", zip(BD_GPU_ANCHORS, ("astc", "bc")),
               lambda m, a: m.family == a),
              ("download_bits_per_texel", zip(BD_DOWNLOAD_ANCHORS, DOWNLOAD_CODECS),
               lambda m, a: m.codec == a)]
    for attr, anchors, is_anchor in others:
        mine = [m for m in measurements if m.codec == "texgs" and getattr(m, attr)]
        rr, rq = [getattr(m, attr) for m in mine], [m.psnr for m in mine]
        for name, anchor in anchors:
            ar, aq = _curve(measurements, lambda m, a=anchor: is_anchor(m, a))
            if ar and rr:
                out[name] = bd_rate(ar, aq, rr, rq)
    return out


def mean_bd_rates(textures: list[TextureReport]) -> dict[str, dict[str, Any]]:
    """Per anchor: the mean BD-rate over the textures where it is defined, and the count."""
    out: dict[str, dict[str, Any]] = {}
    for anchor in BD_ANCHORS + BD_GPU_ANCHORS + BD_DOWNLOAD_ANCHORS:
        vals = [t.bd_rate[anchor] for t in textures if t.bd_rate.get(anchor) is not None]
        seen = sum(1 for t in textures if anchor in t.bd_rate)
        if seen:
            out[anchor] = {"mean_percent": float(np.mean(vals)) if vals else None,
                           "textures": len(vals), "of": seen}
    return out


def run_report(paths: list[str | Path], out_dir: str | Path, cfg: EvalConfig,
               progress: Callable[[EvalProgress], None] | None = None) -> Report:
    """Evaluate every texture of ``paths`` and write the report into ``out_dir``.

    Inputs are all read (and rejected with :class:`InputError` / :class:`UnsupportedError`)
    before any encode; ``out_dir`` is created (:class:`OutputError` when it cannot be).
    """
    cfg.validate()
    if not paths:
        raise OptionError("no textures given")
    for p in paths:
        load_rgb8(p)  # every input is checked before the long work starts
    out = Path(out_dir)
    _make_out_dir(out)
    t0 = time.perf_counter()
    missing = probe_missing(cfg.codecs)
    total = cfg.units_per_texture() * len(paths)
    done = 0
    taken: set[str] = set()
    textures: list[TextureReport] = []

    def on_unit(label: str) -> None:
        nonlocal done
        if progress is not None:
            progress(EvalProgress(done, total, label))
        done += 1

    for p in paths:
        name = _slug(Path(p).stem, taken)
        textures.append(evaluate_texture(p, cfg, missing, name, on_unit))
    report = Report(config=cfg, textures=textures, missing=missing,
                    bd_rate_mean=mean_bd_rates(textures), seconds=0.0)
    report.seconds = time.perf_counter() - t0
    write_report(report, out)
    if progress is not None:
        progress(EvalProgress(total, total, "done"))
    return report


def _make_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the folder ({e.strerror})") from None


# ----------------------------------------------------------------------------- outputs


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _jsonable(obj: Any) -> Any:
    """Tuples -> lists, NaN/inf -> None, NumPy scalars -> Python, recursively."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return _finite(obj)


def report_json(report: Report) -> dict[str, Any]:
    """The ``results.json`` object: config, versions, missing codecs, every measurement,
    skipped encodes, BD-rates per texture and overall. Non-finite numbers become null."""
    cfg = asdict(report.config)
    return _jsonable({
        "schema": "texgs-eval/1",
        "config": cfg,
        "rate_definition": "bits_per_texel = size_bytes * 8 / (width * height)",
        "bd_rate_definition": "percent bit-rate change of texgs against the anchor at equal "
                              "PSNR (PCHIP of log10 rate over the shared PSNR interval); "
                              "negative = texgs needs fewer bits",
        "missing": report.missing,
        "seconds": report.seconds,
        "textures": [{"name": t.name, "path": t.path, "width": t.width, "height": t.height,
                      "normal_map": t.is_normal_map, "bd_rate_percent": t.bd_rate,
                      "skipped": t.skipped} for t in report.textures],
        "measurements": [asdict(m) for t in report.textures for m in t.measurements],
        "bd_rate_mean_percent": report.bd_rate_mean,
    })


def _fmt(v: float | None, digits: int = 2, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}{unit}"


def _bd_cell(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f} %"


def report_markdown(report: Report) -> str:
    """``results.md``: overall BD-rates, missing codecs, then per texture a table of every
    measurement and its BD-rates."""
    lines = ["# texgs evaluation", "",
             f"Rates: {', '.join(f'{r:g}' for r in report.config.rates)} bits per texel; "
             f"texgs steps {report.config.steps}; ASTC quality "
             f"{report.config.astc_quality:g}. Rate = stored bytes * 8 / texels. BD-rate: "
             "texgs against the anchor at equal PSNR (negative = fewer bits); \"(GPU memory)\": "
             "texgs at what an engine keeps on the GPU (records and tile index); "
             "\"(download)\": texgs at the size of its download container (texgs pack).", ""]
    if report.missing:
        lines += ["## Missing", "", "| codec / metric | reason |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(report.missing.items())]
        lines.append("")
    lines += ["## BD-rate of texgs, mean over textures", "",
              "| anchor | BD-rate | textures |", "|---|---:|---:|"]
    for anchor, v in report.bd_rate_mean.items():
        lines.append(f"| {anchor} | {_bd_cell(v['mean_percent'])} | {v['textures']} of "
                     f"{v['of']} |")
    lines.append("")
    for t in report.textures:
        normal = any(m.angular_mean_deg is not None for m in t.measurements)
        lines += [f"## {t.name}", "", f"{t.path}, {t.width}x{t.height}"
                  + (", normal map" if t.is_normal_map else ""), ""]
        head = "| codec | target bpp | bpp | PSNR dB | SSIM | FLIP |"
        sep = "|---|---:|---:|---:|---:|---:|"
        if normal:
            head += " angle mean / p99 deg |"
            sep += "---:|"
        lines += [head, sep]
        for m in t.measurements:
            dl = "".join(f" ({what} {v:.3f})" for what, v in
                         (("GPU", m.gpu_bits_per_texel),
                          ("download", m.download_bits_per_texel)) if v)
            row = (f"| {m.codec} | {_fmt(m.target_bpp, 2)} | {_fmt(m.bits_per_texel, 3)}"
                   f"{' (over)' if m.over_budget else ''}{dl} | {_fmt(m.psnr)} | "
                   f"{_fmt(m.ssim, 4)} | {_fmt(m.flip, 4)} |")
            if normal:
                row += f" {_fmt(m.angular_mean_deg)} / {_fmt(m.angular_p99_deg)} |"
            lines.append(row)
        for s in t.skipped:
            lines.append(f"| {s['codec']} | {_fmt(s['target_bpp'])} | skipped: "
                         f"{s['reason']} | | | |" + (" |" if normal else ""))
        lines += ["", "| BD-rate of texgs vs | " + " | ".join(t.bd_rate) + " |",
                  "|---|" + "---:|" * len(t.bd_rate),
                  "| | " + " | ".join(_bd_cell(v) for v in t.bd_rate.values()) + " |", ""]
    return "\n".join(lines) + "\n"


_STYLE = {"texgs": ("tab:red", "o", 2.5), TEXGS_DOWNLOAD_CURVE: ("tab:pink", "o", 1.5),
          TEXGS_GPU_CURVE: ("darkred", "o", 1.5),
          "astc": ("tab:blue", "s", 1.5),
          "bc": ("tab:cyan", "D", 0), "jpeg": ("tab:orange", "^", 1.2),
          "webp": ("tab:green", "v", 1.2), "avif": ("tab:purple", "<", 1.2),
          "jxl": ("tab:brown", ">", 1.2)}


def _series(measurements: list[Measurement]) -> dict[str, tuple[list[float], list[float]]]:
    """Curve name (texgs, astc, bc, each download codec) -> (rates, PSNRs) sorted by rate."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for m in measurements:
        key = m.family if m.family in ("astc", "bc") else m.codec
        if not math.isfinite(m.psnr):
            continue
        out.setdefault(key, ([], []))
        out[key][0].append(m.bits_per_texel)
        out[key][1].append(m.psnr)
        for curve, rate in ((TEXGS_DOWNLOAD_CURVE, m.download_bits_per_texel),
                            (TEXGS_GPU_CURVE, m.gpu_bits_per_texel)):
            if rate:
                out.setdefault(curve, ([], []))
                out[curve][0].append(rate)
                out[curve][1].append(m.psnr)
    for key, (r, q) in out.items():
        order = np.argsort(r)
        out[key] = ([r[i] for i in order], [q[i] for i in order])
    return out


def _plot(series: dict[str, tuple[list[float], list[float]]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6), dpi=100)
    for key, (r, q) in series.items():
        color, marker, width = _STYLE.get(key, ("black", "x", 1.0))
        ax.plot(r, q, color=color, marker=marker, linewidth=width,
                linestyle="-" if width else "none", label=key)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bits per texel (stored bytes)")
    ax.set_ylabel("PSNR (dB, RGB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def overall_series(report: Report) -> dict[str, tuple[list[float], list[float]]]:
    """Mean rate and mean PSNR over the textures for each (codec, target rate): the
    points of the overall plot (only points every texture has)."""
    groups: dict[tuple[str, str, float | None], list[Measurement]] = {}
    for t in report.textures:
        for m in t.measurements:
            key = m.family if m.family in ("astc", "bc") else m.codec
            groups.setdefault((key, m.codec, m.target_bpp), []).append(m)
    n = len(report.textures)
    out: dict[str, tuple[list[float], list[float]]] = {}
    for (key, _codec, _target), ms in groups.items():
        if len(ms) != n or not all(math.isfinite(m.psnr) for m in ms):
            continue
        out.setdefault(key, ([], []))
        out[key][0].append(float(np.mean([m.bits_per_texel for m in ms])))
        out[key][1].append(float(np.mean([m.psnr for m in ms])))
        for curve, attr in ((TEXGS_DOWNLOAD_CURVE, "download_bits_per_texel"),
                            (TEXGS_GPU_CURVE, "gpu_bits_per_texel")):
            if all(getattr(m, attr) for m in ms):
                out.setdefault(curve, ([], []))
                out[curve][0].append(float(np.mean([getattr(m, attr) for m in ms])))
                out[curve][1].append(float(np.mean([m.psnr for m in ms])))
    for key, (r, q) in out.items():
        order = np.argsort(r)
        out[key] = ([r[i] for i in order], [q[i] for i in order])
    return out


def detail_window(ref: np.ndarray, size: int) -> tuple[int, int, int]:
    """``(x0, y0, side)`` of the square window (side ``min(size, H, W)``) with the most
    gradient energy of the luminance: where compression errors are easiest to see."""
    h, w = ref.shape[:2]
    side = min(size, h, w)
    lum = ref[..., :3].mean(axis=2).astype(np.float64)
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, 1:] = np.abs(np.diff(lum, axis=1))
    gy[1:, :] = np.abs(np.diff(lum, axis=0))
    energy = np.pad((gx + gy).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 8)
    best, best_xy = -1.0, (0, 0)
    for y0 in list(range(0, h - side + 1, step)) + [h - side]:
        for x0 in list(range(0, w - side + 1, step)) + [w - side]:
            e = (energy[y0 + side, x0 + side] - energy[y0, x0 + side]
                 - energy[y0 + side, x0] + energy[y0, x0])
            if e > best:
                best, best_xy = e, (x0, y0)
    return best_xy[0], best_xy[1], side


def _save_crop(img: np.ndarray, window: tuple[int, int, int], zoom: int, path: Path) -> None:
    from PIL import Image

    x0, y0, side = window
    crop = img[y0:y0 + side, x0:x0 + side, :3]
    crop8 = (np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8)
    crop8 = np.repeat(np.repeat(crop8, zoom, axis=0), zoom, axis=1)
    Image.fromarray(crop8).save(path)


def _save_error_map(ref: np.ndarray, test: np.ndarray, window: tuple[int, int, int],
                    zoom: int, path: Path) -> None:
    """Mean absolute error over RGB, ``ERROR_MAP_FULL_SCALE`` at the top of the 'inferno'
    colour map (a grey ramp without matplotlib), upscaled like the crops."""
    from PIL import Image

    x0, y0, side = window
    err = np.abs(ref[y0:y0 + side, x0:x0 + side, :3] - test[y0:y0 + side, x0:x0 + side, :3])
    t = np.clip(err.mean(axis=2) / ERROR_MAP_FULL_SCALE, 0, 1)
    try:
        import matplotlib

        rgb = matplotlib.colormaps["inferno"](t)[..., :3]
    except Exception:
        rgb = np.repeat(t[..., None], 3, axis=2)
    img8 = (rgb * 255 + 0.5).astype(np.uint8)
    img8 = np.repeat(np.repeat(img8, zoom, axis=0), zoom, axis=1)
    Image.fromarray(img8).save(path)


def _nearest(measurements: list[Measurement], select: Callable[[Measurement], bool],
             rate: float) -> Measurement | None:
    cands = [m for m in measurements if select(m)]
    if not cands:
        return None
    return min(cands, key=lambda m: abs(math.log(m.bits_per_texel / rate)))


def comparison_rows(t: TextureReport) -> list[list[Measurement]]:
    """Per texgs rate: [texgs, the ASTC size nearest its measured rate, JPEG at the same
    target] (entries absent when that codec did not run)."""
    rows: list[list[Measurement]] = []
    for m in t.measurements:
        if m.codec != "texgs":
            continue
        row = [m]
        astc = _nearest(t.measurements, lambda x: x.family == "astc", m.bits_per_texel)
        if astc is not None:
            row.append(astc)
        jpeg = [x for x in t.measurements if x.codec == "jpeg" and x.target_bpp == m.target_bpp]
        row += jpeg
        rows.append(row)
    return rows


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0 8px 8px 0; vertical-align: top; }
figcaption { font-size: 0.8em; max-width: 256px; }
.row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
h2 { margin-bottom: 0.3em; }
img.pix { image-rendering: pixelated; }
.missing { color: #a00; }
section { border-top: 2px solid #888; margin-top: 1.5em; }
"""


def report_html(report: Report, images: dict[str, Any]) -> str:
    """``index.html``: overall plot and BD-rates, then per texture its plot, BD-rates, crops
    and error maps. ``images`` maps keys to paths relative to the report folder."""
    e = html.escape
    cfg = report.config
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>texgs evaluation</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>texgs evaluation</h1>",
             f"<p>{len(report.textures)} texture(s); rates "
             f"{', '.join(f'{r:g}' for r in cfg.rates)} bits per texel (stored bytes); texgs "
             f"steps {cfg.steps}; ASTC quality {cfg.astc_quality:g}; run time "
             f"{report.seconds:.0f} s. Data: <a href='results.json'>results.json</a>, "
             "tables: <a href='results.md'>results.md</a>.</p>"]
    if report.missing:
        parts.append("<p class='missing'>Missing (not measured): " + "; ".join(
            f"<b>{e(k)}</b>: {e(v)}" for k, v in sorted(report.missing.items())) + "</p>")
    parts.append("<div class='row'>")
    if "overall_plot" in images:
        parts.append(f"<img src='{e(images['overall_plot'])}' alt='overall rate-distortion'>")
    parts.append("<div><h2>BD-rate of texgs</h2><p>Mean over textures; negative = fewer "
                 "bits than the anchor at equal PSNR.</p><table><tr><th>anchor</th>"
                 "<th>BD-rate</th><th>textures</th></tr>")
    for anchor, v in report.bd_rate_mean.items():
        parts.append(f"<tr><td>{e(anchor)}</td><td>{_bd_cell(v['mean_percent'])}</td>"
                     f"<td>{v['textures']} of {v['of']}</td></tr>")
    parts.append("</table></div></div>")
    for t in report.textures:
        parts.append(f"<section><h2>{e(t.name)}</h2><p>{e(t.path)}, {t.width}x{t.height}"
                     + (", normal map (texgs stores x, y)" if t.is_normal_map else "")
                     + "</p>")
        parts.append("<div class='row'>")
        plot = images.get(f"plot:{t.name}")
        if plot:
            parts.append(f"<img src='{e(plot)}' alt='rate-distortion of {e(t.name)}'>")
        parts.append("<table><tr><th>BD-rate of texgs vs</th><th></th></tr>" + "".join(
            f"<tr><td>{e(a)}</td><td>{_bd_cell(v)}</td></tr>" for a, v in t.bd_rate.items())
            + "</table></div>")
        window = images.get(f"window:{t.name}")
        if window:
            x0, y0, side = window
            parts.append(f"<h3>Crops</h3><p>{side}x{side} texels at ({x0}, {y0}), the most "
                         f"detailed region, shown x{cfg.crop_zoom} (nearest). Error maps: "
                         f"mean absolute RGB error, black 0 to yellow "
                         f"{ERROR_MAP_FULL_SCALE:g} and above.</p>")
        fig_style = f" style='width:{window[2] * cfg.crop_zoom}px'" if window else ""
        for row in comparison_rows(t):
            parts.append("<div>")
            orig = images.get(f"crop:{t.name}:original")
            if orig:
                parts.append(f"<figure{fig_style}><img class='pix' src='{e(orig)}' "
                             "alt='original'>"
                             "<figcaption>original</figcaption></figure>")
            for m in row:
                key = f"crop:{t.name}:{m.codec}:{m.target_bpp}"
                if key not in images:
                    continue
                what = (f"{e(m.codec)} {m.bits_per_texel:.2f} bpp, PSNR {_fmt(m.psnr)} dB"
                        + (f", angle {_fmt(m.angular_mean_deg)} deg"
                           if m.angular_mean_deg is not None else ""))
                parts.append(f"<figure{fig_style}><img class='pix' src='{e(images[key])}' "
                             f"alt='{e(m.codec)}'><br><img class='pix' "
                             f"src='{e(images['err' + key[4:]])}' alt='error {e(m.codec)}'>"
                             f"<figcaption>{what}</figcaption></figure>")
            parts.append("</div>")
        parts.append("<details><summary>All measurements</summary><table><tr><th>codec</th>"
                     "<th>target bpp</th><th>bpp</th><th>PSNR dB</th><th>SSIM</th>"
                     "<th>FLIP</th><th>angle deg</th></tr>")
        for m in t.measurements:
            parts.append(f"<tr><td>{e(m.codec)}</td><td>{_fmt(m.target_bpp)}</td>"
                         f"<td>{_fmt(m.bits_per_texel, 3)}</td><td>{_fmt(m.psnr)}</td>"
                         f"<td>{_fmt(m.ssim, 4)}</td><td>{_fmt(m.flip, 4)}</td>"
                         f"<td>{_fmt(m.angular_mean_deg)}</td></tr>")
        parts.append("</table></details></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: Report, out_dir: str | Path) -> None:
    """Write results.json, results.md, plots (``plots/``), crops (``crops/``) and
    index.html into ``out_dir``; every image is referenced by a relative path. Without
    matplotlib the plots are left out and listed under ``missing["plots"]``."""
    out = Path(out_dir)
    _make_out_dir(out)
    images: dict[str, Any] = {}
    try:
        import matplotlib  # noqa: F401
        have_plots = True
    except Exception as exc:
        report.missing["plots"] = f"rate-distortion plots need 'matplotlib': {exc}"
        have_plots = False
    (out / "plots").mkdir(exist_ok=True)
    (out / "crops").mkdir(exist_ok=True)
    if have_plots:
        _plot(overall_series(report), f"mean over {len(report.textures)} texture(s)",
              out / "plots" / "overall.png")
        images["overall_plot"] = "plots/overall.png"
    for t in report.textures:
        if have_plots:
            rel = f"plots/{t.name}.png"
            _plot(_series(t.measurements), t.name, out / rel)
            images[f"plot:{t.name}"] = rel
        if t.original is None:
            continue
        window = detail_window(t.original, report.config.crop)
        images[f"window:{t.name}"] = window
        zoom = report.config.crop_zoom
        rel = f"crops/{t.name}_original.png"
        _save_crop(t.original, window, zoom, out / rel)
        images[f"crop:{t.name}:original"] = rel
        for row in comparison_rows(t):
            for m in row:
                tag = f"{m.codec}_{m.target_bpp:g}" if m.target_bpp is not None else m.codec
                key = f"{t.name}:{m.codec}:{m.target_bpp}"
                if f"crop:{key}" in images:
                    continue
                decoded = t.decoded.get((m.codec, m.target_bpp))
                if decoded is None:
                    continue
                crop_rel = f"crops/{t.name}_{tag}.png"
                err_rel = f"crops/{t.name}_{tag}_error.png"
                _save_crop(decoded, window, zoom, out / crop_rel)
                _save_error_map(t.original, decoded, window, zoom, out / err_rel)
                images[f"crop:{key}"] = crop_rel
                images[f"err:{key}"] = err_rel
    (out / "results.json").write_text(json.dumps(report_json(report), indent=2,
                                                 allow_nan=False) + "\n")
    (out / "results.md").write_text(report_markdown(report))
    (out / "index.html").write_text(report_html(report, images))
