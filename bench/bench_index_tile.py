"""What the runtime's choice of index tile (texgs.runtime.choose_index_tile) does to GPU memory
and to the candidates a randomly sampled texel walks, against fixed 16-, 32- and 64-texel
indexes, at every rate of a `texgs eval` run, in one run.

For every texgs measurement of an eval report (results.json) whose bake is in the eval's bake
cache, the asset is put in Morton order (as the eval does) and its GPU buffers are built at
each tile (records + pruned Rice-coded index, texgs.runtime.build_gpu_buffers): GPU bits per
texel and candidates per texel (pruned lists, mean over texels). Per rate the table gives the
means over the textures (and the largest candidate count). Last, the BD-rate of texgs in GPU
memory against the report's ASTC and BC curves (texgs.eval.report.texture_bd_rates, the
eval's own), texgs's PSNRs unchanged, with each index.

    python bench/bench_index_tile.py --results docs/results/eval_gpu/results.json --bake-cache DIR \
        [--plot PNG]

``--plot``: GPU bits per texel against candidates per texel, a line per rate through the
three tiles, the runtime's choice ringed (docs/images/index_tile.png).

DIR: the ``--bake-cache`` of that eval run (docs/results/bench_index_tile.txt came from the 60
bakes of docs/results/eval_gpu).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import format as fmt  # noqa: E402
from texgs.eval.report import (Measurement, _in_morton_order, bake_cache_key,  # noqa: E402
                               load_rgb8, texture_bd_rates)
from texgs.runtime import (AUTO_MAX_CANDIDATES, build_gpu_buffers,  # noqa: E402
                           candidates_per_texel, choose_index_tile, dequantize)

TILES = (16, 32, 64)
ANCHORS = ("astc (GPU memory)", "bc (GPU memory)")


def measure(asset: fmt.Asset) -> dict:
    """Per tile (bits per texel on the GPU, candidates per texel), the chosen tile, and per
    tile the candidates per texel before pruning that the choice reads ("unpruned")."""
    texels = asset.width * asset.height
    g = dequantize(asset)
    row: dict = {"auto": choose_index_tile(g),
                 "unpruned": {t: candidates_per_texel(g, t) for t in TILES}}
    for t in TILES:
        b = build_gpu_buffers(asset, tile=t)
        per_texel = b.index.counts_per_texel(asset.width, asset.height)
        row[t] = (b.total_bytes * 8 / texels, float(per_texel.mean()))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, required=True, help="results.json of a texgs eval run")
    ap.add_argument("--bake-cache", type=Path, required=True, help="that run's --bake-cache")
    ap.add_argument("--plot", type=Path, default=None, help="write the trade-off plot here")
    args = ap.parse_args()
    try:
        report = json.loads(args.results.read_text())
        cfg = report["config"]
        textures = report["textures"]
    except (OSError, ValueError, KeyError) as e:
        print(f"bench_index_tile: error: {args.results}: not a texgs eval results.json ({e})",
              file=sys.stderr)
        return 2
    fields = {f.name for f in dataclasses.fields(Measurement)}
    rows: dict[tuple[str, float], dict] = {}
    by_texture: dict[str, list[Measurement]] = {}
    for t in textures:
        rgb8 = None
        for m in report["measurements"]:
            if m["texture"] != t["name"]:
                continue
            by_texture.setdefault(t["name"], []).append(
                Measurement(**{k: v for k, v in m.items() if k in fields}))
            if m["codec"] != "texgs":
                continue
            if rgb8 is None:
                rgb8 = load_rgb8(ROOT / t["path"] if not Path(t["path"]).is_absolute() else t["path"])
            f = args.bake_cache / bake_cache_key(rgb8, t["normal_map"], m["target_bpp"],
                                                 cfg["steps"], cfg["seed"])
            if not f.is_file():
                print(f"bench_index_tile: error: {f}: no bake of {t['name']} at "
                      f"{m['target_bpp']} bpp in the cache", file=sys.stderr)
                return 2
            data = f.read_bytes()
            _, asset, _ = _in_morton_order(data, fmt.read_asset(data, str(f)))
            row = measure(asset)
            rows[(t["name"], m["target_bpp"])] = row
            print(f"  {t['name'][:26]:26s} {m['target_bpp']:5g} bpp: " + "  ".join(
                f"{tile}: {row[tile][0]:.3f} b {row[tile][1]:6.1f} c" for tile in TILES)
                + f"  auto {row['auto']}", flush=True)
    rates = sorted({r for _, r in rows})
    print(f"\n{'rate':>5s} | " + " | ".join(f"tile {t}: GPU bits, cand. (max)" for t in TILES)
          + " | auto: tiles chosen, GPU bits, cand. (max) | GPU memory, auto vs 32")
    for r in rates:
        sel = [v for (_, rr), v in rows.items() if rr == r]
        cells = []
        for t in TILES:
            cells.append(f"{np.mean([v[t][0] for v in sel]):6.3f}, {np.mean([v[t][1] for v in sel]):5.1f} "
                         f"({max(v[t][1] for v in sel):5.1f})")
        auto = [v[v["auto"]] for v in sel]
        chosen = ", ".join(f"{t}x{sum(v['auto'] == t for v in sel)}" for t in TILES
                           if any(v["auto"] == t for v in sel))
        gain = np.mean([a[0] for a in auto]) / np.mean([v[32][0] for v in sel]) - 1
        print(f"{r:5g} | " + " | ".join(cells) + f" | {chosen}: {np.mean([a[0] for a in auto]):6.3f}, "
              f"{np.mean([a[1] for a in auto]):5.1f} ({max(a[1] for a in auto):5.1f}) | {100 * gain:+.1f} %")
    print(f"\ncandidates per texel before pruning, what choose_index_tile reads (budget "
          f"{AUTO_MAX_CANDIDATES:g}): mean (max)")
    for r in rates:
        sel = [v["unpruned"] for (_, rr), v in rows.items() if rr == r]
        print(f"{r:5g} | " + " | ".join(f"tile {t}: {np.mean([u[t] for u in sel]):6.1f} "
                                        f"({max(u[t] for u in sel):6.1f})" for t in TILES))
    print(f"\nBD-rate of texgs in GPU memory (mean over {len(by_texture)} textures):")
    for label, pick in [(f"tile {t}", lambda v, t=t: t) for t in TILES] + [("auto", lambda v: v["auto"])]:
        bd: dict[str, list[float]] = {a: [] for a in ANCHORS}
        for name, ms in by_texture.items():
            ms = [dataclasses.replace(m) for m in ms]
            for m in ms:
                if m.codec == "texgs":
                    v = rows[(name, m.target_bpp)]
                    m.gpu_bits_per_texel = v[pick(v)][0]
            res = texture_bd_rates(ms)
            for a in ANCHORS:
                if res.get(a) is not None:
                    bd[a].append(res[a])
        print(f"  {label:8s} " + "  ".join(f"vs {a.split()[0].upper()}: {np.mean(bd[a]):+6.1f} % "
                                          f"({len(bd[a])})" for a in ANCHORS))
    if args.plot is not None:
        plot(rows, rates, args.plot)
        print(f"plot: {args.plot}")
    return 0


def plot(rows: dict, rates: list[float], path: Path) -> None:
    """Per rate, the mean (GPU bits per texel, candidates per texel) of each tile, joined,
    and the runtime's choice (the mean over the textures of what it chose for each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for i, r in enumerate(rates):
        sel = [v for (_, rr), v in rows.items() if rr == r]
        xs = [np.mean([v[t][0] for v in sel]) for t in TILES]
        ys = [np.mean([v[t][1] for v in sel]) for t in TILES]
        colour = plt.cm.viridis(i / max(1, len(rates) - 1))
        ax.plot(xs, ys, "-o", color=colour, label=f"{r:g} bpp asset")
        for t, x, y in zip(TILES, xs, ys):
            ax.annotate(str(t), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.plot(np.mean([v[v["auto"]][0] for v in sel]), np.mean([v[v["auto"]][1] for v in sel]),
                "o", ms=13, mfc="none", mec="crimson", mew=1.5)
    ax.plot([], [], "o", ms=11, mfc="none", mec="crimson", label="runtime's choice")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("GPU memory, records + index (bits per texel)")
    ax.set_ylabel("candidates per texel, random access")
    ax.set_title("index tile (16 / 32 / 64 texels): memory against decode work")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
