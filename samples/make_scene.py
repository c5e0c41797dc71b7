"""Generate the small glTF 2.0 sample scene used by the `texgs gltf` tests and docs.

Usage::

    python samples/make_scene.py              # writes samples/scene/
    python samples/make_scene.py OUT_DIR      # writes into OUT_DIR

Writes ``scene.gltf`` (geometry in a data-URI buffer) and five 64x64 PNGs, with NumPy,
Pillow and pygltflib only; fixed seeds and PNGs without metadata, so two runs give
byte-identical files. The scene is three quads in a row:

* ``tiles_a``: base colour (``tiles_basecolor.png``), a tangent-space normal map
  (``tiles_normal.png``) and a packed occlusion/roughness/metalness image
  (``tiles_orm.png``: R occlusion, G roughness, B metalness) used by both
  ``metallicRoughnessTexture`` and ``occlusionTexture``; sampler REPEAT.
* ``tiles_b``: the same three textures with another base colour factor, so the two
  materials share one texture set (baked once).
* ``leaf_mask``: an RGBA base colour (``leaf_basecolor.png``) with ``alphaMode`` MASK and a
  normal map (``leaf_normal.png``); sampler CLAMP_TO_EDGE.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import numpy as np
import pygltflib as gl
from PIL import Image

SIZE = 64
SEED = 7
REPEAT = 10497
CLAMP_TO_EDGE = 33071
LINEAR = 9729
LINEAR_MIPMAP_LINEAR = 9987


def _u8(img: np.ndarray) -> np.ndarray:
    """float [H, W, C] in [0, 1] -> uint8, rounded and clipped."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _normal_from_height(height: np.ndarray, strength: float) -> np.ndarray:
    """A tangent-space normal map [H, W, 3] encoded (n + 1) / 2 from a tiling height field."""
    dx = (np.roll(height, -1, axis=1) - np.roll(height, 1, axis=1)) * 0.5
    dy = (np.roll(height, -1, axis=0) - np.roll(height, 1, axis=0)) * 0.5
    n = np.stack([-dx * strength, dy * strength, np.ones_like(height)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return (n + 1.0) * 0.5


def tile_maps(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Square tiles with grout: base colour, normal and packed ORM, all tiling."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    cell = 16
    gx, gy = x % cell, y % cell
    grout = ((np.minimum(gx, cell - 1 - gx) < 1.5) | (np.minimum(gy, cell - 1 - gy) < 1.5))
    tint = rng.uniform(0.75, 1.05, size=(SIZE // cell, SIZE // cell))
    tile_tint = tint[(y // cell).astype(int), (x // cell).astype(int)]
    grain = rng.normal(0.0, 0.03, size=(SIZE, SIZE))
    base = np.stack([0.62 * tile_tint, 0.36 * tile_tint, 0.24 * tile_tint], axis=-1)
    base = np.where(grout[..., None], np.array([0.55, 0.53, 0.50]), base) + grain[..., None]
    height = np.where(grout, 0.0, 1.0) + grain * 0.5
    occlusion = np.where(grout, 0.55, 1.0) - np.abs(grain)
    roughness = np.where(grout, 0.95, 0.45 + 0.3 * (tile_tint - 0.75))
    metalness = np.zeros_like(roughness)
    return {"tiles_basecolor.png": base,
            "tiles_normal.png": _normal_from_height(height, 2.0),
            "tiles_orm.png": np.stack([occlusion, roughness, metalness], axis=-1)}


def leaf_maps(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A leaf shape: RGBA base colour (alpha is the cut-out) and a normal map with veins."""
    y, x = (np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5) / SIZE
    u, v = x - 0.5, y - 0.5
    inside = (u / 0.30) ** 2 + (v / 0.46) ** 2 < 1.0
    vein = np.exp(-(u / 0.02) ** 2) + 0.5 * np.exp(-(((v + 0.8 * np.abs(u)) % 0.12 - 0.06)
                                                      / 0.015) ** 2)
    green = 0.35 + 0.25 * (0.5 - v) + rng.normal(0.0, 0.02, size=u.shape)
    rgb = np.stack([0.25 * green + 0.2 * vein, green + 0.15 * vein, 0.15 * green], axis=-1)
    alpha = inside.astype(np.float64)[..., None]
    return {"leaf_basecolor.png": np.concatenate([rgb, alpha], axis=-1),
            "leaf_normal.png": _normal_from_height(vein * 0.6, 1.0)}


def quad_geometry(offset_x: float) -> tuple[bytes, np.ndarray]:
    """One quad in the XY plane: (positions, normals, tangents, UVs as float32 and 6 uint16
    indices, 188 bytes; the positions)."""
    pos = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]],
                   np.float32) + np.array([offset_x, 0, 0], np.float32)
    nrm = np.tile(np.array([0, 0, 1], np.float32), (4, 1))
    tan = np.tile(np.array([1, 0, 0, 1], np.float32), (4, 1))
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    idx = np.array([0, 1, 2, 0, 2, 3], np.uint16)
    return pos.tobytes() + nrm.tobytes() + tan.tobytes() + uv.tobytes() + idx.tobytes(), pos


def build_scene(out_dir: Path) -> Path:
    """Write the textures and ``scene.gltf`` into ``out_dir``; returns the .gltf path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    images = {**tile_maps(rng), **leaf_maps(rng)}
    for name, img in images.items():
        Image.fromarray(_u8(img)).save(out_dir / name, format="PNG", optimize=True)

    gltf = gl.GLTF2(asset=gl.Asset(version="2.0", generator="texgs samples/make_scene.py"))
    blob = b""
    quads = []
    for q, offset in enumerate((-1.2, 0.0, 1.2)):
        base = len(blob)
        data, pos = quad_geometry(offset)
        blob += data
        views = []
        for off, length, target in ((0, 48, gl.ARRAY_BUFFER), (48, 48, gl.ARRAY_BUFFER),
                                    (96, 64, gl.ARRAY_BUFFER), (160, 32, gl.ARRAY_BUFFER),
                                    (192, 12, gl.ELEMENT_ARRAY_BUFFER)):
            views.append(len(gltf.bufferViews))
            gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=base + off,
                                                  byteLength=length, target=target))
        acc = len(gltf.accessors)
        gltf.accessors += [
            gl.Accessor(bufferView=views[0], componentType=gl.FLOAT, count=4, type=gl.VEC3,
                        min=[float(v) for v in pos.min(0)], max=[float(v) for v in pos.max(0)]),
            gl.Accessor(bufferView=views[1], componentType=gl.FLOAT, count=4, type=gl.VEC3),
            gl.Accessor(bufferView=views[2], componentType=gl.FLOAT, count=4, type=gl.VEC4),
            gl.Accessor(bufferView=views[3], componentType=gl.FLOAT, count=4, type=gl.VEC2),
            gl.Accessor(bufferView=views[4], componentType=gl.UNSIGNED_SHORT, count=6,
                        type=gl.SCALAR),
        ]
        quads.append(acc)
    gltf.buffers.append(gl.Buffer(
        byteLength=len(blob),
        uri="data:application/octet-stream;base64," + base64.b64encode(blob).decode()))

    gltf.samplers = [
        gl.Sampler(magFilter=LINEAR, minFilter=LINEAR_MIPMAP_LINEAR, wrapS=REPEAT, wrapT=REPEAT),
        gl.Sampler(magFilter=LINEAR, minFilter=LINEAR_MIPMAP_LINEAR, wrapS=CLAMP_TO_EDGE,
                   wrapT=CLAMP_TO_EDGE),
    ]
    names = list(images)
    gltf.images = [gl.Image(uri=n) for n in names]
    tex = {}
    for i, n in enumerate(names):
        tex[n] = i
        gltf.textures.append(gl.Texture(sampler=1 if n.startswith("leaf") else 0, source=i))

    def tiles(name: str, factor: list[float]) -> gl.Material:
        return gl.Material(
            name=name,
            pbrMetallicRoughness=gl.PbrMetallicRoughness(
                baseColorFactor=factor,
                baseColorTexture=gl.TextureInfo(index=tex["tiles_basecolor.png"]),
                metallicRoughnessTexture=gl.TextureInfo(index=tex["tiles_orm.png"])),
            normalTexture=gl.NormalMaterialTexture(index=tex["tiles_normal.png"]),
            occlusionTexture=gl.OcclusionTextureInfo(index=tex["tiles_orm.png"]))

    gltf.materials = [
        tiles("tiles_a", [1.0, 1.0, 1.0, 1.0]),
        tiles("tiles_b", [0.8, 0.9, 1.0, 1.0]),
        gl.Material(name="leaf_mask", alphaMode=gl.MASK, alphaCutoff=0.5, doubleSided=True,
                    pbrMetallicRoughness=gl.PbrMetallicRoughness(
                        baseColorTexture=gl.TextureInfo(index=tex["leaf_basecolor.png"]),
                        metallicFactor=0.0, roughnessFactor=0.8),
                    normalTexture=gl.NormalMaterialTexture(index=tex["leaf_normal.png"])),
    ]
    for m, acc in enumerate(quads):
        gltf.meshes.append(gl.Mesh(name=f"quad_{m}", primitives=[gl.Primitive(
            attributes=gl.Attributes(POSITION=acc, NORMAL=acc + 1, TANGENT=acc + 2,
                                     TEXCOORD_0=acc + 3),
            indices=acc + 4, material=m)]))
        gltf.nodes.append(gl.Node(name=f"quad_{m}", mesh=m))
    gltf.scenes = [gl.Scene(name="texgs sample", nodes=list(range(len(quads))))]
    gltf.scene = 0
    path = out_dir / "scene.gltf"
    path.write_text(gltf.gltf_to_json() + "\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "scene"
    print(build_scene(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
