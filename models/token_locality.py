#!/usr/bin/python3
"""How local a trained VQ tokenizer's tokens are (issue #5), on held-out episodes.

    /usr/bin/python3 models/token_locality.py ARCH.yaml VQ.pt DATA_DIR [--val-episodes 16]

Between consecutive frames it counts the tokens that change and the pixel blocks under a token
(8x8 pixels for the demo model) that change at all. A tokenizer whose tokens follow the pixels
changes about as many tokens as blocks; one with image-wide statistics (GroupNorm, attention)
or a receptive field as large as the frame also flips tokens of blocks that did not change,
which the predictor must then guess. Also
reports the reconstruction PSNR of every held-out frame, and where one token's latent looks in
the frame (gradient support and mass: see receptive_field). The held-out episodes are train.py's:
the last --val-episodes in file-name order.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402
from arvideo import card as cardmod  # noqa: E402
from arvideo import reference as R  # noqa: E402


def receptive_field(tok, frames):
    """Where the latent of one token near the middle of the grid looks: the gradient of its
    squared norm with respect to each of @frames (uint8 [N, H, W, C]). Returns the rows and
    columns with a nonzero gradient and the fraction of the gradient mass (|d|, summed over
    channels, each frame's normalised to 1, averaged) inside the token's own pixel block and
    inside the 3x3 blocks around it."""
    gh, gw = tok.grid
    h, w = tok.cfg["resolution"]
    bh, bw = h // gh, w // gw
    x = R.pixels_to_float(torch.from_numpy(frames)).requires_grad_()
    ty, tx = gh // 2 - 1, gw // 2 - 1
    tok.pre_quant_conv(tok.encoder(x))[:, :, ty, tx].pow(2).sum().backward()
    g = x.grad.abs().sum(1)
    g = (g / g.sum((1, 2), keepdim=True)).mean(0)
    nz = (g > 0).nonzero()
    own = g[ty * bh:(ty + 1) * bh, tx * bw:(tx + 1) * bw].sum()
    near = g[max(0, ty - 1) * bh:(ty + 2) * bh, max(0, tx - 1) * bw:(tx + 2) * bw].sum()
    return {"token": [ty, tx], "support_rows": [int(nz[:, 0].min()), int(nz[:, 0].max())],
            "support_cols": [int(nz[:, 1].min()), int(nz[:, 1].max())],
            "mass_own_block": float(own), "mass_3x3_blocks": float(near)}


@torch.no_grad()
def measure(card_path, vq_path, data_dir, val_episodes):
    card = cardmod.load_card(card_path)
    tcfg = card["tokenizer"]
    tok = R.VQTokenizer(tcfg)
    tok.load_state_dict(torch.load(vq_path))
    tok.eval()
    frames, _, names = train.load_episodes(data_dir, tcfg["resolution"])
    _, va = train.split(len(frames), val_episodes)
    frames = frames[va]                                    # [E, T, H, W, C]
    with torch.enable_grad():   # on the first frame of every held-out episode
        rf = receptive_field(tok, frames[:, 0])
    tokens = train.tokenize_all(tok, frames)               # [E, T, gh*gw]
    gh, gw = tok.grid
    e, t, h, w, c = frames.shape
    bh, bw = h // gh, w // gw
    # a block changed when any of its pixels did
    diff = np.abs(frames[:, 1:].astype(np.int16) - frames[:, :-1].astype(np.int16)).max(-1)   # [E, T-1, H, W]
    blocks = torch.from_numpy(diff.reshape(e, t - 1, gh, bh, gw, bw).max(5).max(3) > 0)       # [E, T-1, gh, gw]
    changed = (tokens[:, 1:] != tokens[:, :-1]).reshape(e, t - 1, gh, gw)
    # a block "near" a change: itself or one of its 8 neighbours changed (motion across a border)
    near = F.max_pool2d(blocks.reshape(-1, 1, gh, gw).float(), 3, 1, 1).reshape(blocks.shape) > 0
    pairs = e * (t - 1)
    sq, n = 0.0, 0
    for i in range(e):
        out = tok.decode_pixels(tokens[i].reshape(-1, gh, gw))
        f = torch.from_numpy(frames[i])
        sq += ((out.to(torch.float64) - f.to(torch.float64)) ** 2).sum().item()
        n += f.numel()
    return {
        "card": card_path, "vq": vq_path, "episodes": len(va), "frame_pairs": pairs,
        "tokens_per_frame": gh * gw,
        "tokens_changed_per_frame": changed.sum().item() / pairs,
        "blocks_changed_per_frame": blocks.sum().item() / pairs,
        "tokens_changed_in_unchanged_blocks_per_frame": (changed & ~blocks).sum().item() / pairs,
        "tokens_changed_away_from_changed_blocks_per_frame": (changed & ~near).sum().item() / pairs,
        "changed_blocks_whose_token_changed": (changed & blocks).sum().item() / max(1, blocks.sum().item()),
        "recon_psnr": train.psnr(sq / n),
        "receptive_field": rf,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("card")
    ap.add_argument("vq", help="a tokenizer state_dict (train.py's WORK/vq.pt)")
    ap.add_argument("data")
    ap.add_argument("--val-episodes", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(measure(args.card, args.vq, args.data, args.val_episodes), indent=2))


if __name__ == "__main__":
    main()
