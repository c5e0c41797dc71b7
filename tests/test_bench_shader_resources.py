"""bench/bench_shader_resources.py on Mesa RADV's null device (an AMD RDNA2 compiler, no
GPU): every decode shader variant compiles with no spills and no scratch memory, and the
tile-cooperative shader's group shared memory is what its batch and colour cache take,
small enough with the defaults to run more waves per SIMD than with the earlier ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_shader_resources as bench  # noqa: E402


def _run():
    try:
        return bench.run("navi21")
    except bench.Unavailable as e:
        pytest.skip(str(e))


def test_decode_shaders_on_an_amd_compiler():
    name, rows = _run()
    assert "RADV" in name
    by = {r["variant"]: r for r in rows}
    assert len(by) == len(bench.VARIANTS)
    for r in rows:
        assert r["Spilled VGPRs"] == 0 and r["Spilled SGPRs"] == 0, r
        assert r["Scratch size"] == 0, r  # the top-K arrays stay in registers
        assert 0 < r["VGPRs"] <= 256 and r["Subgroups per SIMD"] >= 1, r
    for label, batch, cache in (("tiles, defaults", 64, 512),
                                ("tiles, earlier LDS", 256, 2048)):
        need = 4 * (7 * batch + cache)  # 7 words per batch entry, the colour cache
        assert need <= by[label]["LDS size"] < need + 1024, by[label]
    assert by["tiles, defaults"]["Subgroups per SIMD"] > \
        by["tiles, earlier LDS"]["Subgroups per SIMD"]
    # a smaller MAX_K (the asset's K) takes fewer registers
    assert by["per-texel, MAX_K 5"]["VGPRs"] < by["per-texel, defaults"]["VGPRs"]


def test_missing_radv_or_package_exits_3(monkeypatch, capsys):
    monkeypatch.setattr(bench, "RADV_ICD", Path("/nonexistent/radeon_icd.json"))
    assert bench.main([]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench_shader_resources: error: Mesa RADV")
