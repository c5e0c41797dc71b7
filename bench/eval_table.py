"""Summarize a `texgs eval` results.json: for every codec (and target rate, for texgs and the
download codecs), the mean bits per texel and mean PSNR over the textures that have it, and
the mean BD-rates; a Markdown table for the README.

    python bench/eval_table.py REPORT_DIR/results.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 1
    doc = json.loads(Path(sys.argv[1]).read_text())
    n_tex = len(doc["textures"])
    groups: dict[tuple[str, float | None], list[dict]] = defaultdict(list)
    for m in doc["measurements"]:
        groups[(m["codec"], m["target_bpp"])].append(m)
    order = ["texgs", "astc4x4", "astc5x5", "astc6x6", "astc8x8", "astc10x10", "astc12x12",
             "bc7", "bc1", "jpeg", "webp", "avif", "jxl"]
    print(f"{n_tex} textures; mean over the textures each row has (n)\n")
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
    print("\n| BD-rate of texgs against | mean | textures with a PSNR overlap |")
    print("|---|---:|---:|")
    for anchor, v in doc["bd_rate_mean_percent"].items():
        mean = "n/a" if v["mean_percent"] is None else f"{v['mean_percent']:+.1f} %"
        print(f"| {anchor} | {mean} | {v['textures']} of {v['of']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
