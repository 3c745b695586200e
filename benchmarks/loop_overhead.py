"""aekit's training loop against a plain hand-written PyTorch loop, same model, data and batches.

Two models, throughput in images per second:

- the deep AE of Hinton & Salakhutdinov (784-1000-500-250-30, ReLU, BCE) on random [0,1] data shaped
  like MNIST, fp32 and bf16 autocast: aekit adds Fabric, phases, NaN checks and logging, whose overhead
  should be a few percent at most;
- ACAI on its conv network (lines, 32x32, depth 16, 4 scales, batch 64, bf16): two players with two
  optimisers. The hand-written step is the official one (one forward pass, each player's loss
  backpropagated into its own parameters); aekit runs it as two phases, ``ae`` then ``critic``, the critic
  reusing the images the ae phase decoded. A third row makes the critic's phase come first, so it must
  decode the batch itself: what sharing the forward pass saves.

    python benchmarks/loop_overhead.py [--steps 200] [--batch-size 256] [--acai-steps 100] [--models ae,acai]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from _common import write_results

import aekit
from aekit.data import ArrayDataset
from aekit.eval import format_table
from aekit.train import TrainConfig, fit

HIDDEN = [1000, 500, 250]


def plain_loop(x: torch.Tensor, steps: int, batch_size: int, bf16: bool) -> float:
    torch.manual_seed(0)
    model = aekit.build("ae", input_shape=784, latent_dim=30, hidden=HIDDEN)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(x.shape[0], generator=g)
    t0 = time.perf_counter()
    for i in range(steps):
        idx = order[i * batch_size:(i + 1) * batch_size]
        xb = x[idx]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model.decoder(model.encoder(xb))
        loss = F.binary_cross_entropy_with_logits(logits.float(), xb, reduction="sum") / xb.shape[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch_size / (time.perf_counter() - t0)


def fit_speed(model, x: torch.Tensor, steps: int, batch_size: int, precision: str, **settings) -> float:
    """Images per second of ``steps`` steps of aekit's loop (one epoch of ``x``)."""
    cfg = TrainConfig(epochs=1, batch_size=batch_size, steps_per_epoch=steps, progress=False, precision=precision,
                      accelerator="cpu", **settings)
    result = fit(model, ArrayDataset(x=x, name="benchmark"), cfg)
    assert result.history[-1]["step"] == steps, "the data must hold steps * batch_size examples"
    return steps * batch_size / result.train_seconds


def aekit_loop(x: torch.Tensor, steps: int, batch_size: int, bf16: bool) -> float:
    torch.manual_seed(0)
    model = aekit.build("ae", input_shape=784, latent_dim=30, hidden=HIDDEN)
    return fit_speed(model, x, steps, batch_size, "bf16-mixed" if bf16 else "32-true")


ACAI_BATCH = 64  # the paper's


def acai_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return aekit.build("acai", input_shape=[1, 32, 32], latent_dim=64, backbone="acai",
                       backbone_options={"depth": 16, "scales": 4}, loss="mse")


def plain_acai_loop(x: torch.Tensor, steps: int) -> float:
    """The official ACAI step by hand: one forward pass; the autoencoder's loss (MSE + 0.5 c(x_mix)^2) and
    the critic's ((c(x_mix) - alpha)^2 + c(0.2 x + 0.8 x_hat)^2) each backpropagated into its own player."""
    model = acai_model()
    critic = list(model.critic.parameters())
    ae = [p for name, p in model.named_parameters() if not name.startswith("critic.")]
    opt_ae, opt_critic = torch.optim.Adam(ae, lr=5e-4), torch.optim.Adam(critic, lr=5e-4)
    t0 = time.perf_counter()
    for i in range(steps):
        xb = x[i * ACAI_BATCH:(i + 1) * ACAI_BATCH]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = model.encode(xb)
            x_hat = model.decode(z)
            alpha, z_mix = model.mix(z)
            x_mix = model.decode(z_mix)
            loss_ae = F.mse_loss(x_hat.float(), xb) + 0.5 * model.critic(x_mix).float().pow(2).mean()
            near_real = (x_hat + 0.2 * (xb - x_hat)).detach()
            loss_critic = ((model.critic(x_mix.detach()).float() - alpha.squeeze(1)).pow(2).mean()
                           + model.critic(near_real).float().pow(2).mean())
        opt_ae.zero_grad(set_to_none=True)
        opt_critic.zero_grad(set_to_none=True)
        loss_ae.backward(inputs=ae)
        loss_critic.backward(inputs=critic)
        opt_ae.step()
        opt_critic.step()
    return steps * ACAI_BATCH / (time.perf_counter() - t0)


def aekit_acai_loop(x: torch.Tensor, steps: int, critic_first: bool = False) -> float:
    model = acai_model()
    if critic_first:  # the critic's phase decodes the batch itself, as before it reused the ae phase's images
        model.phases = ("critic", "ae")
    return fit_speed(model, x, steps, ACAI_BATCH, "bf16-mixed", lr=5e-4)


def best_of_three(loops: dict) -> dict[str, float]:
    """Alternate the loops so a busy moment of the machine hits each; the best of three runs of each."""
    for run in loops.values():  # warm-up (allocator, kernels)
        run()
    runs = [{name: run() for name, run in loops.items()} for _ in range(3)]
    return {name: max(r[name] for r in runs) for name in loops}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--acai-steps", type=int, default=100)
    p.add_argument("--models", default="ae,acai")
    args = p.parse_args()
    models = args.models.split(",")
    rows = []
    if "ae" in models:
        x = torch.rand(args.steps * args.batch_size, 784, generator=torch.Generator().manual_seed(0))
        for bf16 in (False, True):
            best = best_of_three({"plain": lambda: plain_loop(x, args.steps, args.batch_size, bf16),
                                  "aekit": lambda: aekit_loop(x, args.steps, args.batch_size, bf16)})
            rows.append({"model": "deep AE", "precision": "bf16-mixed" if bf16 else "fp32",
                         "plain_img_per_s": round(best["plain"]), "aekit_img_per_s": round(best["aekit"]),
                         "aekit_vs_plain": round(best["aekit"] / best["plain"], 3)})
    if "acai" in models:
        lines = aekit.data.load("lines", split="train", limit=args.acai_steps * ACAI_BATCH, scale="pm1").x
        best = best_of_three({"plain": lambda: plain_acai_loop(lines, args.acai_steps),
                              "aekit": lambda: aekit_acai_loop(lines, args.acai_steps),
                              "critic first": lambda: aekit_acai_loop(lines, args.acai_steps, critic_first=True)})
        for variant in ("aekit", "critic first"):
            rows.append({"model": "ACAI" if variant == "aekit" else "ACAI, critic first", "precision": "bf16-mixed",
                         "plain_img_per_s": round(best["plain"]), "aekit_img_per_s": round(best[variant]),
                         "aekit_vs_plain": round(best[variant] / best["plain"], 3)})
    print(format_table(rows))
    path = write_results("loop_overhead", {"steps": args.steps, "batch_size": args.batch_size,
                                           "acai_steps": args.acai_steps, "acai_batch_size": ACAI_BATCH, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
