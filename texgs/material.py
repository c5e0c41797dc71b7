"""Material texture sets: which maps there are, what they mean, and what the baker fits.

NumPy and the standard library only (the baker imports this; so do the CLI and the
benchmarks). A set is given explicitly (``--map KIND=PATH``), by a TOML manifest, or by a
folder whose file names follow common conventions (``NAME_Normal.png``, ``NAME_gloss.png``...).

Each map becomes a :class:`PreparedMap`: its channel table entries (docs/FORMAT.md), the
channels that are fitted and their targets in the fitting space, and the reference texels
the results are measured against. Conventions (docs/CONVENTIONS.md):

- sRGB maps (base colour, emissive) are fitted and decoded in their sRGB encoding;
  linear maps (normal, roughness, gloss, metalness, occlusion, masks, alpha) stay linear.
- Normal maps store x and y (encoded (n + 1) / 2); z is rebuilt at decode.
- A channel constant over its map is stored as a constant (0 bits per Gaussian).
- HDR (float) maps are fitted as log2(x + LOG2_OFFSET), so the error is relative.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import format as fmt
from .errors import InputError, OptionError

#: Map kinds by the names users write (CLI, manifest).
KIND_BY_NAME = {name: kind for kind, name in fmt.MAP_NAMES.items()}

#: File-name suffixes (after the last "_" or "-", case-insensitive) that name a map's kind.
SUFFIXES: dict[str, int] = {}
for _kind, _names in {
    fmt.MAP_BASECOLOR: ("basecolor", "basecolour", "albedo", "diffuse", "diff", "color",
                        "colour", "col", "base", "d"),
    fmt.MAP_NORMAL: ("normal", "normals", "normalmap", "nrm", "nor", "norm", "nm", "n"),
    fmt.MAP_ROUGHNESS: ("roughness", "rough", "rgh"),
    fmt.MAP_GLOSS: ("gloss", "glossiness", "smoothness"),
    fmt.MAP_METALNESS: ("metal", "metallic", "metalness", "mtl"),
    fmt.MAP_OCCLUSION: ("ao", "occlusion", "ambientocclusion"),
    fmt.MAP_ORM: ("orm", "arm"),
    fmt.MAP_EMISSIVE: ("emissive", "emission", "emit", "glow"),
    fmt.MAP_ALPHA: ("alpha", "opacity"),
    fmt.MAP_MASK: ("mask", "masks"),
}.items():
    for _n in _names:
        SUFFIXES[_n] = _kind

#: Loss weight of each map kind in a set (the set loss is a weighted mean of per-map log
#: MSEs). Normal maps count twice: their angular error is what lighting shows, and at 1 bpp
#: of set on ../shared/textures/sets weight 2 cut the mean normal error from 5.81 to 5.36
#: degrees for the same mean map PSNR (docs/BAKING.md "Normal map weight").
DEFAULT_WEIGHTS = {kind: 1.0 for kind in fmt.MAP_NAMES}
DEFAULT_WEIGHTS[fmt.MAP_NORMAL] = 2.0

#: Address modes by the names users write (--wrap, manifests): (repeat_x, repeat_y).
WRAP_MODES = {"clamp": (False, False), "repeat": (True, True), "repeat-x": (True, False),
              "repeat-y": (False, True)}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tga", ".webp", ".bmp", ".tif", ".tiff", ".exr")
_SRGB_KINDS = (fmt.MAP_BASECOLOR, fmt.MAP_EMISSIVE)


@dataclass
class MapSource:
    """One input map before preparation: its kind, file and loss weight (None: the kind's
    :data:`DEFAULT_WEIGHTS`)."""

    kind: int
    path: str
    weight: float | None = None

    def __post_init__(self) -> None:
        if self.weight is None:
            self.weight = DEFAULT_WEIGHTS.get(self.kind, 1.0)


@dataclass
class PreparedMap:
    """One map, ready to fit.

    ``channels``: its channel-table entries (``bits`` of fitted channels are filled in by the
    baker; constant and rebuilt channels have 0 bits). ``fitted``: component indices that are
    fitted. ``target``: float32 [h, w, len(fitted)] in the fitting space. ``reference``:
    float32 [h, w, c], the map as the decoder must reproduce it (its own encoding; linear
    values for HDR). ``informative``: components that vary over the source (the channels
    quality is measured on).
    """

    kind: int
    path: str
    width: int
    height: int
    flags: int
    channels: list[fmt.ChannelInfo]
    fitted: list[int]
    target: np.ndarray = field(repr=False)
    reference: np.ndarray = field(repr=False)
    informative: list[int]
    weight: float = 1.0
    hdr: bool = False
    note: str = ""  # a remark for the user about how the map was stored

    @property
    def name(self) -> str:
        return fmt.MAP_NAMES[self.kind]

    @property
    def alpha_component(self) -> int | None:
        if self.flags & fmt.MAP_FLAG_ALPHA:
            return len(self.channels) - 1
        if self.kind == fmt.MAP_ALPHA:
            return 0
        return None


def kind_from_name(name: str, where: str = "--map") -> int:
    """``"normal"`` -> fmt.MAP_NORMAL; raises :class:`OptionError` for unknown names."""
    key = name.strip().lower()
    if key not in KIND_BY_NAME:
        raise OptionError(f"{where}: unknown map kind {name!r} (expected one of "
                          f"{', '.join(sorted(KIND_BY_NAME))})")
    return KIND_BY_NAME[key]


def kind_from_filename(path: str | Path) -> int | None:
    """The kind a file name's suffix names (``brick_Normal.png`` -> normal), else None."""
    stem = Path(path).stem
    parts = re.split(r"[_\-. ]", stem)
    if len(parts) < 2:
        return None
    return SUFFIXES.get(parts[-1].lower())


def discover_maps(folder: str | Path) -> list[MapSource]:
    """The maps of a set in ``folder`` by file-name convention: every image whose suffix
    names a kind, plus the one image without a known suffix as base colour."""
    d = Path(folder)
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise InputError(f"{d}: no image files in this folder")
    found: dict[int, Path] = {}
    plain: list[Path] = []
    for p in files:
        kind = kind_from_filename(p)
        if kind is None:
            plain.append(p)
            continue
        if kind in found:
            raise InputError(f"{d}: two {fmt.MAP_NAMES[kind]} maps ({found[kind].name}, "
                             f"{p.name}); name the maps with --map or a manifest")
        found[kind] = p
    if plain:
        if fmt.MAP_BASECOLOR in found or len(plain) > 1:
            raise InputError(f"{d}: cannot tell what {', '.join(p.name for p in plain)} "
                             f"holds; name the maps with --map or a manifest")
        found[fmt.MAP_BASECOLOR] = plain[0]
    return [MapSource(k, str(found[k]), DEFAULT_WEIGHTS[k]) for k in sorted(found)]


def read_manifest(path: str | Path) -> tuple[list[MapSource], dict]:
    """Maps from a TOML manifest; returns (maps, other settings such as ``wrap``).

    ::

        wrap = "repeat"            # optional: clamp | repeat | repeat-x | repeat-y
        [maps]
        basecolor = "brick.png"    # paths relative to the manifest
        normal = { path = "brick_n.png", weight = 2.0 }
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p}: not a valid TOML manifest ({e})") from None
    maps_tab = data.get("maps")
    if not isinstance(maps_tab, dict) or not maps_tab:
        raise InputError(f"{p}: the manifest needs a [maps] table naming at least one map")
    extra = {k: v for k, v in data.items() if k != "maps"}
    unknown = set(extra) - {"wrap", "name"}
    if unknown:
        raise InputError(f"{p}: unknown manifest keys: {', '.join(sorted(unknown))}")
    out = []
    for name, val in maps_tab.items():
        try:
            kind = kind_from_name(name, str(p))
        except OptionError as e:
            raise InputError(str(e)) from None
        weight = DEFAULT_WEIGHTS[kind]
        if isinstance(val, dict):
            rel = val.get("path")
            weight = val.get("weight", weight)
            bad = set(val) - {"path", "weight"}
            if bad:
                raise InputError(f"{p}: map {name}: unknown keys {', '.join(sorted(bad))}")
        else:
            rel = val
        if not isinstance(rel, str) or not rel:
            raise InputError(f"{p}: map {name}: path must be a string")
        if not isinstance(weight, (int, float)) or not 0 < float(weight) < 1e6:
            raise InputError(f"{p}: map {name}: weight must be a positive number")
        out.append(MapSource(kind, str((p.parent / rel)), float(weight)))
    return out, extra


def parse_map_option(text: str) -> MapSource:
    """``--map normal=path/to/n.png`` -> MapSource."""
    if "=" not in text:
        raise OptionError(f"--map {text!r}: expected KIND=PATH (e.g. normal=brick_n.png)")
    name, path = text.split("=", 1)
    kind = kind_from_name(name)
    if not path:
        raise OptionError(f"--map {text!r}: empty path")
    return MapSource(kind, path, DEFAULT_WEIGHTS[kind])


def parse_weight_option(text: str) -> tuple[int, float]:
    """``--weight normal=2`` -> (fmt.MAP_NORMAL, 2.0)."""
    if "=" not in text:
        raise OptionError(f"--weight {text!r}: expected KIND=NUMBER")
    name, val = text.split("=", 1)
    kind = kind_from_name(name, "--weight")
    try:
        w = float(val)
    except ValueError:
        raise OptionError(f"--weight {text!r}: {val!r} is not a number") from None
    if not 0 < w < 1e6:
        raise OptionError(f"--weight {text!r}: must be positive")
    return kind, w


def load_map_image(path: str | Path) -> tuple[np.ndarray, bool]:
    """Read a map: (float32 [h, w, c], hdr). LDR files give [0, 1] in the file's encoding;
    HDR files (OpenEXR, float TIFF) give linear values >= 0."""
    from .images import load_texture

    p = Path(path)
    suf = p.suffix.lower()
    if suf in (".exr", ".tif", ".tiff") and p.is_file():
        from . import hdr_io

        if suf == ".exr" or hdr_io.probe_float_tiff(p):
            img, _ = hdr_io.load_hdr(p)
            return img, True
    img, _ = load_texture(p)
    return img, False


# A normal map is stored as x, y with z rebuilt only when it holds unit-length tangent-space
# normals: at most this share of texels may decode to a length off 1 by more than
# NORMAL_LENGTH_TOL or point below the surface (z < -NORMAL_LENGTH_TOL). Object-space or
# non-normalized maps (e.g. ../shared/textures/single/stk_goatSkull_a_n.png: 44 % of its
# texels) keep all three channels, since rebuilding z would change them.
NORMAL_LENGTH_TOL = 0.1
NORMAL_OFF_SHARE = 0.01


def normal_off_share(image: np.ndarray) -> float:
    """Share of texels of an encoded normal map [h, w, >= 3] in [0, 1] that are not unit
    tangent-space normals (see NORMAL_LENGTH_TOL)."""
    v = image[..., :3].astype(np.float64) * 2.0 - 1.0
    length = np.sqrt((v * v).sum(-1))
    off = (np.abs(length - 1.0) > NORMAL_LENGTH_TOL) | (v[..., 2] < -NORMAL_LENGTH_TOL)
    return float(off.mean())


def _constant(ch: np.ndarray) -> float | None:
    lo, hi = float(ch.min()), float(ch.max())
    return float(np.float32(lo)) if hi - lo <= 1e-7 else None


def prepare_map(src: MapSource, image: np.ndarray | None = None, hdr: bool | None = None,
                constants: bool = True) -> PreparedMap:
    """Build the channel entries and fitting targets of one map (see module docstring).

    ``image``: float32 [h, w, c] (read from ``src.path`` when None).
    """
    if image is None:
        image, hdr = load_map_image(src.path)
    hdr = bool(hdr)
    h, w, c = image.shape
    kind = src.kind
    where = src.path
    if not 1 <= c <= 4:
        raise InputError(f"{where}: {c} channels, expected 1 to 4")
    flags = 0
    note = ""
    if kind == fmt.MAP_NORMAL:
        if c < 3:
            raise InputError(f"{where}: a normal map needs x, y, z in RGB ({c} channel(s))")
        if hdr:
            raise InputError(f"{where}: float normal maps are not supported (use 8/16-bit)")
        off = normal_off_share(image)
        if off <= NORMAL_OFF_SHARE:
            flags |= fmt.MAP_FLAG_NORMAL_Z
        else:
            note = (f"{off:.0%} of its texels are not unit-length tangent-space normals: "
                    "x, y and z are all stored (z is not rebuilt)")
    if kind == fmt.MAP_BASECOLOR and c in (2, 4):
        flags |= fmt.MAP_FLAG_ALPHA
    encodings = []
    for comp in range(c):
        is_alpha = (flags & fmt.MAP_FLAG_ALPHA) and comp == c - 1
        if hdr and not is_alpha and kind != fmt.MAP_ALPHA:
            encodings.append(fmt.ENCODING_LOG2)
        elif kind in _SRGB_KINDS and not is_alpha:
            encodings.append(fmt.ENCODING_SRGB)
        else:
            encodings.append(fmt.ENCODING_LINEAR)
    if hdr and not np.isfinite(image).all():
        raise InputError(f"{where}: non-finite values")
    space = image.astype(np.float32).copy()
    for comp, enc in enumerate(encodings):
        if enc == fmt.ENCODING_LOG2:
            space[..., comp] = np.log2(image[..., comp].astype(np.float64) +
                                       fmt.LOG2_OFFSET).astype(np.float32)
    channels: list[fmt.ChannelInfo] = []
    fitted: list[int] = []
    informative: list[int] = []
    for comp in range(c):
        const = _constant(image[..., comp])
        if const is None:
            informative.append(comp)
        if flags & fmt.MAP_FLAG_NORMAL_Z and comp == 2:
            channels.append(fmt.ChannelInfo(kind, comp, encodings[comp], 0, 1.0, 1.0, 1.0))
            continue
        if const is not None and constants:
            v = float(np.float32(space[0, 0, comp]))
            channels.append(fmt.ChannelInfo(kind, comp, encodings[comp], 0, v, v, v))
            continue
        channels.append(fmt.ChannelInfo(kind, comp, encodings[comp], 8))
        fitted.append(comp)
    if not fitted:
        # every channel is constant: fit the first one anyway so the map has a field
        fitted = [0]
        ch = channels[0]
        channels[0] = fmt.ChannelInfo(kind, 0, ch.encoding, 8)
    target = np.ascontiguousarray(space[..., fitted], np.float32)
    return PreparedMap(kind=kind, path=src.path, width=w, height=h, flags=flags,
                       channels=channels, fitted=fitted, target=target,
                       reference=np.ascontiguousarray(image, np.float32),
                       informative=informative or list(range(c)), weight=src.weight, hdr=hdr,
                       note=note)


def prepare_set(sources: list[MapSource]) -> list[PreparedMap]:
    """Prepare every map; checks the set (kinds unique, at most fmt.MAX_MAPS maps)."""
    if not sources:
        raise OptionError("no maps given")
    if len(sources) > fmt.MAX_MAPS:
        raise OptionError(f"{len(sources)} maps; at most {fmt.MAX_MAPS} per set")
    seen: dict[int, str] = {}
    for s in sources:
        if s.kind in seen:
            raise OptionError(f"two {fmt.MAP_NAMES[s.kind]} maps: {seen[s.kind]} and {s.path}")
        seen[s.kind] = s.path
    maps = [prepare_map(s) for s in sources]
    if sum(len(m.channels) for m in maps) > fmt.MAX_CHANNELS:
        raise OptionError(f"the set has more than {fmt.MAX_CHANNELS} channels")
    return maps
