"""Summarize a `texgs eval` results.json: for every codec (and target rate, for texgs and the
download codecs), the mean bits per texel and mean PSNR over the textures that have it
(texgs also at its GPU memory, records plus tile index, and at the size of its download
container, where the report has them), and the mean
BD-rates; a Markdown table for the README.

    python bench/eval_table.py REPORT_DIR/results.json [--without TEXTURE ...]

``--without`` leaves a texture (its name as in results.json, e.g.
stkflag_blueStartingLine_a) out of the means; the BD-rate table, which the report computed
over every texture, is then not printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--without", action="append", default=[], metavar="TEXTURE",
                    help="leave this texture out of the means (repeat)")
    args = ap.parse_args()
    doc = json.loads(args.results.read_text())
    names = {m["texture"] for m in doc["measurements"]}
    unknown = sorted(set(args.without) - names)
    if unknown:
        ap.error(f"--without {unknown[0]}: no such texture in {args.results}")
    n_tex = len(names - set(args.without))
    groups: dict[tuple[str, float | None], list[dict]] = defaultdict(list)
    for m in doc["measurements"]:
        if m["texture"] not in args.without:
            groups[(m["codec"], m["target_bpp"])].append(m)
    order = ["texgs", "astc4x4", "astc5x5", "astc6x6", "astc8x8", "astc10x10", "astc12x12",
             "bc7", "bc1", "jpeg", "webp", "avif", "jxl"]
    left_out = f" (without {', '.join(args.without)})" if args.without else ""
    print(f"{n_tex} textures{left_out}; mean over the textures each row has (n)\n")
    print("| codec | target bpt | n | mean bpt | mean PSNR dB | mean SSIM |")
    print("|---|---:|---:|---:|---:|---:|")
    for codec in order:
        for (c, target), rows in sorted(((k, v) for k, v in groups.items() if k[0] == codec),
                                        key=lambda kv: kv[0][1] or 0.0):
            bpp = sum(r["bits_per_texel"] for r in rows) / len(rows)
            finite = [r["psnr"] for r in rows if r["psnr"] is not None]  # null: lossless
            psnr = sum(finite) / len(finite) if finite else float("nan")
            lossless = len(rows) - len(finite)
            ssims = [r["ssim"] for r in rows if r.get("ssim") is not None]
            ssim = f"{sum(ssims) / len(ssims):.4f}" if ssims else "n/a"
            tgt = "" if target is None else f"{target:g}"
            note = f" ({lossless} lossless left out)" if lossless else ""
            print(f"| {c} | {tgt} | {len(rows)} | {bpp:.3f} | {psnr:.2f}{note} | {ssim} |")
            for label, key in (("texgs (GPU memory)", "gpu_bits_per_texel"),
                               ("texgs (download)", "download_bits_per_texel")):
                vals = [r.get(key) for r in rows]
                if codec == "texgs" and vals and all(vals):  # the same assets, other forms
                    print(f"| {label} | {tgt} | {len(rows)} | {sum(vals) / len(vals):.3f} | "
                          f"{psnr:.2f}{note} | {ssim} |")
    if args.without:
        return 0
    print("\n| BD-rate of texgs against | mean | textures with a PSNR overlap |")
    print("|---|---:|---:|")
    for anchor, v in doc["bd_rate_mean_percent"].items():
        mean = "n/a" if v["mean_percent"] is None else f"{v['mean_percent']:+.1f} %"
        print(f"| {anchor} | {mean} | {v['textures']} of {v['of']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
