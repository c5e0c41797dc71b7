"""Render a textured, tilted plane with the GLSL fragment-shader path (OpenGL 4.3 via
moderngl; Mesa llvmpipe is enough), with and without minification filtering.

    python samples/render_plane.py [ASSET.tgs] [-o docs/images]

Without an asset it bakes samples/bricks.png with --wrap repeat first (about a minute).
Writes plane_unfiltered.png, plane_filtered.png and plane_compare.png (side by side).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs.decode import footprint_variance  # noqa: E402
from texgs.glsl_runner import create_context, glsl_source  # noqa: E402
from texgs.images import atomic_write_bytes, encode_png  # noqa: E402
from texgs.runtime import build_gpu_buffers  # noqa: E402

MAX_TEXELS_PER_PIXEL = 8.0  # filtering saturates beyond this footprint


def perspective(fovy: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(fovy / 2)
    return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                     [0, 0, -1, 0]], np.float32)


def look_at(eye, target, up) -> np.ndarray:
    eye, target, up = (np.asarray(v, np.float32) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4, dtype=np.float32)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def render(asset: fmt.Asset, size=(640, 360), uv_repeat: float = 12.0) -> dict[str, np.ndarray]:
    ctx = create_context()
    bufs = build_gpu_buffers(asset, filter_max_var=float(footprint_variance(MAX_TEXELS_PER_PIXEL)))
    keep = []
    for i, arr in enumerate((bufs.meta, bufs.records, bufs.tile_offsets, bufs.tile_ids)):
        b = ctx.buffer(arr.astype("<u4").tobytes())
        b.bind_to_storage_buffer(i)
        keep.append(b)
    prog = ctx.program(vertex_shader=glsl_source("plane.vert"),
                       fragment_shader=glsl_source("plane.frag"))
    quad = np.array([[-1, 0, -1], [1, 0, -1], [-1, 0, 1], [1, 0, 1]], np.float32) * \
        np.array([1, 1, 1], np.float32)
    vbo = ctx.buffer(quad.tobytes())
    vao = ctx.vertex_array(prog, [(vbo, "3f", "in_pos")])
    w, h = size
    mvp = perspective(math.radians(50), w / h, 0.05, 20.0) @ look_at((0, 0.18, 1.05),
                                                                      (0, 0.0, -0.4), (0, 1, 0))
    prog["mvp"].write(mvp.T.copy().tobytes())
    prog["uv_repeat"] = uv_repeat
    out = {}
    for name, flag in (("unfiltered", 0), ("filtered", 1)):
        fbo = ctx.simple_framebuffer((w, h), components=4, dtype="f4")
        fbo.use()
        fbo.clear(0.55, 0.7, 0.9, 1.0)
        prog["use_filter"] = flag
        vao.render(mode=5)  # triangle strip
        img = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(h, w, 4)
        out[name] = img[::-1, :, :3].copy()
        fbo.release()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("asset", nargs="?", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args()
    if args.asset is None:
        from texgs.bake import BakeConfig, bake_file

        args.asset = args.out / "bricks_repeat.tgs"
        bake_file(ROOT / "samples" / "bricks.png", args.asset,
                  BakeConfig(bpp=2.0, repeat_x=True, repeat_y=True))
    asset = fmt.read_asset_file(args.asset)
    imgs = render(asset)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, img in imgs.items():
        atomic_write_bytes(args.out / f"plane_{name}.png", encode_png(img))
    sep = np.ones((imgs["filtered"].shape[0], 6, 3), np.float32)
    atomic_write_bytes(args.out / "plane_compare.png",
                       encode_png(np.concatenate([imgs["unfiltered"], sep, imgs["filtered"]], 1)))
    print(f"wrote {args.out}/plane_unfiltered.png, plane_filtered.png, plane_compare.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
