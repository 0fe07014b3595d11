#!/usr/bin/python3
"""Build a model from a card with seeded random weights and export it (card + safetensors).

  /usr/bin/python3 models/make_random.py IN_CARD.yaml OUT_CARD.yaml [--seed 0] [--dtype f32|f16|bf16]

IN_CARD's `weights` entry is ignored; OUT_CARD's weights file is OUT_CARD's stem + .safetensors.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from arvideo import card as cardmod  # noqa: E402
from arvideo import export  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("card")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="f32", choices=sorted(export.DTYPES))
    args = ap.parse_args(argv)
    card = cardmod.load_card(args.card)
    export.make_random(card, args.out, seed=args.seed, dtype=args.dtype)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
