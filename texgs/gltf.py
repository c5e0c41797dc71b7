"""glTF 2.0 in and out: bake a scene's material textures into texgs assets inside a .glb.

``bake_gltf`` reads a ``.gltf`` (external or data-URI buffers and images) or a ``.glb`` with
pygltflib, groups each material's textures into one texture set, bakes every distinct set
once (:func:`texgs.bake.bake_set`), and writes a self-contained ``.glb`` whose textures carry
the ``TEXGS_texture_gaussian`` extension (docs/GLTF.md, the normative description):

    "textures": [{"sampler": 0, "source": 0,                      # fallback image (optional)
                  "extensions": {"TEXGS_texture_gaussian": {
                      "source": 5,                                 # image holding the .tgs
                      "map": "orm",                                # map of the asset's set
                      "channels": [0, 1, 2, -1]}}}]                # texture RGBA <- map comps

The library raises :mod:`texgs.errors` exceptions and never prints. pygltflib and the baker
(PyTorch) are imported when a function needs them.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import math
import reprlib
import struct
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import format as fmt
from .bake.config import BakeConfig, Progress
from .errors import InputError, OptionError, OutputError, UnsupportedError

#: The texture extension texgs writes (vendor prefix TEXGS).
EXTENSION_NAME = "TEXGS_texture_gaussian"
#: Media type of an image that holds a texgs asset (docs/GLTF.md).
TGS_MIME_TYPE = "application/x-texgs"
#: Fallback policies: keep the original image, a decoded PNG, or none.
FALLBACKS = ("original", "decoded", "none")

WRAP_REPEAT = 10497
WRAP_CLAMP_TO_EDGE = 33071
WRAP_MIRRORED_REPEAT = 33648
_WRAP_NAMES = {WRAP_REPEAT: "REPEAT", WRAP_CLAMP_TO_EDGE: "CLAMP_TO_EDGE",
               WRAP_MIRRORED_REPEAT: "MIRRORED_REPEAT"}

#: Channel mapping of a map that fills the texture's RGB (alpha absent: 1).
_RGB = (0, 1, 2, -1)
#: A one-component map read as a grey texture (glTF samples such textures as R = G = B).
_GREY = (0, 0, 0, -1)

_GLB_MAGIC = b"glTF"
_GLB_JSON = 0x4E4F534A
_GLB_BIN = 0x004E4942
#: Deepest nesting of JSON arrays and objects a glTF may have (real files stay far below).
MAX_JSON_DEPTH = 64

# The material slots texgs bakes: (slot name, whether it sits in pbrMetallicRoughness).
_SLOTS = (("baseColorTexture", True), ("metallicRoughnessTexture", True),
          ("normalTexture", False), ("occlusionTexture", False), ("emissiveTexture", False))


@dataclass
class GltfProgress:
    """Progress of :func:`bake_gltf`: set ``set_index`` (0-based) of ``set_count``, named by
    ``label``; ``bake`` is the baker's step report (None when a set starts)."""

    set_index: int
    set_count: int
    label: str
    bake: Progress | None


@dataclass
class GltfMapResult:
    """One map of a baked set: its name, size and quality against the source texels."""

    name: str
    width: int
    height: int
    psnr_db: float
    angular_mean_deg: float | None = None
    angular_p99_deg: float | None = None
    alpha_flip_fraction: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class GltfSetResult:
    """One baked texture set: which materials use it, where its asset went, how good it is.

    ``image_index``: the output image that holds the asset; ``wrap``: the address mode per
    axis it was baked with ("clamp" or "repeat"); ``psnr_db``: mean map PSNR.
    """

    label: str
    materials: list[str]
    maps: list[GltfMapResult]
    image_index: int
    size_bytes: int
    bits_per_texel: float
    gaussians: int
    width: int
    height: int
    wrap: tuple[str, str]
    psnr_db: float

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["maps"] = [m.as_dict() for m in self.maps]
        d["wrap"] = list(self.wrap)
        return d


@dataclass
class GltfResult:
    """What :func:`bake_gltf` wrote: the output, every baked set, and sizes in bytes.

    ``input_image_bytes``: the bytes of every source image the sets were baked from;
    ``asset_bytes``: the .tgs assets; ``fallback_bytes``: fallback images kept or written for
    baked textures; ``output_bytes``: the whole .glb. ``notes``: documented approximations
    (e.g. MIRRORED_REPEAT baked as clamp).
    """

    output: Path
    fallback: str
    sets: list[GltfSetResult]
    materials: int
    input_image_bytes: int
    asset_bytes: int
    fallback_bytes: int
    output_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def bits_per_texel(self) -> float:
        """Bits of every asset over the texels of every set's largest map."""
        texels = sum(s.width * s.height for s in self.sets)
        return self.asset_bytes * 8.0 / texels if texels else 0.0

    @property
    def mean_psnr_db(self) -> float:
        """Mean PSNR over every map of every set (infinite when all are exact)."""
        vals = [m.psnr_db for s in self.sets for m in s.maps]
        if not vals:
            return math.nan
        if any(math.isinf(v) for v in vals):
            finite = [v for v in vals if not math.isinf(v)]
            return float(np.mean(finite)) if finite else math.inf
        return float(np.mean(vals))

    def as_dict(self) -> dict:
        return {"output": str(self.output), "fallback": self.fallback,
                "sets": [s.as_dict() for s in self.sets], "materials": self.materials,
                "input_image_bytes": self.input_image_bytes, "asset_bytes": self.asset_bytes,
                "fallback_bytes": self.fallback_bytes, "output_bytes": self.output_bytes,
                "bits_per_texel": self.bits_per_texel, "mean_psnr_db": self.mean_psnr_db,
                "notes": list(self.notes)}


# ----------------------------------------------------------------------------- reading


@dataclass
class _Image:
    """A source image: its bytes, detected type and a label naming it in messages."""

    index: int
    data: bytes
    type: str  # "png", "jpeg" or "webp"
    label: str
    path: Path | None  # the file, for external images

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class _Document:
    """A parsed glTF: its JSON, every buffer's bytes, the folder URIs resolve against."""

    src: Path
    json: dict
    buffers: list[bytes]
    base_dir: Path | None  # None: read from bytes, external URIs are refused
    external_files: list[Path]


def _brief(value: Any) -> str:
    """A JSON value shown in a one-line message: repr, long strings and deep lists cut."""
    return _BRIEF.repr(value)


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = 40
_BRIEF.maxother = 40
_BRIEF.maxlong = 40
_BRIEF.maxlist = 6
_BRIEF.maxdict = 4
_BRIEF.maxlevel = 2


def _is_index(value: Any) -> bool:
    """Whether a JSON value is a glTF id / count: an integer >= 0 (true and false are not)."""
    return type(value) is int and value >= 0


def _json_depth_exceeds(node: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` levels in ``node`` (iterative:
    no recursion, whatever the depth)."""
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _reject_json_constant(name: str) -> float:
    """``json.loads`` hook for NaN, Infinity and -Infinity: JSON has no such numbers."""
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(raw: bytes, src: Path, what: str) -> dict:
    """The glTF JSON of ``raw`` (a .gltf file, or a GLB's JSON chunk named by ``what``):
    strict UTF-8 JSON (no NaN or Infinity), nested at most MAX_JSON_DEPTH levels, an object
    with an ``asset`` object whose version is 2.x. InputError / UnsupportedError otherwise."""
    prefix = f"{src}: not a glTF 2.0 file ({what}"
    try:
        text = raw.decode("utf-8-sig")
        js = json.loads(text, parse_constant=_reject_json_constant)
    except UnicodeDecodeError as e:
        raise InputError(f"{prefix}: not UTF-8: {e.reason} at byte {e.start})") from None
    except RecursionError:
        raise InputError(f"{prefix}: JSON nested deeper than {MAX_JSON_DEPTH} levels)") from None
    except ValueError as e:  # json.JSONDecodeError, NaN, integers of over 4300 digits
        raise InputError(f"{prefix}: {str(e).splitlines()[0]})") from None
    if isinstance(js, (dict, list)) and _json_depth_exceeds(js, MAX_JSON_DEPTH):
        raise InputError(f"{prefix}: JSON nested deeper than {MAX_JSON_DEPTH} levels)")
    if not isinstance(js, dict) or not isinstance(js.get("asset"), dict):
        raise InputError(f"{src}: not a glTF 2.0 file (no \"asset\" object)")
    version = js["asset"].get("version", "")
    version = version if isinstance(version, str) else _brief(version)
    if not version.startswith("2."):
        raise UnsupportedError(f"{src}: glTF version {version or '?'} is not supported "
                               "(glTF 2.0 only)")
    return js


def _split_glb(data: bytes, src: Path) -> tuple[bytes, bytes | None]:
    """(JSON chunk, BIN chunk or None) of a binary glTF. Every length the file declares is
    checked against the bytes really there before anything is sliced: the header's total
    length must be the file's, each chunk must fit in what is left; the first chunk must be
    JSON, a BIN chunk must be the second; chunks of other types are skipped (glTF 2.0)."""
    if len(data) < 12:
        raise InputError(f"{src}: not a glTF 2.0 file (truncated GLB header)")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise UnsupportedError(f"{src}: GLB version {version} is not supported (glTF 2.0 only)")
    if length != len(data):
        raise InputError(f"{src}: not a glTF 2.0 file (GLB length {length} but the file has "
                         f"{len(data)} bytes)")
    pos, index = 12, 0
    json_chunk: bytes | None = None
    bin_chunk: bytes | None = None
    while pos < length:
        if length - pos < 8:
            raise InputError(f"{src}: not a glTF 2.0 file (GLB chunk {index}: truncated chunk "
                             f"header at byte {pos})")
        chunk_length, chunk_type = struct.unpack_from("<II", data, pos)
        pos += 8
        if chunk_length > length - pos:
            raise InputError(f"{src}: not a glTF 2.0 file (GLB chunk {index} claims "
                             f"{chunk_length} bytes, {length - pos} are left)")
        if index == 0:
            if chunk_type != _GLB_JSON:
                raise InputError(f"{src}: not a glTF 2.0 file (the first GLB chunk is not "
                                 "JSON)")
            json_chunk = data[pos:pos + chunk_length]
        elif chunk_type == _GLB_JSON:
            raise InputError(f"{src}: not a glTF 2.0 file (GLB chunk {index}: a second JSON "
                             "chunk)")
        elif chunk_type == _GLB_BIN:
            if index != 1:
                raise InputError(f"{src}: not a glTF 2.0 file (GLB chunk {index}: the BIN "
                                 "chunk must be the second chunk)")
            bin_chunk = data[pos:pos + chunk_length]
        pos += chunk_length
        index += 1
    if json_chunk is None:
        raise InputError(f"{src}: not a glTF 2.0 file (GLB without a JSON chunk)")
    return json_chunk, bin_chunk


def _parse_glb(data: bytes, src: Path) -> tuple[dict, bytes | None]:
    """(JSON, BIN chunk) of a binary glTF (the JSON as the file holds it)."""
    json_chunk, bin_chunk = _split_glb(data, src)
    return _parse_json(json_chunk, src, "GLB JSON chunk"), bin_chunk


def _parse_gltf_json(data: bytes, src: Path) -> dict:
    """The JSON of a .gltf (as the file holds it)."""
    return _parse_json(data, src, "not GLB and not JSON")


def _normalize_json(js: dict, src: Path) -> dict:
    """The JSON through pygltflib (which drops properties glTF does not define), as
    :func:`bake_gltf` has always read it."""
    import pygltflib

    try:
        return json.loads(pygltflib.GLTF2.gltf_from_json(json.dumps(js)).gltf_to_json())
    except Exception as e:  # pygltflib raises many kinds on malformed documents
        raise InputError(f"{src}: not a glTF 2.0 file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None


def _read_uri(uri: Any, doc: _Document, what: str) -> bytes:
    """Bytes of a data URI or of a file relative to the glTF's folder (refused when the
    document was read from bytes: ``doc.base_dir`` is None)."""
    if not isinstance(uri, str):
        raise InputError(f"{doc.src}: {what}: uri {_brief(uri)} is not a string")
    if uri.startswith("data:"):
        head, sep, payload = uri.partition(",")
        if not sep:
            raise InputError(f"{doc.src}: {what}: malformed data URI")
        try:
            if head.endswith(";base64"):
                return base64.b64decode(payload, validate=False)
            return urllib.parse.unquote_to_bytes(payload)
        except ValueError as e:
            raise InputError(f"{doc.src}: {what}: malformed data URI ({e})") from None
    try:
        parsed = urllib.parse.urlparse(uri)
    except ValueError as e:
        raise InputError(f"{doc.src}: {what}: malformed URI {_brief(uri)} ({e})") from None
    if parsed.scheme and parsed.scheme != "file" and len(parsed.scheme) > 1:
        raise UnsupportedError(f"{doc.src}: {what}: {_brief(uri)} is not a local file")
    if doc.base_dir is None:
        raise InputError(f"{doc.src}: {what}: refers to the file {_brief(uri)}, but the glTF "
                         "was read from bytes (no folder to resolve it against)")
    rel = urllib.parse.unquote(parsed.path if parsed.scheme == "file" else uri)
    if "\0" in rel:
        raise InputError(f"{doc.src}: {what}: malformed URI {_brief(uri)} (NUL character)")
    path = Path(rel) if Path(rel).is_absolute() else doc.base_dir / rel
    if not path.is_file():
        raise InputError(f"{doc.src}: {what}: missing referenced file {path}")
    doc.external_files.append(path)
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{doc.src}: {what}: cannot read {path} ({e.strerror})") from None


def _read_input_file(src: Path) -> bytes:
    """The bytes of the glTF file ``src``; InputError when it is missing or unreadable."""
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if src.is_dir():
        raise InputError(f"{src}: is a directory, not a glTF file")
    try:
        return src.read_bytes()
    except OSError as e:
        raise InputError(f"{src}: cannot read ({e.strerror})") from None


def _load_document(src: Path) -> _Document:
    """Parse ``src`` (.gltf or .glb, told apart by content) and load every buffer, for the
    baker (JSON normalized by pygltflib)."""
    data = _read_input_file(src)
    return _document_from_bytes(data, src, src.resolve().parent, normalize=True)


def _document_from_bytes(data: bytes, src: Path, base_dir: Path | None,
                         normalize: bool) -> _Document:
    """Parse the glTF ``data`` (named ``src`` in messages) and load every buffer.
    ``base_dir``: the folder external URIs resolve against (None: they are refused);
    ``normalize``: pass the JSON through pygltflib."""
    blob = None
    if data[:4] == _GLB_MAGIC:
        js, blob = _parse_glb(data, src)
    else:
        js = _parse_gltf_json(data, src)
    if normalize:
        js = _normalize_json(js, src)
    doc = _Document(src, js, [], base_dir, [])
    buffers = js.get("buffers", [])
    if not isinstance(buffers, list):
        raise InputError(f"{src}: buffers is not an array")
    for i, b in enumerate(buffers):
        if not isinstance(b, dict):
            raise InputError(f"{src}: buffer {i} is not an object")
        declared = b.get("byteLength", 0)
        if not _is_index(declared):
            raise InputError(f"{src}: buffer {i}: byteLength {_brief(declared)} is not a "
                             "non-negative integer")
        uri = b.get("uri")
        if uri is None:
            if blob is None or i != 0:
                raise InputError(f"{src}: buffer {i} has no uri and there is no GLB BIN chunk")
            payload = blob
        else:
            payload = _read_uri(uri, doc, f"buffer {i}")
        if len(payload) < declared:
            raise InputError(f"{src}: buffer {i} holds {len(payload)} bytes, byteLength is "
                             f"{declared}")
        doc.buffers.append(payload)
    return doc


def _json_array(doc: _Document, name: str) -> list:
    """The top-level array ``name`` of the glTF JSON (empty when absent)."""
    value = doc.json.get(name, [])
    if not isinstance(value, list):
        raise InputError(f"{doc.src}: {name} is not an array")
    return value


def _buffer_view_bytes(doc: _Document, index: Any, what: str) -> bytes:
    """The bytes of bufferView ``index``; every index, offset and length is checked."""
    views = _json_array(doc, "bufferViews")
    if not _is_index(index) or index >= len(views):
        raise InputError(f"{doc.src}: {what}: bufferView {_brief(index)} does not exist")
    v = views[index]
    if not isinstance(v, dict):
        raise InputError(f"{doc.src}: {what}: bufferView {index} is not an object")
    buf = v.get("buffer", 0)
    if not _is_index(buf) or buf >= len(doc.buffers):
        raise InputError(f"{doc.src}: {what}: buffer {_brief(buf)} does not exist")
    start = v.get("byteOffset", 0)
    length = v.get("byteLength", 0)
    for field_name, value in (("byteOffset", start), ("byteLength", length)):
        if not _is_index(value):
            raise InputError(f"{doc.src}: {what}: bufferView {index}: {field_name} "
                             f"{_brief(value)} is not a non-negative integer")
    if start + length > len(doc.buffers[buf]):
        raise InputError(f"{doc.src}: {what}: bufferView {index} runs past its buffer")
    return doc.buffers[buf][start:start + length]


def _sniff_image_type(data: bytes) -> str | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _sniff_known_other(data: bytes) -> str | None:
    """Image formats texgs recognizes but does not bake (KTX2, DDS, Basis, GIF, BMP, TIFF)."""
    for magic, name in ((b"\xabKTX 20\xbb", "image/ktx2"), (b"DDS ", "image/vnd-ms.dds"),
                        (b"sB", "image/basis"), (b"GIF8", "image/gif"), (b"BM", "image/bmp"),
                        (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff")):
        if data.startswith(magic):
            return name
    return None


def _load_image(doc: _Document, index: int) -> _Image:
    """Bytes and type of image ``index``; PNG, JPEG and WebP are supported."""
    images = _json_array(doc, "images")
    if not _is_index(index) or index >= len(images):
        raise InputError(f"{doc.src}: image {_brief(index)} does not exist")
    img = images[index]
    if not isinstance(img, dict):
        raise InputError(f"{doc.src}: image {index} is not an object")
    uri = img.get("uri")
    if uri is not None:
        shown = _brief(uri) if not isinstance(uri, str) else \
            uri[:40] + "..." if uri.startswith("data:") else uri
        label = f"image {index} ({shown})"
        data = _read_uri(uri, doc, label)
        path = doc.external_files[-1] if not uri.startswith("data:") else None
    elif img.get("bufferView") is not None:
        label = f"image {index} (bufferView {_brief(img['bufferView'])})"
        data = _buffer_view_bytes(doc, img["bufferView"], label)
        path = None
    else:
        raise InputError(f"{doc.src}: image {index} has neither uri nor bufferView")
    kind = _sniff_image_type(data)
    if kind is None and _sniff_known_other(data) is None and not isinstance(
            img.get("mimeType"), str):
        # neither a PNG/JPEG/WebP nor another image format we know: a broken file
        raise InputError(f"{doc.src}: {label}: not an image format texgs can read "
                         f"({'empty file' if not data else 'unrecognized data'})")
    if kind is None:
        mime = img.get("mimeType", "unknown type")
        mime = mime if isinstance(mime, str) and len(mime) <= 60 else _brief(mime)
        raise UnsupportedError(f"{doc.src}: {label}: unsupported image type ({mime}); texgs "
                               "bakes PNG, JPEG and WebP images")
    return _Image(index, data, kind, label, path)


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _MapSpec:
    """One map of a set: its kind, the image it comes from, and which image components
    become the map's components (None: the constant 1)."""

    kind: int
    image_digest: str
    select: tuple[int | None, ...]

    @property
    def name(self) -> str:
        return fmt.MAP_NAMES[self.kind]


@dataclass(frozen=True)
class _SetKey:
    """What makes two sets the same bake: their maps (by image content) and address mode."""

    maps: tuple[_MapSpec, ...]
    repeat: tuple[bool, bool]


@dataclass
class _SlotUse:
    """A material slot that reads a texture, with the map of a set it will read."""

    material: int
    slot: str
    in_pbr: bool
    texture: int
    image: _Image
    uv_key: str
    repeat: tuple[bool, bool]
    map_spec: _MapSpec | None = None
    channels: tuple[int, int, int, int] = _RGB


def _image_channels(img: _Image, doc: _Document, cache: dict) -> np.ndarray:
    """The image's texels as texgs reads them (float32 [h, w, c], file encoding)."""
    if img.digest in cache:
        return cache[img.digest]
    from .images import load_texture

    with tempfile.TemporaryDirectory(prefix="texgs-gltf-") as tmp:
        p = img.path if img.path is not None else Path(tmp) / f"image.{img.type}"
        if img.path is None:
            p.write_bytes(img.data)
        try:
            arr, _ = load_texture(p)
        except InputError as e:
            raise InputError(f"{doc.src}: {img.label}: {str(e).split(': ', 1)[-1]}") from None
    cache[img.digest] = arr
    return arr


def _component(n_channels: int, c: int) -> int | None:
    """Which image component glTF reads as component ``c`` (0 R, 1 G, 2 B, 3 A): grey
    images give R = G = B = L; a missing alpha reads as 1 (None)."""
    if n_channels <= 2:
        return 0 if c < 3 else (1 if n_channels == 2 else None)
    return c if c < n_channels else None


def _plan_slot(use: _SlotUse, n_channels: int, alpha_mode: str, orm_occlusion: bool) -> None:
    """Fill ``use.map_spec`` and ``use.channels``: which map the slot reads and how."""
    digest = use.image.digest
    grey = n_channels <= 2
    if use.slot == "baseColorTexture":
        select: tuple[int | None, ...] = (0,) if grey else (0, 1, 2)
        channels = _GREY if grey else _RGB
        alpha = _component(n_channels, 3)
        if alpha_mode in ("MASK", "BLEND") and alpha is not None:
            select += (alpha,)
            channels = (0, 0, 0, 1) if grey else (0, 1, 2, 3)
        use.map_spec = _MapSpec(fmt.MAP_BASECOLOR, digest, select)
        use.channels = channels
    elif use.slot in ("metallicRoughnessTexture", "occlusionTexture") and (
            use.slot == "metallicRoughnessTexture" or orm_occlusion):
        # glTF packs occlusion (R, its own texture), roughness (G), metalness (B): the
        # layout of the texgs ORM map. R is the constant 1 unless occlusion shares the image.
        occ = _component(n_channels, 0) if orm_occlusion else None
        use.map_spec = _MapSpec(fmt.MAP_ORM, digest,
                                (occ, _component(n_channels, 1), _component(n_channels, 2)))
        use.channels = _RGB
    elif use.slot == "occlusionTexture":
        use.map_spec = _MapSpec(fmt.MAP_OCCLUSION, digest, (_component(n_channels, 0),))
        use.channels = _GREY
    elif use.slot == "normalTexture":
        use.map_spec = _MapSpec(fmt.MAP_NORMAL, digest, (0, 1, 2) if not grey else (0,))
        use.channels = _RGB
    else:  # emissiveTexture
        use.map_spec = _MapSpec(fmt.MAP_EMISSIVE, digest, (0,) if grey else (0, 1, 2))
        use.channels = _GREY if grey else _RGB


def _texture_source(doc: _Document, t: int) -> int:
    textures = doc.json.get("textures", [])
    if not 0 <= t < len(textures):
        raise InputError(f"{doc.src}: texture {t} does not exist")
    tex = textures[t]
    if tex.get("source") is not None:
        return tex["source"]
    webp = tex.get("extensions", {}).get("EXT_texture_webp", {})
    if webp.get("source") is not None:
        return webp["source"]
    exts = ", ".join(sorted(tex.get("extensions", {}))) or "none"
    raise UnsupportedError(f"{doc.src}: texture {t} has no PNG, JPEG or WebP source "
                           f"(extensions: {exts}); unsupported image type")


def _texture_repeat(doc: _Document, t: int, notes: list[str]) -> tuple[bool, bool]:
    """The address mode per axis a texture's sampler asks for (MIRRORED_REPEAT -> clamp)."""
    tex = doc.json["textures"][t]
    samplers = doc.json.get("samplers", [])
    s = samplers[tex["sampler"]] if tex.get("sampler") is not None and \
        0 <= tex["sampler"] < len(samplers) else {}
    out = []
    for axis in ("wrapS", "wrapT"):
        mode = s.get(axis, WRAP_REPEAT)
        if mode == WRAP_MIRRORED_REPEAT:
            note = (f"texture {t}: {axis} MIRRORED_REPEAT is baked as clamp (the mirrored "
                    "copy meets the texture at its own edge); the sampler is kept")
            if note not in notes:
                notes.append(note)
        elif mode not in (WRAP_REPEAT, WRAP_CLAMP_TO_EDGE):
            raise InputError(f"{doc.src}: texture {t}: sampler {axis} {mode} is not a glTF "
                             "wrap mode")
        out.append(mode == WRAP_REPEAT)
    return out[0], out[1]


def _uv_key(info: dict) -> str:
    """texCoord and KHR_texture_transform of a textureInfo, as a comparable string."""
    transform = info.get("extensions", {}).get("KHR_texture_transform")
    return json.dumps([info.get("texCoord", 0), transform], sort_keys=True)


def _collect_uses(doc: _Document, notes: list[str]) -> list[_SlotUse]:
    """Every baked material slot, with its image loaded (errors name the image)."""
    uses: list[_SlotUse] = []
    images: dict[int, _Image] = {}
    for m, mat in enumerate(doc.json.get("materials", [])):
        pbr = mat.get("pbrMetallicRoughness", {})
        for slot, in_pbr in _SLOTS:
            info = (pbr if in_pbr else mat).get(slot)
            if not isinstance(info, dict) or info.get("index") is None:
                continue
            t = info["index"]
            src = _texture_source(doc, t)
            if src not in images:
                images[src] = _load_image(doc, src)
            uses.append(_SlotUse(m, slot, in_pbr, t, images[src], _uv_key(info),
                                 _texture_repeat(doc, t, notes)))
    return uses


def _material_name(doc: _Document, m: int) -> str:
    return doc.json["materials"][m].get("name") or f"material {m}"


def _plan_sets(doc: _Document, uses: list[_SlotUse], cache: dict
               ) -> tuple[dict[_SetKey, list[int]], dict[int, _SetKey]]:
    """Group the slots into sets: one per material when all its slots share texCoord,
    texture transform and address mode, else one per slot. Returns (set key -> materials
    using it, in order of first use; slot-use index -> its set key)."""
    by_material: dict[int, list[int]] = {}
    for i, u in enumerate(uses):
        by_material.setdefault(u.material, []).append(i)
    sets: dict[_SetKey, list[int]] = {}
    use_set: dict[int, _SetKey] = {}
    for m, idx in by_material.items():
        mine = [uses[i] for i in idx]
        together = len({(u.uv_key, u.repeat) for u in mine}) == 1
        mr = [u for u in mine if u.slot == "metallicRoughnessTexture"]
        alpha_mode = doc.json["materials"][m].get("alphaMode", "OPAQUE")
        for u in mine:
            orm_occ = together and u.slot in ("metallicRoughnessTexture", "occlusionTexture") \
                and any(v.slot == "occlusionTexture" for v in mine) and bool(mr) and \
                all(v.image.digest == mr[0].image.digest for v in mine
                    if v.slot in ("metallicRoughnessTexture", "occlusionTexture"))
            n = _image_channels(u.image, doc, cache).shape[2]
            _plan_slot(u, n, alpha_mode, orm_occ)
        groups = [idx] if together else [[i] for i in idx]
        for group in groups:
            specs = {uses[i].map_spec for i in group}
            key = _SetKey(tuple(sorted(specs, key=lambda s: s.kind)), uses[group[0]].repeat)
            if len({s.kind for s in key.maps}) != len(key.maps):
                raise InputError(f"{doc.src}: {_material_name(doc, m)}: two maps of one kind")
            owners = sets.setdefault(key, [])
            if m not in owners:
                owners.append(m)
            for i in group:
                use_set[i] = key
    return sets, use_set


def _map_image(spec: _MapSpec, image: np.ndarray) -> np.ndarray:
    """The map's texels: the selected image components (None: 1.0)."""
    h, w, _ = image.shape
    comps = [image[..., c] if c is not None else np.ones((h, w), np.float32)
             for c in spec.select]
    return np.ascontiguousarray(np.stack(comps, axis=-1), np.float32)


# ----------------------------------------------------------------------------- baking


def _bake_prepared(prepared: list, cfg: BakeConfig, progress: Callable[[Progress], None] | None):
    """Bake one prepared set (one call per distinct set; tests count the calls)."""
    from .bake import bake_set

    return bake_set(prepared, cfg, progress)


def _map_result(m) -> GltfMapResult:
    q = m.quality
    return GltfMapResult(m.name, m.width, m.height, float(q.psnr), q.angular_mean_deg,
                         q.angular_p99_deg, q.alpha_flip_fraction)


def _set_label(doc: _Document, key: _SetKey, materials: list[int]) -> str:
    names = [_material_name(doc, m) for m in materials]
    maps = "+".join(s.name for s in key.maps)
    return f"{', '.join(names)} ({maps})"


def _texture_image(decoded: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    """A texture's RGB(A) texels from a decoded map and the extension's channel mapping."""
    h, w, _ = decoded.shape
    comps = [decoded[..., c] if c >= 0 else np.ones((h, w), np.float32) for c in channels]
    if channels[3] < 0:
        comps = comps[:3]
    return np.stack(comps, axis=-1)


def _fallback_png(decoded: np.ndarray, channels: tuple[int, ...], size: int | None) -> bytes:
    """PNG of a decoded map as the texture reads it, its larger side at most ``size``."""
    from PIL import Image

    from .images import encode_png, to_uint8

    img = _texture_image(decoded, channels)
    h, w, c = img.shape
    if size is not None and max(w, h) > size:
        scale = size / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        pil = Image.fromarray(to_uint8(img), {3: "RGB", 4: "RGBA"}[c])
        img = np.asarray(pil.resize((nw, nh), Image.Resampling.LANCZOS),
                         np.float32) / np.float32(255)
    return encode_png(img)


# ----------------------------------------------------------------------------- writing


def _walk_buffer_views(node: Any, fn: Callable[[int], int]) -> None:
    """Rewrite every ``"bufferView"`` index in the JSON tree ``node`` with ``fn``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "bufferView" and isinstance(v, int):
                node[k] = fn(v)
            else:
                _walk_buffer_views(v, fn)
    elif isinstance(node, list):
        for v in node:
            _walk_buffer_views(v, fn)


def _has_key_outside(node: Any, key: str, skip: str) -> bool:
    """Whether ``key`` appears anywhere in ``node`` except under the top-level ``skip``."""
    if isinstance(node, dict):
        return any((k == key) or (k != skip and _has_key_outside(v, key, "")) for k, v in
                   node.items())
    if isinstance(node, list):
        return any(_has_key_outside(v, key, "") for v in node)
    return False


def _glb_bytes(js: dict, blob: bytes) -> bytes:
    """A GLB container: header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    text = json.dumps(js, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    jbytes = text.encode("utf-8")
    jbytes += b" " * (-len(jbytes) % 4)
    bbytes = blob + b"\0" * (-len(blob) % 4)
    chunks = struct.pack("<II", len(jbytes), _GLB_JSON) + jbytes
    if bbytes:
        chunks += struct.pack("<II", len(bbytes), _GLB_BIN) + bbytes
    return struct.pack("<4sII", _GLB_MAGIC, 2, 12 + len(chunks)) + chunks


def _check_options(src: Path, dst: Path, cfg: BakeConfig, fallback: str,
                   fallback_size: int | None) -> None:
    if fallback not in FALLBACKS:
        raise OptionError(f"--fallback {fallback!r}: expected original, decoded or none")
    if fallback_size is not None:
        if fallback != "decoded":
            raise OptionError("--fallback-size applies to --fallback decoded")
        if not 1 <= fallback_size <= fmt.MAX_DIMENSION:
            raise OptionError(f"--fallback-size {fallback_size}: must be "
                              f"1..{fmt.MAX_DIMENSION}")
    if dst.suffix.lower() != ".glb":
        raise OptionError(f"{dst}: the output is a binary glTF: name it .glb")
    if dst.resolve() == src.resolve():
        raise OptionError(f"{dst}: output would overwrite the input")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{dst}: folder {parent} does not exist")
    if dst.is_dir():
        raise OutputError(f"{dst}: is a directory")
    cfg.validate()


def bake_gltf(src: str | Path, dst: str | Path, cfg: BakeConfig, *, fallback: str = "original",
              fallback_size: int | None = None,
              progress: Callable[[GltfProgress], None] | None = None) -> GltfResult:
    """Bake every material texture set of the glTF ``src`` and write the ``.glb`` ``dst``.

    ``cfg``: the bake settings of every set (the budget is per set: ``cfg.bpp`` over the
    set's largest map); its ``repeat_x`` / ``repeat_y`` are replaced per set by the
    samplers' wrap modes. ``fallback``: what each baked texture's ``source`` holds:
    ``"original"`` (the source image, embedded), ``"decoded"`` (a PNG of the decoded map,
    its larger side at most ``fallback_size``, default the map's own size) or ``"none"``
    (no source; the extension becomes required). ``progress`` gets a :class:`GltfProgress`
    when each set starts and at each bake step. Raises :class:`~texgs.errors.TexgsError`
    subclasses; the output is written atomically.
    """
    src, dst = Path(src), Path(dst)
    _check_options(src, dst, cfg, fallback, fallback_size)
    doc = _load_document(src)
    notes: list[str] = []
    uses = _collect_uses(doc, notes)
    out_resolved = dst.resolve()
    for f in doc.external_files:
        if f.resolve() == out_resolved:
            raise OptionError(f"{dst}: output would overwrite the input file {f}")
    if not uses:
        raise InputError(f"{src}: no material uses a texture; nothing to bake")
    if _has_key_outside(doc.json, "buffer", "bufferViews"):
        raise UnsupportedError(f"{src}: an extension refers to buffers directly (e.g. "
                               "EXT_meshopt_compression); not supported")
    cache: dict[str, np.ndarray] = {}
    sets, use_set = _plan_sets(doc, uses, cache)
    images_by_digest = {u.image.digest: u.image for u in uses}

    from .decode import decode_maps
    from .format import read_asset
    from .material import MapSource, prepare_map

    baked: dict[_SetKey, tuple[Any, list[np.ndarray]]] = {}
    set_count = len(sets)
    for si, (key, materials) in enumerate(sets.items()):
        label = _set_label(doc, key, materials)
        if progress is not None:
            progress(GltfProgress(si, set_count, label, None))
        prepared = []
        for spec in key.maps:
            img = images_by_digest[spec.image_digest]
            texels = _map_image(spec, _image_channels(img, doc, cache))
            prepared.append(prepare_map(MapSource(spec.kind, f"{src}: {img.label}"),
                                        image=texels, hdr=False))
        set_cfg = dataclasses.replace(cfg, repeat_x=key.repeat[0], repeat_y=key.repeat[1])

        def on_step(p: Progress, si=si, label=label) -> None:
            if progress is not None:
                progress(GltfProgress(si, set_count, label, p))

        result = _bake_prepared(prepared, set_cfg, on_step)
        decoded = decode_maps(read_asset(result.data, label)) if fallback == "decoded" else []
        baked[key] = (result, decoded)

    return _write_output(doc, dst, uses, sets, use_set, baked, fallback, fallback_size, notes)


def _write_output(doc: _Document, dst: Path, uses: list[_SlotUse],
                  sets: dict[_SetKey, list[int]], use_set: dict[int, _SetKey],
                  baked: dict, fallback: str, fallback_size: int | None,
                  notes: list[str]) -> GltfResult:
    """Assemble the output JSON and binary chunk and write the .glb atomically."""
    from .images import atomic_write_bytes

    js = copy.deepcopy(doc.json)
    old_images = js.get("images", [])
    textures = js.setdefault("textures", [])
    # New images are appended as (bytes, mime type); original images are referenced by
    # ("orig", index) until the final image list is built.
    new_images: list[tuple[bytes, str]] = []
    set_image: dict[_SetKey, int] = {}
    for key in sets:
        set_image[key] = len(old_images) + len(new_images)
        new_images.append((baked[key][0].data, TGS_MIME_TYPE))
    fallback_image: dict[tuple[_SetKey, str, tuple], int] = {}
    # which texture carries which (set, map, channels, fallback); clones on conflict
    texture_claim: dict[int, tuple] = {}
    clones: dict[tuple, int] = {}
    baked_textures: set[int] = set()
    for i, use in enumerate(uses):
        key = use_set[i]
        spec = use.map_spec
        map_index = key.maps.index(spec)
        if fallback == "decoded":
            fk = (key, spec.name, use.channels)
            if fk not in fallback_image:
                decoded = baked[key][1][map_index]
                fallback_image[fk] = len(old_images) + len(new_images)
                new_images.append((_fallback_png(decoded, use.channels, fallback_size),
                                   "image/png"))
            source = fallback_image[fk]
        elif fallback == "original":
            source = use.image.index
        else:
            source = None
        ext = {"source": set_image[key], "map": spec.name, "channels": list(use.channels)}
        claim = (json.dumps(ext, sort_keys=True), source)
        t = use.texture
        if t in texture_claim and texture_claim[t] != claim:
            ck = (t, claim)
            if ck not in clones:
                clones[ck] = len(textures)
                dup = copy.deepcopy(doc.json["textures"][t])
                textures.append(dup)
            t = clones[ck]
            mat = js["materials"][use.material]
            holder = mat["pbrMetallicRoughness"] if use.in_pbr else mat
            holder[use.slot]["index"] = t
        texture_claim[t] = claim
        tex = textures[t]
        tex.setdefault("extensions", {})[EXTENSION_NAME] = ext
        if source is None:
            tex.pop("source", None)
        else:
            tex["source"] = source
        baked_textures.add(t)

    # The final image list: original images still referenced by a texture, then new ones.
    def referenced_sources() -> set[int]:
        refs = set()
        for tex in textures:
            if tex.get("source") is not None:
                refs.add(tex["source"])
            for name, e in tex.get("extensions", {}).items():
                if name != EXTENSION_NAME and isinstance(e, dict) and \
                        isinstance(e.get("source"), int):
                    refs.add(e["source"])
        return refs

    refs = referenced_sources()
    kept_old = [i for i in range(len(old_images)) if i in refs]
    remap = {old: new for new, old in enumerate(kept_old)}
    for j in range(len(new_images)):
        remap[len(old_images) + j] = len(kept_old) + j
    for tex in textures:
        if tex.get("source") is not None:
            tex["source"] = remap[tex["source"]]
        for e in tex.get("extensions", {}).values():
            if isinstance(e, dict) and isinstance(e.get("source"), int):
                e["source"] = remap[e["source"]]

    # Binary chunk: non-image bufferViews keep their bytes; images get fresh bufferViews.
    blob = bytearray()

    def append(data: bytes) -> tuple[int, int]:
        blob.extend(b"\0" * (-len(blob) % 8))
        start = len(blob)
        blob.extend(data)
        return start, len(data)

    image_views = {img["bufferView"] for img in old_images if img.get("bufferView") is not None}
    stripped = {k: v for k, v in js.items() if k != "images"}
    used_views: set[int] = set()
    _walk_buffer_views(stripped, lambda v: used_views.add(v) or v)
    old_views = js.get("bufferViews", [])
    view_remap: dict[int, int] = {}
    new_views: list[dict] = []
    for v_index, view in enumerate(old_views):
        if v_index in image_views and v_index not in used_views:
            continue
        data = _buffer_view_bytes(doc, v_index, f"bufferView {v_index}")
        start, length = append(data)
        nv = {k: val for k, val in view.items() if k not in ("buffer", "byteOffset")}
        nv.update(buffer=0, byteOffset=start, byteLength=length)
        view_remap[v_index] = len(new_views)
        new_views.append(nv)
    _walk_buffer_views(stripped, lambda v: view_remap[v])
    js.update(stripped)

    final_images: list[dict] = []
    fallback_bytes = 0
    baked_sources = {textures[t].get("source") for t in baked_textures} - {None}
    mimes = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
    for old in kept_old:
        img = _load_image(doc, old)
        start, length = append(img.data)
        entry = {k: v for k, v in old_images[old].items() if k in ("name", "extras",
                                                                    "extensions")}
        entry.update(bufferView=len(new_views), mimeType=mimes[img.type])
        new_views.append({"buffer": 0, "byteOffset": start, "byteLength": length})
        if remap[old] in baked_sources:
            fallback_bytes += length
        final_images.append(entry)
    asset_bytes = 0
    for j, (data, mime) in enumerate(new_images):
        start, length = append(data)
        new_views.append({"buffer": 0, "byteOffset": start, "byteLength": length})
        entry = {"bufferView": len(new_views) - 1, "mimeType": mime}
        if mime == TGS_MIME_TYPE:
            asset_bytes += length
        else:
            fallback_bytes += length
        final_images.append(entry)
    js["images"] = final_images
    js["bufferViews"] = new_views
    js["buffers"] = [{"byteLength": len(blob)}]
    if not final_images:
        js.pop("images")
    used = js.setdefault("extensionsUsed", [])
    if EXTENSION_NAME not in used:
        used.append(EXTENSION_NAME)
    if any(textures[t].get("source") is None for t in baked_textures):
        req = js.setdefault("extensionsRequired", [])
        if EXTENSION_NAME not in req:
            req.append(EXTENSION_NAME)
    data = _glb_bytes(js, bytes(blob))
    atomic_write_bytes(dst, data)

    results = []
    for key, materials in sets.items():
        r = baked[key][0]
        maps = [_map_result(m) for m in r.maps]
        finite = [m.psnr_db for m in maps if not math.isinf(m.psnr_db)]
        results.append(GltfSetResult(
            label=_set_label(doc, key, materials),
            materials=[_material_name(doc, m) for m in materials], maps=maps,
            image_index=remap[set_image[key]], size_bytes=r.size_bytes,
            bits_per_texel=r.bits_per_texel, gaussians=r.gaussians, width=r.width,
            height=r.height,
            wrap=tuple("repeat" if rep else "clamp" for rep in key.repeat),
            psnr_db=float(np.mean(finite)) if finite else math.inf))
    input_bytes = sum(len(u.image.data) for u in {u.image.digest: u for u in uses}.values())
    return GltfResult(output=dst, fallback=fallback, sets=results,
                      materials=len({u.material for u in uses}),
                      input_image_bytes=input_bytes, asset_bytes=asset_bytes,
                      fallback_bytes=fallback_bytes, output_bytes=len(data), notes=notes)


# ----------------------------------------------------------------------------- reading back


@dataclass
class GaussianTexture:
    """A texture of a texgs .glb: its index, the asset bytes, the map it reads, and how the
    texture's RGBA come from the map's components (-1: the constant 1). ``file``: the glTF
    it was read from, as messages name it."""

    texture: int
    image: int
    asset_bytes: bytes
    map: str
    channels: tuple[int, int, int, int]
    fallback_source: int | None
    file: str = ""


def read_gaussian_textures(path: str | Path) -> tuple[dict, list[GaussianTexture]]:
    """(glTF JSON, every texture carrying the extension) of a .glb written by
    :func:`bake_gltf` (or any .glb or .gltf using ``TEXGS_texture_gaussian``).

    Whatever the file holds, this returns or raises :class:`~texgs.errors.InputError` (one
    line naming the file and the problem; :class:`~texgs.errors.UnsupportedError` for a glTF
    or GLB version other than 2 and a non-local URI). It allocates no more than the file's
    size implies: declared lengths are checked against the bytes present first.
    External buffer and image URIs resolve against the file's folder."""
    p = Path(path)
    data = _read_input_file(p)
    return _read_gaussian_textures(data, p, p.resolve().parent)


def read_gaussian_textures_bytes(data: bytes, name: str = "<bytes>"
                                 ) -> tuple[dict, list[GaussianTexture]]:
    """:func:`read_gaussian_textures` of a glTF held in memory (GLB or JSON bytes), named
    ``name`` in messages. Only the GLB's BIN chunk and data URIs can be read: a URI naming
    a file raises InputError."""
    return _read_gaussian_textures(bytes(data), Path(name), None)


def _ext_error(doc: _Document, t: int, problem: str) -> InputError:
    return InputError(f"{doc.src}: texture {t}: {EXTENSION_NAME}: {problem}")


def _read_gaussian_textures(data: bytes, src: Path, base_dir: Path | None
                            ) -> tuple[dict, list[GaussianTexture]]:
    """The reader behind both entries: every index and type the JSON gives is checked."""
    doc = _document_from_bytes(data, src, base_dir, normalize=False)
    textures = _json_array(doc, "textures")
    images = doc.json.get("images")
    kinds = sorted(fmt.MAP_NAMES.values())
    asset_of_image: dict[int, bytes] = {}  # one bytes object per image, however many uses
    out = []
    for t, tex in enumerate(textures):
        if not isinstance(tex, dict):
            raise InputError(f"{src}: texture {t} is not an object")
        exts = tex.get("extensions", {})
        if not isinstance(exts, dict):
            raise InputError(f"{src}: texture {t}: extensions is not an object")
        ext = exts.get(EXTENSION_NAME)
        if ext is None:
            continue
        if not isinstance(ext, dict):
            raise _ext_error(doc, t, "not an object")
        if not isinstance(images, list):
            raise _ext_error(doc, t, "the glTF has no images array")
        source = ext.get("source")
        if not _is_index(source):
            raise _ext_error(doc, t, f"source {_brief(source)} is not an image index")
        if source >= len(images):
            raise _ext_error(doc, t, f"source: image {source} does not exist "
                                     f"({len(images)} images)")
        map_name = ext.get("map")
        if not isinstance(map_name, str) or map_name not in kinds:
            raise _ext_error(doc, t, f"map {_brief(map_name)} is not a texgs map kind "
                                     f"({', '.join(kinds)})")
        channels = ext.get("channels", list(_RGB))
        if not (isinstance(channels, list) and len(channels) == 4 and
                all(type(c) is int and -1 <= c <= 3 for c in channels)):
            raise _ext_error(doc, t, f"channels {_brief(channels)}: expected 4 integers in "
                                     "-1..3")
        fallback = tex.get("source")
        if fallback is not None and not (_is_index(fallback) and fallback < len(images)):
            raise InputError(f"{src}: texture {t}: source {_brief(fallback)} is not an "
                             f"image index ({len(images)} images)")
        if source not in asset_of_image:
            asset_of_image[source] = _asset_image_bytes(doc, t, source, images[source])
        out.append(GaussianTexture(t, source, asset_of_image[source], map_name,
                                   tuple(channels), fallback, str(src)))
    return doc.json, out


def _asset_image_bytes(doc: _Document, t: int, index: int, img: Any) -> bytes:
    """The .tgs bytes of image ``index`` (an application/x-texgs bufferView or URI)."""
    if not isinstance(img, dict) or img.get("mimeType") != TGS_MIME_TYPE:
        raise InputError(f"{doc.src}: texture {t}: image {index} is not an {TGS_MIME_TYPE} "
                         "image")
    what = f"image {index}"
    if img.get("bufferView") is not None:
        return _buffer_view_bytes(doc, img["bufferView"], what)
    if img.get("uri") is not None:
        return _read_uri(img["uri"], doc, what)
    raise InputError(f"{doc.src}: texture {t}: image {index} has neither uri nor bufferView")


def decode_texture_image(tex: GaussianTexture, scale: float = 1.0) -> np.ndarray:
    """Decode a :class:`GaussianTexture` as the glTF texture reads it: float32 [h, w, 3 or 4]
    (NumPy reference decoder; the map at its own size, times ``scale``).

    Raises :class:`~texgs.errors.AssetFormatError` when the asset bytes are not a valid
    asset and :class:`~texgs.errors.InputError` when the asset has no such map or the map
    lacks a component ``channels`` reads. The decode allocates what the map's declared size
    needs (check ``read_asset(...).map_table()`` first when that matters)."""
    from .decode import decode_maps
    from .format import read_asset

    where = f"{tex.file}: texture {tex.texture}" if tex.file else f"texture {tex.texture}"
    asset = read_asset(tex.asset_bytes, where)
    maps = asset.map_table()
    names = [m.name for m in maps]
    if tex.map not in names:
        raise InputError(f"{where}: the asset has no {tex.map} map ({', '.join(names)})")
    m = maps[names.index(tex.map)]
    if max(tex.channels) >= m.channel_count:
        raise InputError(f"{where}: channels {list(tex.channels)} read component "
                         f"{max(tex.channels)} of a {m.channel_count}-component {tex.map} map")
    decoded = decode_maps(asset, scale=scale)[names.index(tex.map)]
    return _texture_image(decoded, tex.channels)


__all__ = ["EXTENSION_NAME", "FALLBACKS", "TGS_MIME_TYPE", "GaussianTexture", "GltfMapResult",
           "GltfProgress", "GltfResult", "GltfSetResult", "bake_gltf", "decode_texture_image",
           "read_gaussian_textures", "read_gaussian_textures_bytes"]
