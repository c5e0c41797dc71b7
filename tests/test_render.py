"""Renderers: the compiled CPU kernel and the tiled PyTorch path against the dense reference,
in values and gradients, plus a finite-difference check of the gradients themselves."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from texgs.bake import render_cpu  # noqa: E402
from texgs.bake.render_ref import _render_dense, _render_tiled_torch  # noqa: E402

ADDRESS = [(False, False), (True, True), (True, False), (False, True)]


def scene(seed: int, W: int, H: int, N: int, C: int = 3, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(N, 2, generator=g, dtype=dtype) * torch.tensor([W, H], dtype=dtype)
    s = torch.exp(torch.randn(N, 2, generator=g, dtype=dtype) * 0.5 + 0.9)
    th = torch.rand(N, generator=g, dtype=dtype) * math.pi
    cs, sn = torch.cos(th), torch.sin(th)
    i1, i2 = 1 / s[:, 0] ** 2, 1 / s[:, 1] ** 2
    conics = torch.stack([cs * cs * i1 + sn * sn * i2, cs * sn * (i1 - i2),
                          sn * sn * i1 + cs * cs * i2], 1)
    colors = torch.rand(N, C, generator=g, dtype=dtype)
    fallback = torch.rand(C, generator=g, dtype=dtype)
    return means, conics, colors, fallback


needs_kernel = pytest.mark.skipif(render_cpu.load_kernel() is None,
                                  reason=f"compiled kernel unavailable: {render_cpu.status()}")


@needs_kernel
@pytest.mark.parametrize("rep", ADDRESS)
@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_kernel_matches_dense_values(rep, k):
    W, H = 41, 27  # not multiples of the tile size
    m, c, col, fb = scene(k * 7 + rep[0] * 3 + rep[1], W, H, 70)
    ref = _render_dense(m, c, col, fb, W, H, k, *rep)
    out = render_cpu.render_cpu(m, c, col, fb, W, H, k, 8, *rep)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("rep", ADDRESS[:2])
def test_tiled_torch_matches_dense_values(rep):
    W, H = 35, 30
    m, c, col, fb = scene(3, W, H, 50)
    ref = _render_dense(m, c, col, fb, W, H, 5, *rep)
    out = _render_tiled_torch(m, c, col, fb, W, H, 5, 16, *rep)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)


def _grads(fn, tensors, weights):
    for t in tensors:
        t.grad = None
    (fn() * weights).sum().backward()
    return [t.grad.clone() for t in tensors]


@pytest.mark.parametrize("rep", ADDRESS[:3])
@pytest.mark.parametrize("impl", ["kernel", "tiled_torch"])
def test_fast_paths_match_dense_gradients(rep, impl):
    if impl == "kernel" and render_cpu.load_kernel() is None:
        pytest.skip(f"compiled kernel unavailable: {render_cpu.status()}")
    W, H = 29, 23
    tensors = [t.requires_grad_() for t in scene(11, W, H, 45)]
    weights = torch.randn(H, W, 3, generator=torch.Generator().manual_seed(5))
    ref = _grads(lambda: _render_dense(*tensors, W, H, 5, *rep), tensors, weights)
    if impl == "kernel":
        fast = lambda: render_cpu.render_cpu(*tensors, W, H, 5, 8, *rep)  # noqa: E731
    else:
        fast = lambda: _render_tiled_torch(*tensors, W, H, 5, 8, *rep)  # noqa: E731
    got = _grads(fast, tensors, weights)
    for name, a, b in zip(["means", "conics", "colors", "fallback"], got, ref):
        scale = b.abs().max().item() + 1e-12
        assert (a - b).abs().max().item() <= 2e-5 * scale + 1e-7, name


@needs_kernel
@pytest.mark.parametrize("channels", [1, 2, 4, 6])
def test_kernel_matches_dense_for_every_channel_count(channels):
    """The kernel's blend loops are compiled separately for 1..4 channels, with a generic loop
    for more: each must equal the reference in values and gradients."""
    W, H = 31, 19
    tensors = [t.requires_grad_() for t in scene(20 + channels, W, H, 40, C=channels)]
    weights = torch.randn(H, W, channels, generator=torch.Generator().manual_seed(channels))
    ref_img = _render_dense(*tensors, W, H, 5)
    out_img = render_cpu.render_cpu(*tensors, W, H, 5, 8)
    torch.testing.assert_close(out_img, ref_img, atol=2e-6, rtol=1e-5)
    ref = _grads(lambda: _render_dense(*tensors, W, H, 5), tensors, weights)
    got = _grads(lambda: render_cpu.render_cpu(*tensors, W, H, 5, 8), tensors, weights)
    for name, a, b in zip(["means", "conics", "colors", "fallback"], got, ref):
        scale = b.abs().max().item() + 1e-12
        assert (a - b).abs().max().item() <= 2e-5 * scale + 1e-7, name


def test_dense_reference_gradients_match_finite_differences():
    """The reference's autograd against central differences (float64). Selection is held
    fixed by perturbing little; scenes are checked to be away from rank ties."""
    W, H = 12, 10
    m, c, col, fb = scene(2, W, H, 12, C=2, dtype=torch.float64)
    for t in (m, c, col, fb):
        t.requires_grad_()
    fn = lambda m_, c_, col_, fb_: _render_dense(m_, c_, col_, fb_, W, H, 4)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (m, c, col, fb), eps=1e-7, atol=1e-5, rtol=1e-4)


@needs_kernel
def test_kernel_gradients_match_finite_differences():
    """The compiled backward against central differences of the compiled forward, on the
    loss sum(weights * image), for a sample of parameters (float32, so a loose tolerance).
    K = 32 exceeds the Gaussians reaching any texel, so no rank swap makes the finite
    difference jump; rank truncation is covered by the dense-gradient comparison above."""
    W, H = 24, 20
    m, c, col, fb = scene(4, W, H, 30)
    weights = torch.randn(H, W, 3, generator=torch.Generator().manual_seed(9))

    def loss(m_, c_, col_, fb_):
        return float((render_cpu.render_cpu(m_, c_, col_, fb_, W, H, 32, 8) * weights)
                     .double().sum())

    tensors = [m.clone().requires_grad_(), c.clone().requires_grad_(),
               col.clone().requires_grad_(), fb.clone().requires_grad_()]
    (render_cpu.render_cpu(*tensors, W, H, 32, 8) * weights).sum().backward()
    g = torch.Generator().manual_seed(1)
    checked = 0
    for ti, eps in [(0, 1e-2), (1, 1e-3), (2, 1e-2), (3, 1e-2)]:
        base = [m, c, col, fb]
        for _ in range(6):
            idx = tuple(int(torch.randint(0, s, (1,), generator=g)) for s in base[ti].shape)
            plus = [t.clone() for t in base]
            minus = [t.clone() for t in base]
            plus[ti][idx] += eps
            minus[ti][idx] -= eps
            fd = (loss(*plus) - loss(*minus)) / (2 * eps)
            an = float(tensors[ti].grad[idx])
            assert abs(fd - an) <= 3e-2 * max(1.0, abs(an)), (ti, idx, fd, an)
            checked += 1
    assert checked == 24


@needs_kernel
def test_kernel_is_deterministic_across_thread_counts():
    W, H = 64, 48
    tensors = [t.requires_grad_() for t in scene(8, W, H, 150)]
    weights = torch.randn(H, W, 3, generator=torch.Generator().manual_seed(2))
    results = []
    for threads in (1, 2, 3):
        for t in tensors:
            t.grad = None
        img = render_cpu.render_cpu(*tensors, W, H, 5, 16, nthreads=threads)
        (img * weights).sum().backward()
        results.append([img.detach()] + [t.grad.clone() for t in tensors])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


@needs_kernel
@pytest.mark.parametrize("rep", ADDRESS[:3])
@pytest.mark.parametrize("C,k", [(3, 5), (1, 3), (7, 4)])
def test_fused_render_mse_matches_dense_mse(rep, C, k):
    """render_mse_cpu (the render and its per-channel MSE in the kernel's own passes, the
    image gradient formed texel by texel) against the dense reference's MSE through
    autograd: values and gradients of a weighted sum of the per-channel MSEs."""
    W, H = 37, 29
    tensors = [t.requires_grad_() for t in scene(11 + C, W, H, 60, C)]
    target = torch.rand(H, W, C, generator=torch.Generator().manual_seed(5))
    weights = torch.linspace(0.5, 2.0, C)

    def ref():
        return ((_render_dense(*tensors, W, H, k, *rep) - target) ** 2).mean((0, 1))

    def fused():
        return render_cpu.render_mse_cpu(*tensors, target, W, H, k, 8, *rep)[1]

    img, mse = render_cpu.render_mse_cpu(*tensors, target, W, H, k, 8, *rep)
    assert not img.requires_grad
    torch.testing.assert_close(img, _render_dense(*tensors, W, H, k, *rep).detach(),
                               atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(mse, ref().detach(), atol=1e-7, rtol=1e-5)
    for a, b in zip(_grads(fused, tensors, weights), _grads(ref, tensors, weights)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-3)


@needs_kernel
@pytest.mark.parametrize("rep", ADDRESS)
@pytest.mark.parametrize("C,k", [(3, 5), (1, 3), (7, 4), (4, 5), (2, 1)])
def test_one_pass_loss_is_bitwise_the_two_pass_loss(rep, C, k):
    """render_loss_cpu (render, weighted MSE and its gradients in one kernel pass) gives the
    same bits as render_mse_cpu (forward, then a backward pass over the hand-over buffers,
    itself checked against the dense reference above) followed by the weighted sum: image,
    MSE, loss and every gradient, on a texture whose sides are not multiples of the tile or
    the vector width, for every thread count."""
    W, H = 45, 27
    tensors = [t.requires_grad_() for t in scene(20 + C, W, H, 70, C)]
    target = torch.rand(H, W, C, generator=torch.Generator().manual_seed(6))
    weights = torch.linspace(0.25, 1.5, C)
    img, mse = render_cpu.render_mse_cpu(*tensors, target, W, H, k, 16, *rep)
    two_pass = (mse * weights).sum()
    two_pass.backward()
    expected = [t.grad.clone() for t in tensors]
    for threads in (1, 2, 3):
        for t in tensors:
            t.grad = None
        img1, mse1, loss = render_cpu.render_loss_cpu(*tensors, target, weights, W, H, k, 16,
                                                      *rep, nthreads=threads)
        assert not img1.requires_grad and not mse1.requires_grad and loss.requires_grad
        assert torch.equal(img1, img) and torch.equal(mse1, mse.detach())
        assert torch.equal(loss.detach(), two_pass.detach())
        loss.backward()
        for got, want in zip((t.grad for t in tensors), expected):
            assert torch.equal(got, want)
    # an incoming gradient other than 1 scales every gradient
    for t in tensors:
        t.grad = None
    (3.0 * render_cpu.render_loss_cpu(*tensors, target, weights, W, H, k, 16, *rep)[2]
     ).backward()
    for got, want in zip((t.grad for t in tensors), expected):
        torch.testing.assert_close(got, 3.0 * want)


@needs_kernel
@pytest.mark.parametrize("rep", ADDRESS)
@pytest.mark.parametrize("C,k", [(3, 5), (1, 3), (7, 4)])
def test_rank_reuse_with_unchanged_parameters_is_bitwise_a_fresh_ranking(rep, C, k):
    """A kept ranking (RankReuse) reused with the parameters it was made with gives the same
    bits as ranking afresh: the kept candidates of each row of lanes hold every texel's top
    K. The first call ranks and keeps, the next two reuse, the fourth ranks again."""
    W, H = 45, 27
    tensors = [t.requires_grad_() for t in scene(40 + C, W, H, 70, C)]
    target = torch.rand(H, W, C, generator=torch.Generator().manual_seed(7))
    weights = torch.linspace(0.5, 1.25, C)

    def run(reuse):
        for t in tensors:
            t.grad = None
        img, mse, loss = render_cpu.render_loss_cpu(*tensors, target, weights, W, H, k, 16,
                                                    *rep, reuse=reuse)
        loss.backward()
        return [img, mse, loss.detach()] + [t.grad.clone() for t in tensors]

    fresh = run(None)
    reuse = render_cpu.RankReuse(3)
    for call in range(4):
        got = run(reuse)
        assert reuse.calls == call % 3 + 1
        for a, b in zip(got, fresh):
            assert torch.equal(a, b)


@needs_kernel
@pytest.mark.parametrize("rep", ADDRESS)
def test_rank_reuse_after_a_move_ranks_only_the_kept_candidates(rep):
    """After the Gaussians move, a reusing call ranks each texel's top K among the
    candidates kept by the ranking call (those its row of lanes selected then), at the new
    parameters: checked against the dense PyTorch reference restricted to those candidates,
    in values and gradients. The kept candidates hold each texel's dense top K at the
    ranking parameters; the moved scene's own top K differs somewhere (so the restriction
    is real), and a change of Gaussian count ranks afresh."""
    from texgs.bake.render_ref import CUTOFF_Q, _blend, _quad

    W, H, C, k = 37, 29, 3, 5
    m0, c0, col, fb = scene(77, W, H, 60, C)
    target = torch.rand(H, W, C, generator=torch.Generator().manual_seed(8))
    weights = torch.tensor([0.2, 0.5, 0.3])
    reuse = render_cpu.RankReuse(4)
    render_cpu.render_loss_cpu(m0, c0, col, fb, target, weights, W, H, k, 16, *rep,
                               reuse=reuse)
    kept = reuse.candidates()
    dense0 = _quad(*_centres(W, H), m0[None], c0[None], W, H, *rep)  # [P, N]
    for p in range(W * H):
        q = dense0[p]
        top = [int(i) for i in torch.argsort(q, stable=True)[:k] if q[i] < CUTOFF_Q]
        assert set(top) <= set(kept[p // W][p % W])
    g = torch.Generator().manual_seed(9)
    m1 = (m0 + (torch.rand(m0.shape, generator=g) - 0.5) * 3.0).requires_grad_()
    c1 = (c0 * (0.7 + 0.6 * torch.rand(c0.shape[0], 1, generator=g))).requires_grad_()
    col1, fb1 = col.clone().requires_grad_(), fb.clone().requires_grad_()
    img, mse, loss = render_cpu.render_loss_cpu(m1, c1, col1, fb1, target, weights, W, H, k,
                                                16, *rep, reuse=reuse)
    loss.backward()
    got = [t.grad.clone() for t in (m1, c1, col1, fb1)]

    tensors = [t.detach().clone().requires_grad_() for t in (m1, c1, col1, fb1)]
    q = _quad(*_centres(W, H), tensors[0][None], tensors[1][None], W, H, *rep)
    allowed = torch.zeros_like(q, dtype=torch.bool)
    for p in range(W * H):
        allowed[p, kept[p // W][p % W]] = True
    q = torch.where(allowed & (q < CUTOFF_Q), q, torch.full_like(q, math.inf))
    ids = torch.arange(q.shape[1]).expand(q.shape[0], -1)
    ref = _blend(q, ids, tensors[2], tensors[3], k).reshape(H, W, C)
    torch.testing.assert_close(img, ref.detach(), atol=2e-6, rtol=1e-5)
    ref_loss = (((ref - target) ** 2).mean((0, 1)) * weights).sum()
    ref_loss.backward()
    for a, t in zip(got, tensors):
        torch.testing.assert_close(a, t.grad, atol=1e-5, rtol=1e-3)
    fresh = render_cpu.render_loss_cpu(m1, c1, col1, fb1, target, weights, W, H, k, 16, *rep)
    assert not torch.equal(fresh[0], img)
    # a different Gaussian count ranks afresh
    again = render_cpu.render_loss_cpu(m1[:-1], c1[:-1], col1[:-1], fb1, target, weights, W,
                                       H, k, 16, *rep, reuse=reuse)
    plain = render_cpu.render_loss_cpu(m1[:-1], c1[:-1], col1[:-1], fb1, target, weights, W,
                                       H, k, 16, *rep)
    assert reuse.calls == 1 and torch.equal(again[0], plain[0])


def _centres(W: int, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Texel centres [W*H, 1] x and y, row by row (docs/CONVENTIONS.md)."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32) + 0.5,
                            torch.arange(W, dtype=torch.float32) + 0.5, indexing="ij")
    return xs.reshape(-1, 1), ys.reshape(-1, 1)


def test_keep_freed_memory_switch():
    """The baker's malloc tuning takes effect on glibc Linux and TEXGS_KEEP_HEAP=0 turns it
    off (each in a fresh process: it is set once per process)."""
    import platform
    import subprocess
    import sys

    code = "from texgs.bake import render_cpu; print(render_cpu.keep_freed_memory())"
    root = Path(__file__).resolve().parents[1]

    def run(env_extra):
        env = {**os.environ, "PYTHONPATH": str(root), **env_extra}
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert run({"TEXGS_KEEP_HEAP": "0"}) == "False"
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert run({"TEXGS_KEEP_HEAP": "1"}) == "True"


@needs_kernel
@pytest.mark.parametrize("rep", ADDRESS)
def test_kernel_binning_is_the_runtime_tile_index(rep):
    """render_cpu.bin_tiles gives exactly runtime.build_tile_index's lists (ascending ids per
    tile), for every thread count: Gaussians of every size, some wider than the texture and
    some off its edges, so the repeat mode's wrapped ranges are exercised."""
    import numpy as np
    from texgs.runtime import GaussianSet, build_tile_index

    W, H, N = 75, 61, 20000
    means, conics, colors, fallback = scene(31, W, H, N, 1)
    g = torch.Generator().manual_seed(4)
    means = means * 1.4 - 0.2 * torch.tensor([W, H])
    conics = conics * torch.exp(torch.randn(N, 1, generator=g) * 1.5)
    gs = GaussianSet(width=W, height=H, means=means.numpy(), conics=conics.numpy(),
                     colors=colors.numpy(), fallback=fallback.numpy(), repeat_x=rep[0],
                     repeat_y=rep[1])
    want = build_tile_index(gs, 16, 0.0)
    for threads in (1, 2, 3):
        off, ids = render_cpu.bin_tiles(means, conics, W, H, 16, *rep, nthreads=threads)
        np.testing.assert_array_equal(off.numpy(), want.offsets)
        np.testing.assert_array_equal(ids.numpy(), want.ids)
