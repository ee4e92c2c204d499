"""Study 4 — Pascanu, Mikolov & Bengio (2013)'s "cliff": one recurrent unit, its loss
surface over (w, b), and gradient descent with and without clipping.

The network (the paper's single-unit example, σ the logistic sigmoid)::

    x_t = w σ(x_{t-1}) + b,   x_0 = 0.5,   L(w, b) = (x_T - 0.7)²

For ``w`` above about 4 the map ``x -> w σ(x) + b`` has two stable fixed points, and
the line in (w, b) where one of them appears or disappears is a wall: ``x_T`` jumps
from one basin to the other across it and ``L`` with it, over a band that narrows as
``T`` grows (about 0.05 in ``b`` at T = 10; under 0.001 at T = 50, too thin for a grid
or a descent step to meet). In that band ``‖∇L‖`` is hundreds of times its size on
either side, and one unclipped step ``-lr ∇L`` throws the parameters far away; clipping
the gradient's norm to ``c`` bounds every step by ``lr · c`` (the paper's figure 6).

The gradient is exact, by forward-mode differentiation of the recursion::

    ∂x_t/∂w = σ(x_{t-1}) + w σ'(x_{t-1}) ∂x_{t-1}/∂w
    ∂x_t/∂b = 1          + w σ'(x_{t-1}) ∂x_{t-1}/∂b
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lowlevel.apps.lab import _output


@dataclasses.dataclass(frozen=True)
class CliffConfig:
    time_steps: int = 10  # T; the wall narrows as T grows (see above)
    target: float = 0.7
    x0: float = 0.5
    w_range: tuple = (3.0, 9.0)
    b_range: tuple = (-5.0, -1.0)
    grid: int = 241  # points per axis of the surface
    start: tuple = (6.5, -2.5)  # (w, b) where both descents begin, below the wall
    learning_rate: float = 0.01
    clip: float = 5.0  # global-norm threshold of the clipped descent
    steps: int = 60
    seed: int = 0  # nothing here is random; the field takes the lab's common --seed


def loss_and_gradient(w, b, config: CliffConfig):
    """``(L, ∂L/∂w, ∂L/∂b)`` elementwise over arrays ``w, b`` (broadcast)."""
    w, b = np.broadcast_arrays(np.asarray(w, np.float64), np.asarray(b, np.float64))
    x = np.full(w.shape, config.x0)
    dx_dw, dx_db = np.zeros(w.shape), np.zeros(w.shape)
    for _ in range(config.time_steps):
        s = 1.0 / (1.0 + np.exp(-x))  # σ(x_{t-1})
        slope = w * s * (1.0 - s)  # w σ'(x_{t-1}) = ∂x_t/∂x_{t-1}
        dx_dw, dx_db = s + slope * dx_dw, 1.0 + slope * dx_db
        x = w * s + b
    error = x - config.target
    return error ** 2, 2 * error * dx_dw, 2 * error * dx_db


def descend(config: CliffConfig, clip=None) -> np.ndarray:
    """Gradient descent from ``config.start``: ``[steps + 1, 4]`` rows ``(w, b, L, ‖∇L‖)``
    before each step; with ``clip``, ``∇L`` is scaled to norm ``clip`` when above it."""
    w, b = config.start
    path = []
    for _ in range(config.steps + 1):
        loss, gw, gb = (float(v) for v in loss_and_gradient(w, b, config))
        norm = float(np.hypot(gw, gb))
        path.append((w, b, loss, norm))
        scale = clip / norm if clip is not None and norm > clip else 1.0
        w, b = w - config.learning_rate * scale * gw, b - config.learning_rate * scale * gb
    return np.array(path)


def run(out, config: CliffConfig = CliffConfig()) -> dict:
    """Write ``cliff.csv`` (both paths), ``cliff.npz`` (surface and paths), ``cliff.png``,
    ``cliff.md``."""
    out = _output.out_dir(out)
    w = np.linspace(*config.w_range, config.grid)
    b = np.linspace(*config.b_range, config.grid)
    ww, bb = np.meshgrid(w, b)  # [b, w]
    surface, gw, gb = loss_and_gradient(ww, bb, config)
    paths = {"unclipped": descend(config), f"clipped at {config.clip:g}": descend(
        config, config.clip)}
    rows = [{"descent": name, "step": i, "w": p[0], "b": p[1], "loss": p[2], "grad_norm": p[3]}
            for name, path in paths.items() for i, p in enumerate(path)]
    _output.write_csv(out / "cliff.csv", rows)
    np.savez(out / "cliff.npz", w=w, b=b, loss=surface, grad_norm=np.hypot(gw, gb),
             **{name.split()[0]: path for name, path in paths.items()})
    _plot(out / "cliff.png", w, b, surface, paths, config)
    summary = [{"descent": name, "final_loss": path[-1, 2], "largest_step": float(np.max(
        np.hypot(np.diff(path[:, 0]), np.diff(path[:, 1])))), "largest_grad": path[:, 3].max()}
        for name, path in paths.items()]
    (out / "cliff.md").write_text(report(summary, np.hypot(gw, gb), config))
    return {"rows": summary, "files": ["cliff.csv", "cliff.npz", "cliff.png", "cliff.md"]}


def _plot(path, w, b, surface, paths, config):
    fig, axes = _output.figure(1, 2, width=4.4, height=3.6)
    ax = axes[0, 0]
    image = ax.contourf(w, b, np.log10(surface + 1e-12), levels=30, cmap="viridis")
    fig.colorbar(image, ax=ax).set_label("log10 L", fontsize=8)
    for (name, p), colour in zip(paths.items(), ("white", "red")):
        ax.plot(p[:, 0], p[:, 1], "o-", color=colour, ms=2, lw=0.9, label=name)
    ax.set(xlim=config.w_range, ylim=config.b_range)
    ax.set_xlabel("w", fontsize=8)
    ax.set_ylabel("b", fontsize=8)
    ax.set_title(f"L = (x_T - {config.target})², T = {config.time_steps}", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[0, 1]
    for (name, p), colour in zip(paths.items(), ("black", "red")):
        ax.semilogy(p[:, 2], color=colour, lw=1, label=f"{name}: L")
        ax.semilogy(p[:, 3], color=colour, lw=0.8, ls="--", label=f"{name}: ‖∇L‖")
    ax.axhline(config.clip, color="gray", lw=0.6, ls=":", label=f"threshold {config.clip:g}")
    ax.set_xlabel("descent step", fontsize=8)
    ax.set_ylabel("loss, gradient norm", fontsize=8)
    ax.set_title(f"lr {config.learning_rate:g}", fontsize=9)
    ax.legend(fontsize=6)
    _output.save(fig, path)


def report(summary, grad_norm, config) -> str:
    lines = [f"- {s['descent']}: largest ‖∇L‖ met {s['largest_grad']:.3g}, largest step "
             f"{s['largest_step']:.3g}, final L {s['final_loss']:.3g}." for s in summary]
    return "\n".join([
        "# The cliff (Pascanu et al. 2013, figure 6)", "",
        f"x_t = w σ(x_t-1) + b, x_0 = {config.x0}, L = (x_T - {config.target})², "
        f"T = {config.time_steps}; gradient descent from (w, b) = {config.start}, lr "
        f"{config.learning_rate:g}, {config.steps} steps, unclipped and clipped at "
        f"norm {config.clip:g}. On the {config.grid}² grid ‖∇L‖ has median "
        f"{np.median(grad_norm):.3g} and maximum {np.max(grad_norm):.3g}.", "",
        "![cliff](cliff.png)", "", *lines, ""])
