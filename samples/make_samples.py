"""Generate the procedural sample textures used by texgs tests and benchmarks.

Usage::

    python samples/make_samples.py            # writes into samples/
    python samples/make_samples.py OUT_DIR    # writes into OUT_DIR

Writes four 256x256 RGB PNGs, using only NumPy and Pillow:

* ``bricks.png``   -- running-bond brick wall, mortar lines, per-brick tint, grain noise
* ``sign.png``     -- a coloured sign panel with a border and large "TEXGS" lettering
* ``gradient.png`` -- smooth 2D colour gradient under a radial vignette
* ``noise.png``    -- multi-octave value noise shaded like rusty metal

Everything is driven by fixed seeds, and the PNGs are written without metadata, so two
runs produce byte-identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 256
SEED = 20240611
NAMES = ("bricks.png", "sign.png", "gradient.png", "noise.png")


# ----------------------------------------------------------------------------- helpers


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float array in [0, 1] (H, W, 3) -> uint8, rounded and clipped."""
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _value_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """One octave of tileable value noise in [0, 1], shape (size, size).

    A random lattice of ``cells x cells`` values is interpolated with a smoothstep
    bilinear blend; the lattice wraps so the result tiles.
    """
    lattice = rng.random((cells, cells))
    coords = np.arange(size, dtype=np.float64) * cells / size
    i0 = np.floor(coords).astype(np.int64)
    f = _smoothstep(coords - i0)
    i0 %= cells
    i1 = (i0 + 1) % cells
    # interpolate along x (columns) then y (rows)
    top = lattice[i0][:, i0] * (1 - f)[None, :] + lattice[i0][:, i1] * f[None, :]
    bot = lattice[i1][:, i0] * (1 - f)[None, :] + lattice[i1][:, i1] * f[None, :]
    return top * (1 - f)[:, None] + bot * f[:, None]


def _fbm(size: int, rng: np.random.Generator, base_cells: int = 4, octaves: int = 5,
         gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value-noise octaves, normalised to [0, 1], shape (size, size)."""
    total = np.zeros((size, size))
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        cells = min(base_cells * (2 ** o), size)
        total += amp * _value_noise(size, cells, rng)
        norm += amp
        amp *= gain
    total /= norm
    lo, hi = total.min(), total.max()
    return (total - lo) / (hi - lo)


# ----------------------------------------------------------------------------- textures


def make_bricks(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Running-bond brick wall: 32x16 px courses offset by half a brick every other row."""
    brick_w, brick_h, mortar = 32, 16, 2
    yy, xx = np.mgrid[0:size, 0:size]
    row = yy // brick_h
    shifted_x = xx + (row % 2) * (brick_w // 2)
    col = shifted_x // brick_w
    in_x = shifted_x % brick_w
    in_y = yy % brick_h
    is_mortar = (in_x < mortar) | (in_y < mortar)

    n_rows = size // brick_h + 1
    n_cols = size // brick_w + 2
    base = np.array([0.62, 0.27, 0.18])
    tints = base[None, None, :] * (0.75 + 0.45 * rng.random((n_rows, n_cols, 1)))
    tints[..., 1] += 0.06 * rng.standard_normal((n_rows, n_cols))  # hue jitter
    brick_rgb = tints[row, col]

    grain = _fbm(size, rng, base_cells=16, octaves=3)[..., None]
    brick_rgb = brick_rgb * (0.85 + 0.3 * grain)
    # slight darkening at brick edges (bevel)
    edge = np.minimum.reduce([in_x - mortar, brick_w - 1 - in_x, in_y - mortar,
                              brick_h - 1 - in_y]).astype(np.float64)
    brick_rgb *= (0.8 + 0.2 * np.clip(edge / 3.0, 0, 1))[..., None]

    mortar_rgb = np.array([0.72, 0.70, 0.66])[None, None, :] * (0.9 + 0.15 * grain)
    rgb = np.where(is_mortar[..., None], mortar_rgb, brick_rgb)
    rgb += 0.02 * rng.standard_normal(rgb.shape)
    return _to_uint8(rgb)


def _load_font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont | None:
    try:
        return ImageFont.load_default(size=px)  # Pillow >= 10.1 with FreeType
    except TypeError:
        return None
    except Exception:  # FreeType missing at runtime
        return None


def make_sign(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A dark-teal panel with a cream border, large 'TEXGS' and a smaller caption."""
    img = Image.new("RGB", (size, size), (38, 41, 46))  # wall behind the sign
    draw = ImageDraw.Draw(img)
    m = 20
    draw.rounded_rectangle((m, m + 30, size - m, size - m - 30), radius=14,
                           fill=(236, 224, 190))
    draw.rounded_rectangle((m + 8, m + 38, size - m - 8, size - m - 38), radius=9,
                           fill=(18, 102, 110))
    for cx in (m + 14, size - m - 14):  # bolts
        for cy in (m + 44, size - m - 44):
            draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=(190, 186, 170))

    font = _load_font(54)
    small = _load_font(16)
    if font is not None and small is not None:
        draw.text((size // 2, size // 2 - 8), "TEXGS", font=font, fill=(250, 214, 72),
                  anchor="mm")
        draw.text((size // 2, size // 2 + 36), "GAUSSIAN TEXTURES", font=small,
                  fill=(236, 224, 190), anchor="mm")
    else:  # bitmap fallback: draw small, upscale with NEAREST, paste
        for text, scale, cy, fill in (("TEXGS", 5, size // 2 - 8, (250, 214, 72)),
                                      ("GAUSSIAN TEXTURES", 1, size // 2 + 36,
                                       (236, 224, 190))):
            tiny = Image.new("L", (len(text) * 6 + 2, 12), 0)
            ImageDraw.Draw(tiny).text((1, 1), text, fill=255)
            big = tiny.resize((tiny.width * scale, tiny.height * scale), Image.NEAREST)
            colour = Image.new("RGB", big.size, fill)
            img.paste(colour, (size // 2 - big.width // 2, cy - big.height // 2), big)

    rgb = np.asarray(img, dtype=np.float64) / 255.0
    # a little weathering: low-frequency dirt plus faint grain
    dirt = _fbm(size, rng, base_cells=4, octaves=4)[..., None]
    rgb = rgb * (0.88 + 0.12 * dirt) + 0.01 * rng.standard_normal(rgb.shape)
    return _to_uint8(rgb)


def make_gradient(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Smooth bilinear blend of four corner colours under a radial vignette."""
    del rng  # fully analytic
    t = np.linspace(0.0, 1.0, size)
    u, v = np.meshgrid(t, t)  # u along x, v along y
    c00 = np.array([0.95, 0.45, 0.20])  # top-left: orange
    c10 = np.array([0.90, 0.85, 0.30])  # top-right: yellow
    c01 = np.array([0.20, 0.30, 0.75])  # bottom-left: blue
    c11 = np.array([0.55, 0.20, 0.60])  # bottom-right: purple
    u3, v3 = u[..., None], v[..., None]
    rgb = (c00 * (1 - u3) * (1 - v3) + c10 * u3 * (1 - v3) + c01 * (1 - u3) * v3
           + c11 * u3 * v3)
    r = np.hypot(u - 0.5, v - 0.5) / np.hypot(0.5, 0.5)
    vignette = 1.0 - 0.65 * _smoothstep(np.clip(r, 0, 1)) ** 1.2
    return _to_uint8(rgb * vignette[..., None])


def make_noise(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Rusty metal: fBm drives a blend between steel grey and rust browns, plus pits."""
    base = _fbm(size, rng, base_cells=4, octaves=6, gain=0.55)
    rust_mask = _smoothstep(np.clip((_fbm(size, rng, base_cells=3, octaves=5) - 0.4) / 0.3,
                                    0, 1))
    steel = np.array([0.50, 0.52, 0.55])[None, None, :] * (0.7 + 0.5 * base[..., None])
    rust_dark = np.array([0.30, 0.13, 0.06])
    rust_light = np.array([0.72, 0.38, 0.14])
    rust = rust_dark + (rust_light - rust_dark) * base[..., None]
    rgb = steel * (1 - rust_mask[..., None]) + rust * rust_mask[..., None]
    pits = _fbm(size, rng, base_cells=32, octaves=2)
    rgb *= (1.0 - 0.35 * (pits > 0.78))[..., None]
    rgb += 0.015 * rng.standard_normal(rgb.shape)
    return _to_uint8(rgb)


# ----------------------------------------------------------------------------- main


def generate() -> dict[str, np.ndarray]:
    """Return ``{file name: uint8 (256, 256, 3) array}``; each texture has its own seed."""
    makers = (make_bricks, make_sign, make_gradient, make_noise)
    return {name: fn(np.random.default_rng([SEED, i]))
            for i, (name, fn) in enumerate(zip(NAMES, makers))}


def main(out_dir: str | Path | None = None) -> list[Path]:
    """Write the four sample PNGs into ``out_dir`` (default: this script's folder)."""
    out = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, arr in generate().items():
        path = out / name
        # no metadata is written, so the bytes depend only on the pixels
        Image.fromarray(arr).save(path, format="PNG", optimize=True)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in main(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"{p}  {p.stat().st_size / 1024:.1f} KiB")
