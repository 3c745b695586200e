"""Denoising: PSNR of noisy inputs vs their reconstructions, denoising AE vs plain AE vs PCA.

Vincent et al. ("Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008;
JMLR 2010) train an autoencoder to map corrupted inputs to clean ones. Here, on the test images of MNIST
and CIFAR-10, each input is corrupted (``aekit.data.corrupt``, seeded; gaussian noise is clipped to [0, 1],
masking zeroes exactly that fraction of each image's values) and reconstructed by

  * a denoising AE trained with that very noise (one model per noise),
  * a plain AE of the same network trained on clean images,
  * PCA with as many components as the AEs' code (the best linear projection of clean images);

the table gives the PSNR against the clean image (``aekit.eval.psnr``: mean over images of
``10 log10(1 / MSE)``, pixels in [0, 1]) of the noisy input and of each reconstruction.

Networks (bf16 autocast, Adam lr 1e-3 with cosine decay, batch 256):
  * MNIST (all 60,000 training images): MLP 784-512-256-64 and mirror, BCE loss, 10 epochs;
  * CIFAR-10 (the 20,000-image PNG training subset in shared/data/cifar10-images): conv backbone,
    stride-2 stages of 32, 64, 128 channels, a 256-d code, nearest-upsampling decoder, SSE loss, 15 epochs.

    python benchmarks/denoising.py            # both datasets, about 12 minutes on 2 CPU cores (alone)
    python benchmarks/denoising.py --quick    # 2,000 training images, 1 epoch: a smoke test
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import RESULTS, shared_data_dir, write_results

import aekit
from aekit import inference
from aekit.data import corrupt, pad_to
from aekit.eval import format_table, psnr, save_image_grid

NOISES = (("gaussian", 0.3), ("gaussian", 0.5), ("masking", 0.25), ("masking", 0.5))
SETUPS = {
    "mnist": dict(model=dict(hidden=[512, 256], latent_dim=64, loss="bce"), epochs=10),
    "cifar10": dict(model=dict(backbone="conv", backbone_options={"channels": [32, 64, 128]}, hidden=[],
                               latent_dim=256, loss="sse"), epochs=15),
}
RECIPE = dict(lr=1e-3, schedule="cosine", batch_size=256, precision="bf16-mixed", progress=False, evaluate=False,
              eval_every=0)
PICTURE_ITEMS = 8
PICTURE_NOISES = (("gaussian", 0.5), ("masking", 0.5))  # the harder level of each kind


def noise_name(kind: str, level: float) -> str:
    return f"{kind} {level:g}"


def run_dataset(name: str, root, limit: int | None, epochs: int, seed: int) -> tuple[list, dict, list]:
    """Rows of the table, the JSON entry and picture blocks (clean, noisy, denoised, AE, PCA) for one dataset."""
    setup = SETUPS[name]
    train = aekit.data.load(name, "train", data_dir=root, limit=limit, seed=seed)
    test = aekit.data.load(name, "test", data_dir=root, limit=None if limit is None else limit // 4, seed=seed)
    common = dict(epochs=epochs, seed=seed, **RECIPE, **setup["model"])
    t0 = time.perf_counter()
    models = {"pca": aekit.train("pca", train, latent_dim=setup["model"]["latent_dim"], evaluate=False).model,
              "ae": aekit.train("ae", train, **common).model}
    seconds = {"pca": None, "ae": time.perf_counter() - t0}
    rows, entry, blocks = [], {"train_images": len(train), "test_images": len(test), "model": setup["model"],
                               "epochs": epochs, "noises": {}}, []
    for kind, level in NOISES:
        t1 = time.perf_counter()
        dae = aekit.train("denoising", train, noise=kind, noise_level=level, **common).model
        seconds["denoising"] = time.perf_counter() - t1
        noisy = corrupt(test.x, kind, level, torch.Generator().manual_seed(seed + 1))
        outputs = {"denoising": inference.reconstruct(dae, noisy), "ae": inference.reconstruct(models["ae"], noisy),
                   "pca": inference.reconstruct(models["pca"], noisy).clamp(0, 1)}  # PCA's output is unbounded
        scores = {"noisy": psnr(test.x, noisy), **{k: psnr(test.x, v) for k, v in outputs.items()}}
        label = noise_name(kind, level)
        rows.append({"data": name, "noise": label, "noisy_db": scores["noisy"], "dae_db": scores["denoising"],
                     "ae_db": scores["ae"], "pca_db": scores["pca"], "dae_train_s": seconds["denoising"]})
        entry["noises"][label] = {"psnr_db": scores, "denoising_train_seconds": seconds["denoising"]}
        print(format_table(rows[-1:]), flush=True)
        if (kind, level) in PICTURE_NOISES:
            blocks.append([test.x, noisy, outputs["denoising"], outputs["ae"], outputs["pca"]])
    entry["ae_train_seconds"] = seconds["ae"]
    return rows, entry, blocks


def as_rgb32(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) or (N, 3, 32, 32) -> (N, 3, 32, 32), so both datasets share one picture."""
    images = pad_to(images, 32) if images.shape[-1] < 32 else images
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def main() -> None:
    p = argparse.ArgumentParser(description="denoising PSNR: denoising AE vs plain AE vs PCA")
    p.add_argument("--datasets", default="mnist,cifar10")
    p.add_argument("--quick", action="store_true", help="2000 training images and 1 epoch (a smoke test)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    root = shared_data_dir()
    t0 = time.perf_counter()
    rows, results, blocks = [], {"recipe": RECIPE, "seed": args.seed}, []
    for name in args.datasets.split(","):
        epochs = 1 if args.quick else SETUPS[name]["epochs"]
        r, entry, b = run_dataset(name, root, 2000 if args.quick else None, epochs, args.seed)
        rows += r
        results[name] = entry
        blocks += b
    results["wall_minutes"] = (time.perf_counter() - t0) / 60

    print(f"\nPSNR (dB) against the clean test images; wall {results['wall_minutes']:.1f} min:")
    print(format_table(rows, ["data", "noise", "noisy_db", "dae_db", "ae_db", "pca_db", "dae_train_s"]))
    tiles = torch.cat([as_rgb32(block[i][:PICTURE_ITEMS]) for block in blocks for i in range(len(block))])
    where = Path(tempfile.gettempdir()) if args.quick else RESULTS  # a smoke test leaves the results alone
    picture = save_image_grid(tiles, where / "denoising.png", nrow=PICTURE_ITEMS, scale=2)
    print(f"picture (per block of rows: clean, noisy, denoising AE, plain AE, PCA; "
          f"{', '.join(noise_name(*n) for n in PICTURE_NOISES)} for each dataset): {picture}")
    results["picture"] = picture.name
    if not args.quick:
        print(f"results: {write_results('denoising', results)}")


if __name__ == "__main__":
    main()
