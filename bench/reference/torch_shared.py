"""PyTorch reference for the `shared` mode's cost (not part of the npm scripts; needs python3-torch).

The toy network of bench/shared.ts — 250 → 4 ReLU layers of 100 (the shared trunk), T linear heads of
100, MSE per task, Adam 1e-3 — on one CPU thread, timed per step (median after warm-up):
- equal: one backward pass of Σ Lₜ;
- shared: per-task gradients by T backward passes as LibMTL takes them (its `rep_grad=False` path runs
  T `loss.backward(retain_graph=True)` calls; here T `autograd.grad` calls over the shared parameters,
  the same passes), J [T, P], G = J Jᵀ, MGDA's min-norm weights (Frank–Wolfe on G), the shared gradient
  Σ wₜ gₜ written into .grad, the heads' gradients of Σ wₜ Lₜ by one more pass through the heads only,
  then the optimizer step.

Needs PyTorch with a fast BLAS: on Debian `apt-get install python3-torch libopenblas0-pthread` (with only
the generic reference BLAS the products are several times slower).
Run: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/reference/torch_shared.py [--tasks 10] [--batch 100] [--steps 200]
"""

import argparse
import statistics
import time

import torch


def frank_wolfe_min_norm(G: torch.Tensor, iters: int = 250) -> torch.Tensor:
    """MGDA's min-norm point of the convex hull of the gradients, on the Gramian (LibMTL's solver)."""
    T = G.shape[0]
    w = torch.full((T,), 1.0 / T, dtype=G.dtype)
    for _ in range(iters):
        grad = G @ w
        t = int(torch.argmin(grad))
        v = torch.zeros_like(w)
        v[t] = 1.0
        d = v - w
        a = float(d @ G @ d)
        if a <= 1e-12:
            break
        step = float(-(w @ G @ d) / a)
        step = min(max(step, 0.0), 1.0)
        if step < 1e-8:
            break
        w = w + step * d
    return w


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    T, B = a.tasks, a.batch
    trunk = torch.nn.Sequential(*[m for i in range(4) for m in (torch.nn.Linear(250 if i == 0 else 100, 100), torch.nn.ReLU())])
    heads = torch.nn.ModuleList([torch.nn.Linear(100, 100) for _ in range(T)])
    shared = list(trunk.parameters())
    opt = torch.optim.Adam(list(trunk.parameters()) + list(heads.parameters()), lr=1e-3)
    xs = [torch.randn(B, 250) for _ in range(8)]
    ys = [torch.randn(T, B, 100) for _ in range(8)]

    def losses(i: int):
        rep = trunk(xs[i % 8])
        return rep, [torch.nn.functional.mse_loss(heads[t](rep), ys[i % 8][t]) for t in range(T)]

    def equal(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        _, ls = losses(i)
        sum(ls).backward()
        opt.step()

    def shared_mgda(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        rep, ls = losses(i)
        J = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(ls[t], shared, retain_graph=True)]) for t in range(T)])
        w = frank_wolfe_min_norm(J @ J.T)
        combined = w @ J
        offset = 0
        for prm in shared:
            n = prm.numel()
            prm.grad = combined[offset : offset + n].view_as(prm).clone()
            offset += n
        # The heads' gradients of Σ wₜLₜ, without touching the trunk again.
        detached = rep.detach()
        sum(w[t] * torch.nn.functional.mse_loss(heads[t](detached), ys[i % 8][t]) for t in range(T)).backward()
        opt.step()

    times = {"equal": [], "shared (MGDA, T backward passes)": []}
    fns = {"equal": equal, "shared (MGDA, T backward passes)": shared_mgda}
    for i in range(a.warmup + a.steps):
        order = list(fns) if i % 2 == 0 else list(reversed(list(fns)))
        for name in order:
            t0 = time.perf_counter()
            fns[name](i)
            dt = (time.perf_counter() - t0) * 1000
            if i >= a.warmup:
                times[name].append(dt)
    eq = statistics.median(times["equal"])
    print(f"PyTorch {torch.__version__}, 1 thread, T={T}, batch {B}, median of {a.steps} alternating steps after {a.warmup}")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:34s} {m:7.2f} ms/step  ({m / eq:.2f}x equal)")


if __name__ == "__main__":
    main()
