#!/usr/bin/python3
"""Export a reference model to a card + safetensors.

  /usr/bin/python3 models/export.py IN_CARD.yaml OUT_CARD.yaml [--dtype f32|f16|bf16]
      re-export a model (e.g. convert its weights to f16): loads IN_CARD and its weights.
  /usr/bin/python3 models/export.py --state-dict model.pt CARD.yaml OUT_CARD.yaml
      export a PyTorch state_dict (torch.save of reference.WorldModel(card).state_dict(),
      keys == tensor names) with the architecture of CARD.

From Python: arvideo.export.export_model(model, "out.yaml", dtype="f32").
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from arvideo import card as cardmod  # noqa: E402
from arvideo import export  # noqa: E402
from arvideo import reference as R  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("card")
    ap.add_argument("out")
    ap.add_argument("--state-dict", help="a torch .pt state_dict to export instead of the card's weights")
    ap.add_argument("--dtype", default="f32", choices=sorted(export.DTYPES))
    args = ap.parse_args(argv)
    card = cardmod.load_card(args.card)
    model = R.build_model(card)
    if args.state_dict:
        sd = torch.load(args.state_dict, map_location="cpu")
        model.load_state_dict(sd, strict=True)
    else:
        R.load_weights(model, card["_weights_path"])
    export.export_model(model, args.out, dtype=args.dtype, training=card.get("training"))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
