"""The asset-pipeline hook: folder planning, `texgs bake-dir` (cache, resume after a kill,
failures, retries), a real Ray cluster on loopback, and the Python API (texgs.pipeline)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli, sample_crop
from texgs import format as fmt
from texgs.bake_cache import CACHE_NAME
from texgs.batch import MANIFEST_NAME, plan_folder

TINY = ["--gaussians", "60", "--steps", "40", "--lod-levels", "2"]


def _png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def _normal_map(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    n = np.stack([0.3 * np.sin(6 * x), 0.2 * np.cos(5 * y), np.ones_like(x)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return (n + 1) / 2


@pytest.fixture
def library(tmp_path) -> Path:
    """A small texture library: two loose textures, a set by file names, a set with a
    manifest in a subfolder, and a lone normal map."""
    src = tmp_path / "art"
    _png(src / "bricks.png", sample_crop("bricks", 40))
    _png(src / "noise.png", sample_crop("noise", 40))
    _png(src / "props" / "crate.png", sample_crop("sign", 40))
    _png(src / "props" / "crate_Normal.png", _normal_map(40))
    _png(src / "props" / "crate_gloss.png", sample_crop("gradient", 40)[..., :1].repeat(3, -1))
    _png(src / "walls" / "w_col.png", sample_crop("bricks", 40, 40, 40))
    _png(src / "walls" / "w_nm.png", _normal_map(40))
    (src / "walls" / MANIFEST_NAME).write_text(
        'name = "wall"\nwrap = "repeat"\n[maps]\nbasecolor = "w_col.png"\nnormal = "w_nm.png"\n')
    _png(src / "rock_n.png", _normal_map(32))
    _png(src / ".hidden" / "skip.png", sample_crop("noise", 16))
    return src


def _json(res: subprocess.CompletedProcess) -> dict:
    assert res.stdout.strip(), res.stderr
    return json.loads(res.stdout)


def _by_name(doc: dict) -> dict:
    return {r["name"]: r for r in doc["results"]}


def test_plan_folder_groups_sets_and_singles(library, tmp_path):
    jobs = {j.name: j for j in plan_folder(library, tmp_path / "out")}
    assert set(jobs) == {"bricks", "noise", "props/crate", "walls/wall", "rock_n"}
    kinds = lambda j: sorted(fmt.MAP_NAMES[s.kind] for s in j.sources)  # noqa: E731
    assert kinds(jobs["props/crate"]) == ["basecolor", "gloss", "normal"]
    assert kinds(jobs["walls/wall"]) == ["basecolor", "normal"]
    assert jobs["walls/wall"].wrap == "repeat"
    assert kinds(jobs["rock_n"]) == ["normal"]  # a lone normal map keeps its kind
    assert jobs["props/crate"].output == tmp_path / "out" / "props" / "crate.tgs"
    assert all(j.error is None for j in jobs.values())


def test_plan_folder_reports_ambiguous_sets(tmp_path):
    src = tmp_path / "art"
    _png(src / "a.png", sample_crop("bricks", 16))
    _png(src / "a_col.png", sample_crop("noise", 16))  # two base colours for "a"
    _png(src / "b.png", sample_crop("noise", 16))
    jobs = {j.name: j for j in plan_folder(src, tmp_path / "out")}
    assert "two basecolor maps" in jobs["a"].error
    assert jobs["b"].error is None


def test_bake_dir_bakes_then_skips_unchanged(library, tmp_path):
    out = tmp_path / "out"
    res = run_cli("bake-dir", str(library), "-o", str(out), *TINY, "--json")
    assert res.returncode == 0, res.stderr
    doc = _json(res)
    assert (doc["baked"], doc["cached"], doc["failed"]) == (5, 0, 0)
    rows = _by_name(doc)
    for name, r in rows.items():
        asset = fmt.read_asset((out / f"{name}.tgs").read_bytes(), name)
        assert r["size_bytes"] == (out / f"{name}.tgs").stat().st_size
        assert len(r["maps"]) == len(asset.map_table())
    wall = fmt.read_asset((out / "walls" / "wall.tgs").read_bytes())
    assert wall.address_x == wall.address_y == fmt.ADDRESS_REPEAT  # the manifest's wrap
    crate = {m["map"]: m for m in rows["props/crate"]["maps"]}
    assert set(crate) == {"basecolor", "normal", "gloss"}
    assert crate["normal"]["angular_mean_deg"] < 20
    assert not (out / ".hidden").exists()

    # a second run on unchanged inputs bakes nothing
    res2 = run_cli("bake-dir", str(library), "-o", str(out), *TINY, "--json")
    assert res2.returncode == 0, res2.stderr
    doc2 = _json(res2)
    assert (doc2["baked"], doc2["cached"]) == (0, 5)
    assert all(r["attempts"] == 0 for r in doc2["results"])  # no worker was started
    assert _by_name(doc2)["bricks"]["psnr_db"] == rows["bricks"]["psnr_db"]

    # one changed input, one damaged output: exactly those two are baked again
    _png(library / "noise.png", sample_crop("noise", 40, 8, 8))
    data = bytearray((out / "bricks.tgs").read_bytes())
    data[-1] ^= 0xFF
    (out / "bricks.tgs").write_bytes(bytes(data))
    doc3 = _json(run_cli("bake-dir", str(library), "-o", str(out), *TINY, "--json"))
    status = {k: r["status"] for k, r in _by_name(doc3).items()}
    assert status == {"bricks": "baked", "noise": "baked", "props/crate": "cached",
                      "walls/wall": "cached", "rock_n": "cached"}

    # other settings bake everything again
    doc4 = _json(run_cli("bake-dir", str(library), "-o", str(out), "--gaussians", "70",
                         "--steps", "40", "--lod-levels", "2", "--json"))
    assert doc4["baked"] == 5


def test_bake_dir_matches_standalone_bake(library, tmp_path):
    out = tmp_path / "out"
    assert run_cli("bake-dir", str(library), "-o", str(out), *TINY, "--quiet").returncode == 0
    one = tmp_path / "crate.tgs"
    res = run_cli("bake", str(library / "props"), "-o", str(one), *TINY, "--quiet")
    assert res.returncode == 0, res.stderr
    assert one.read_bytes() == (out / "props" / "crate.tgs").read_bytes()
    wall = tmp_path / "wall.tgs"
    res = run_cli("bake", str(library / "walls" / MANIFEST_NAME), "-o", str(wall), *TINY,
                  "--quiet")
    assert res.returncode == 0, res.stderr
    assert wall.read_bytes() == (out / "walls" / "wall.tgs").read_bytes()


def test_bake_dir_failure_is_reported_not_fatal(library, tmp_path):
    (library / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    out = tmp_path / "out"
    res = run_cli("bake-dir", str(library), "-o", str(out), *TINY, "--json")
    assert res.returncode == 4, res.stderr
    rows = _by_name(_json(res))
    assert rows["broken"]["status"] == "failed"
    assert "broken.png" in rows["broken"]["error"] and "\n" not in rows["broken"]["error"]
    assert rows["broken"]["exit_code"] == 2
    assert not (out / "broken.tgs").exists()
    assert all(r["status"] == "baked" for n, r in rows.items() if n != "broken")
    # the table form names the failure in one line and exits 4 too
    res = run_cli("bake-dir", str(library), "-o", str(out), *TINY)
    assert res.returncode == 4
    assert "failed broken:" in res.stdout and "1 failed" in res.stdout


def test_bake_dir_retries_a_crashed_worker(library, tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "bricks.fault").write_text("exit")  # the worker process dies once
    (faults / "noise.fault").write_text("raise")  # an unexpected error, once
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXGS_FAULT_DIR": str(faults)}
    res = subprocess.run([sys.executable, "-m", "texgs.cli", "bake-dir", str(library), "-o",
                          str(tmp_path / "out"), *TINY, "--json", "--jobs", "2"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    rows = _by_name(_json(res))
    assert all(r["status"] == "baked" for r in rows.values())
    # each faulty job needed a second run; a job running when the worker died may need one
    # more (the pool goes down with the worker, so its own fault may come on the next run)
    assert 2 <= rows["noise"]["attempts"] <= 3
    assert rows["bricks"]["attempts"] == 2
    assert not list(faults.iterdir())
    # with no retries allowed, the failure is reported and the batch exits 4
    (faults / "noise.fault").write_text("raise")
    res = subprocess.run([sys.executable, "-m", "texgs.cli", "bake-dir", str(library), "-o",
                          str(tmp_path / "out2"), *TINY, "--json", "--retries", "0"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 4
    rows = _by_name(_json(res))
    assert rows["noise"]["status"] == "failed" and "injected fault" in rows["noise"]["error"]
    assert sum(r["status"] == "baked" for r in rows.values()) == 4


def _cache_rows(out: Path) -> int:
    db = out / CACHE_NAME
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM bakes").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_bake_dir_killed_halfway_resumes(tmp_path):
    src = tmp_path / "art"
    for i in range(6):
        _png(src / f"t{i}.png", sample_crop("bricks", 40, 8 * i, 4 * i))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "texgs.cli", "bake-dir", str(src), "-o", str(out),
            "--gaussians", "60", "--steps", "300", "--lod-levels", "2", "--jobs", "1",
            "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while _cache_rows(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-bake
    finally:
        proc.wait()
    finished = _cache_rows(out)
    assert 2 <= finished < 6
    # nothing half-written: every .tgs present is a whole asset, no temporary files remain
    # in a form an engine would pick up
    for p in out.glob("*.tgs"):
        fmt.read_asset(p.read_bytes(), str(p))
    res = run_cli("bake-dir", str(src), "-o", str(out), "--gaussians", "60", "--steps", "300",
                  "--lod-levels", "2", "--json")
    assert res.returncode == 0, res.stderr
    doc = _json(res)
    assert doc["cached"] == finished and doc["baked"] == 6 - finished


def test_bake_dir_option_errors(library, tmp_path):
    # missing and non-folder sources, -o equal to SRC and --bpp with --gaussians are in
    # tests/test_cli_matrix_pipeline.py
    cases = [
        (["bake-dir", str(library), "-o", str(tmp_path / "o"), "--jobs", "2", "--ray",
          "local"], 1, "--jobs"),
        (["bake-dir", str(library), "-o", str(tmp_path / "o"), "--wrap", "mirror"], 1,
         "--wrap"),
        (["bake-dir", str(library), "-o", str(library / "bricks.png")], 1, "not a folder"),
    ]
    for args, code, text in cases:
        res = run_cli(*args)
        assert res.returncode == code, (args, res.stderr)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and text in lines[0], (args, res.stderr)
        assert "Traceback" not in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("bake-dir", str(empty), "-o", str(tmp_path / "o2"))
    assert res.returncode == 2 and "no images" in res.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bake_dir_on_a_ray_cluster_gives_the_local_bytes(library, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'texgs[ray]')")
    local = tmp_path / "local"
    assert run_cli("bake-dir", str(library), "-o", str(local), *TINY, "--quiet").returncode == 0
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "props__crate.fault").write_text("exit")  # one Ray worker dies mid-task
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXGS_FAULT_DIR": str(faults),
           "RAY_USAGE_STATS_ENABLED": "0"}
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    start = subprocess.run([*ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2",
                            "--include-dashboard=false", "--disable-usage-stats"],
                           capture_output=True, text=True, env=env, timeout=180)
    try:
        assert start.returncode == 0, start.stderr[-2000:]
        remote = tmp_path / "remote"
        res = subprocess.run([sys.executable, "-m", "texgs.cli", "bake-dir", str(library), "-o",
                              str(remote), *TINY, "--ray", f"127.0.0.1:{port}", "--json"],
                             capture_output=True, text=True, env=env, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        doc = _json(res)
        assert doc["backend"] == f"ray:127.0.0.1:{port}"
        rows = _by_name(doc)
        assert all(r["status"] == "baked" for r in rows.values())
        assert rows["props/crate"]["attempts"] == 2  # retried after its worker died
        for p in local.rglob("*.tgs"):
            assert (remote / p.relative_to(local)).read_bytes() == p.read_bytes(), p
    finally:
        subprocess.run([*ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _ray_head(port: int, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "start", "--head",
                           f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                           "--disable-usage-stats", *extra], capture_output=True, text=True,
                          env=env, timeout=180)


def test_bake_dir_ray_tasks_take_a_gpu_on_a_cluster_with_gpus(library, tmp_path):
    """A cluster that declares one GPU (a logical one: this machine has no CUDA GPU, so
    PyTorch in the task sees none): --device auto gives every task the GPU (Ray sets its
    CUDA_VISIBLE_DEVICES) and the bake falls back to the CPU; --device cuda fails each job
    with the reason; --device cpu asks for no GPU."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'texgs[ray]')")
    import torch
    if torch.cuda.is_available():
        pytest.skip("a real GPU is present: this test needs PyTorch to see none")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    start = _ray_head(port, env, "--num-gpus=1")
    try:
        assert start.returncode == 0, start.stderr[-2000:]

        def bake_dir(device: str, out: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "texgs.cli", "bake-dir", str(library),
                                   "-o", str(tmp_path / out), *TINY, "--ray",
                                   f"127.0.0.1:{port}", "--device", device, "--json"],
                                  capture_output=True, text=True, env=env, timeout=600)
        auto = bake_dir("auto", "auto")
        assert auto.returncode == 0, auto.stderr[-3000:]
        rows = _by_name(_json(auto))
        assert {r["visible_gpus"] for r in rows.values()} == {"0"}
        assert {r["renderer"] for r in rows.values()} == {"cpu-kernel"}
        assert all(r["host"] for r in rows.values())
        cpu = bake_dir("cpu", "cpu")
        assert cpu.returncode == 0, cpu.stderr[-3000:]
        assert all(r["visible_gpus"] != "0" for r in _by_name(_json(cpu)).values())
        cuda = bake_dir("cuda", "cuda")
        assert cuda.returncode == 4, cuda.stderr[-3000:]
        rows = _by_name(_json(cuda))
        assert all(r["status"] == "failed" and r["exit_code"] == 5 and
                   "no CUDA GPU" in r["error"] for r in rows.values())
    finally:
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"],
                       capture_output=True, env=env, timeout=120)


def test_bake_dir_device_cuda_refuses_a_cluster_without_gpus(library, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'texgs[ray]')")
    import torch
    if torch.cuda.is_available():
        pytest.skip("a real GPU is present")
    res = run_cli("bake-dir", str(library), "-o", str(tmp_path / "o"), *TINY, "--ray", "local",
                  "--device", "cuda")
    assert res.returncode == 5, res.stderr
    assert "the Ray cluster has no GPUs" in res.stderr
    assert not list((tmp_path / "o").rglob("*.tgs"))


def test_bake_dir_device_cuda_without_a_gpu_exits_5_before_baking(library, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a real GPU is present")
    res = run_cli("bake-dir", str(library), "-o", str(tmp_path / "o"), *TINY, "--device",
                  "cuda")
    assert res.returncode == 5 and "--device cuda" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_python_api(tmp_path):
    from texgs.bake.config import BakeConfig
    from texgs.pipeline import bake_material, bake_texture

    cfg = BakeConfig(bpp=None, gaussians=60, steps=40, lod_levels=2)
    tex = _png(tmp_path / "t.png", sample_crop("bricks", 40))
    r = bake_texture(tex, tmp_path / "t.tgs", cfg)
    assert r.status == "baked" and r.size_bytes == (tmp_path / "t.tgs").stat().st_size
    assert r.bits_per_texel == pytest.approx(r.size_bytes * 8 / 40 ** 2)
    assert r.maps[0]["map"] == "basecolor" and r.psnr_db == r.maps[0]["psnr_db"] > 10
    n = _png(tmp_path / "n.png", _normal_map(40))
    s = bake_material({"basecolor": tex, "normal": n}, tmp_path / "s.tgs", cfg,
                      weights={"normal": 2.0})
    assert [m["map"] for m in s.maps] == ["basecolor", "normal"]
    assert "angular_p99_deg" in s.maps[1]
    res = run_cli("bake", "-o", str(tmp_path / "cli.tgs"), "--map", f"basecolor={tex}",
                  "--map", f"normal={n}", "--weight", "normal=2", *TINY, "--quiet")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "cli.tgs").read_bytes() == (tmp_path / "s.tgs").read_bytes()
    from texgs.errors import InputError, OptionError

    with pytest.raises(InputError, match="no such file"):
        bake_texture(tmp_path / "missing.png", tmp_path / "x.tgs", cfg)
    with pytest.raises(OptionError, match="no roughness map"):
        bake_material({"basecolor": tex}, tmp_path / "x.tgs", cfg, weights={"roughness": 1})


def test_python_api_gltf(tmp_path):
    pytest.importorskip("pygltflib", reason="the gltf extra is not installed")
    from texgs.bake.config import BakeConfig
    from texgs.gltf import read_gaussian_textures
    from texgs.pipeline import bake_gltf

    cfg = BakeConfig(bpp=None, gaussians=60, steps=20, lod_levels=2)
    res = bake_gltf(ROOT / "samples" / "scene" / "scene.gltf", tmp_path / "scene.glb", cfg)
    assert res.output_bytes == (tmp_path / "scene.glb").stat().st_size
    _, textures = read_gaussian_textures(tmp_path / "scene.glb")
    assert len(textures) > 0
    assert res.asset_bytes == sum(len(d) for d in {t.image: t.asset_bytes
                                                   for t in textures}.values())
