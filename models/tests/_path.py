import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
ROOT = os.path.dirname(MODELS)
for p in (MODELS, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)
