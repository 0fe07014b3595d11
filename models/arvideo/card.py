"""Model cards: YAML files describing a model, next to a safetensors weights file.

Schema: see models/README.md.  `load_card` parses and validates a card
and returns a plain dict with every default filled in ("normalized" card).  `save_card` writes
a card dict back (only meaningful keys, in schema order).  Validation is strict inside the
`tokenizer` and `predictor` sections: unknown keys, unknown kinds, non-positive or absurd
sizes are errors (CardError) naming the offending key.
"""

import copy
import math
import os

import yaml

FORMAT = 1

TOKENIZER_KINDS = ("vq",)
TOKENIZER_KINDS_LATER = ("msvq", "pixel")
PREDICTOR_KINDS = ("gpt", "llama")

# sane upper limits
MAX_DIM = 65536
MAX_LAYERS = 1024
MAX_RESOLUTION = 8192
MAX_HEADS = 1024
MAX_VOCAB = 1 << 24
MAX_CONTEXT_FRAMES = 4096
MAX_TOKENS_PER_FRAME = 1 << 20
MAX_ACTIONS = 1 << 20
MAX_CHANNELS = 65536
MAX_KEYS = 256

TOP_KEYS = ("format", "name", "weights", "tokenizer", "predictor", "training", "keys")
TOKENIZER_KEYS = ("kind", "resolution", "in_channels", "encoder", "decoder", "codebook", "norm_groups", "norm",
                  "mid_attention")
TOKENIZER_NORMS = ("group", "none")
ENCDEC_KEYS = ("channels", "channel_mult", "res_blocks", "attn_resolutions", "z_channels")
CODEBOOK_KEYS = ("size", "dim")
PREDICTOR_KEYS = ("kind", "layers", "dim", "heads", "context_frames", "tokens_per_frame", "vocab",
                  "action", "mlp_hidden", "head_hidden", "gelu", "norm_eps", "rope_theta")


class CardError(ValueError):
    pass


def _int(v, what, lo=1, hi=None):
    if isinstance(v, bool) or not isinstance(v, int):
        raise CardError("%s must be an integer (got %r)" % (what, v))
    if v < lo or (hi is not None and v > hi):
        raise CardError("%s = %d out of range [%d, %s]" % (what, v, lo, hi))
    return v


def _float(v, what, positive=True):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CardError("%s must be a number (got %r)" % (what, v))
    v = float(v)
    if positive and not v > 0.0:
        raise CardError("%s must be > 0 (got %r)" % (what, v))
    return v


def _mapping(v, what):
    if not isinstance(v, dict):
        raise CardError("%s must be a mapping" % what)
    return v


def _strict(d, allowed, what):
    for k in d:
        if k not in allowed:
            raise CardError("unknown key %r in %s" % (k, what))


def _int_list(v, what, lo=1, hi=None, allow_empty=False):
    if not isinstance(v, (list, tuple)) or (not v and not allow_empty):
        raise CardError("%s must be a%s list of integers" % (what, "" if allow_empty else " non-empty"))
    return [_int(x, "%s[%d]" % (what, i), lo, hi) for i, x in enumerate(v)]


def _encdec(d, what):
    d = _mapping(d, what)
    _strict(d, ENCDEC_KEYS, what)
    for k in ("channels", "channel_mult", "res_blocks", "z_channels"):
        if k not in d:
            raise CardError("%s.%s is required" % (what, k))
    out = {
        "channels": _int(d["channels"], what + ".channels", 1, MAX_CHANNELS),
        "channel_mult": _int_list(d["channel_mult"], what + ".channel_mult", 1, 64),
        "res_blocks": _int(d["res_blocks"], what + ".res_blocks", 1, 64),
        "attn_resolutions": _int_list(d.get("attn_resolutions", []), what + ".attn_resolutions", 1,
                                      MAX_RESOLUTION, allow_empty=True),
        "z_channels": _int(d["z_channels"], what + ".z_channels", 1, MAX_CHANNELS),
    }
    if len(out["channel_mult"]) > 16:
        raise CardError("%s.channel_mult has too many levels" % what)
    if out["channels"] * max(out["channel_mult"]) > MAX_CHANNELS:
        raise CardError("%s: channels * channel_mult too large" % what)
    return out


def validate_tokenizer(t):
    t = _mapping(t, "tokenizer")
    _strict(t, TOKENIZER_KEYS, "tokenizer")
    kind = t.get("kind")
    if kind is None:
        raise CardError("tokenizer.kind is required")
    if kind in TOKENIZER_KINDS_LATER:
        raise CardError("tokenizer kind %r is not supported yet" % kind)
    if kind not in TOKENIZER_KINDS:
        raise CardError("unknown tokenizer kind %r" % kind)
    for k in ("resolution", "encoder", "codebook"):
        if k not in t:
            raise CardError("tokenizer.%s is required" % k)
    res = _int_list(t["resolution"], "tokenizer.resolution", 1, MAX_RESOLUTION)
    if len(res) != 2:
        raise CardError("tokenizer.resolution must be [height, width]")
    in_ch = t.get("in_channels", 3)
    _int(in_ch, "tokenizer.in_channels")
    if in_ch not in (1, 3):
        raise CardError("tokenizer.in_channels must be 1 or 3 (got %d)" % in_ch)
    enc = _encdec(t["encoder"], "tokenizer.encoder")
    dec = _encdec(t["decoder"], "tokenizer.decoder") if t.get("decoder") is not None else copy.deepcopy(enc)
    cb = _mapping(t["codebook"], "tokenizer.codebook")
    _strict(cb, CODEBOOK_KEYS, "tokenizer.codebook")
    for k in CODEBOOK_KEYS:
        if k not in cb:
            raise CardError("tokenizer.codebook.%s is required" % k)
    cb = {"size": _int(cb["size"], "tokenizer.codebook.size", 1, MAX_VOCAB),
          "dim": _int(cb["dim"], "tokenizer.codebook.dim", 1, MAX_DIM)}
    groups = _int(t.get("norm_groups", 32), "tokenizer.norm_groups", 1, MAX_CHANNELS)
    norm = t.get("norm", "group")
    if norm not in TOKENIZER_NORMS:
        raise CardError("unknown tokenizer.norm %r (group | none)" % (norm,))
    mid_attention = t.get("mid_attention", True)
    if not isinstance(mid_attention, bool):
        raise CardError("tokenizer.mid_attention: expected true or false, got %r" % (mid_attention,))
    if len(enc["channel_mult"]) != len(dec["channel_mult"]):
        raise CardError("tokenizer encoder and decoder must have the same number of levels")
    down = 2 ** (len(enc["channel_mult"]) - 1)
    if res[0] % down or res[1] % down:
        raise CardError("tokenizer.resolution %r not divisible by 2^(levels-1) = %d" % (res, down))
    # Without normalisation layers there are no groups: norm_groups is kept but not checked.
    for what, ed in (("encoder", enc), ("decoder", dec)) if norm == "group" else ():
        for m in ed["channel_mult"]:
            if (ed["channels"] * m) % groups:
                raise CardError("tokenizer.%s channels %d not divisible by norm_groups %d"
                                % (what, ed["channels"] * m, groups))
        if ed["channels"] % groups:
            raise CardError("tokenizer.%s.channels not divisible by norm_groups" % what)
    return {"kind": kind, "resolution": res, "in_channels": in_ch, "encoder": enc, "decoder": dec,
            "codebook": cb, "norm_groups": groups, "norm": norm, "mid_attention": mid_attention}


def validate_predictor(p):
    p = _mapping(p, "predictor")
    _strict(p, PREDICTOR_KEYS, "predictor")
    kind = p.get("kind")
    if kind is None:
        raise CardError("predictor.kind is required")
    if kind not in PREDICTOR_KINDS:
        raise CardError("unknown predictor kind %r" % kind)
    for k in ("layers", "dim", "heads", "context_frames", "tokens_per_frame", "vocab", "action"):
        if k not in p:
            raise CardError("predictor.%s is required" % k)
    out = {
        "kind": kind,
        "layers": _int(p["layers"], "predictor.layers", 1, MAX_LAYERS),
        "dim": _int(p["dim"], "predictor.dim", 1, MAX_DIM),
        "heads": _int(p["heads"], "predictor.heads", 1, MAX_HEADS),
        "context_frames": _int(p["context_frames"], "predictor.context_frames", 1, MAX_CONTEXT_FRAMES),
        "tokens_per_frame": _int(p["tokens_per_frame"], "predictor.tokens_per_frame", 1, MAX_TOKENS_PER_FRAME),
        "vocab": _int(p["vocab"], "predictor.vocab", 1, MAX_VOCAB),
    }
    if out["dim"] % out["heads"]:
        raise CardError("predictor.dim %d not divisible by heads %d" % (out["dim"], out["heads"]))
    act = _mapping(p["action"], "predictor.action")
    ak = act.get("kind")
    if "add_to_frame" in act:
        if kind != "gpt":
            raise CardError("predictor.action.add_to_frame applies to gpt only")
        if not isinstance(act["add_to_frame"], bool):
            raise CardError("predictor.action.add_to_frame: expected true or false, got %r" % (act["add_to_frame"],))
    if ak == "discrete":
        _strict(act, ("kind", "count", "add_to_frame"), "predictor.action")
        if "count" not in act:
            raise CardError("predictor.action.count is required")
        out["action"] = {"kind": ak, "count": _int(act["count"], "predictor.action.count", 1, MAX_ACTIONS)}
    elif ak == "continuous":
        _strict(act, ("kind", "dim", "add_to_frame"), "predictor.action")
        if "dim" not in act:
            raise CardError("predictor.action.dim is required")
        out["action"] = {"kind": ak, "dim": _int(act["dim"], "predictor.action.dim", 1, MAX_DIM)}
    else:
        raise CardError("unknown action kind %r" % (ak,))
    if act.get("add_to_frame"):
        out["action"]["add_to_frame"] = True
    if kind == "gpt":
        for k in ("rope_theta",):
            if k in p:
                raise CardError("predictor.%s is not valid for kind gpt" % k)
        out["mlp_hidden"] = _int(p.get("mlp_hidden", 4 * out["dim"]), "predictor.mlp_hidden", 1, 16 * MAX_DIM)
        out["head_hidden"] = _int(p.get("head_hidden", 0), "predictor.head_hidden", 0, 16 * MAX_DIM)
        gelu = p.get("gelu", "erf")
        if gelu not in ("erf", "tanh"):
            raise CardError("unknown predictor.gelu %r (erf | tanh)" % (gelu,))
        out["gelu"] = gelu
        out["norm_eps"] = _float(p.get("norm_eps", 1e-5), "predictor.norm_eps")
    else:
        for k in ("gelu", "head_hidden"):
            if k in p:
                raise CardError("predictor.%s is not valid for kind llama" % k)
        if "mlp_hidden" not in p:
            raise CardError("predictor.mlp_hidden is required for kind llama")
        out["mlp_hidden"] = _int(p["mlp_hidden"], "predictor.mlp_hidden", 1, 16 * MAX_DIM)
        out["norm_eps"] = _float(p.get("norm_eps", 1e-5), "predictor.norm_eps")
        out["rope_theta"] = _float(p.get("rope_theta", 10000.0), "predictor.rope_theta")
        if (out["dim"] // out["heads"]) % 2:
            raise CardError("predictor head_dim must be even for rotary embeddings")
    return out


def validate_keys(keys, predictor):
    """The `keys:` table: navigation key name -> action of the (validated) predictor section:
    an index for discrete actions, a list of action.dim numbers for continuous ones."""
    keys = _mapping(keys, "keys")
    if predictor is None:
        raise CardError("keys: the card has no predictor section whose actions the keys could take")
    if len(keys) > MAX_KEYS:
        raise CardError("keys: %d entries is absurdly many (at most %d)" % (len(keys), MAX_KEYS))
    act = predictor["action"]
    out = {}
    for name, value in keys.items():
        # PyYAML reads unquoted y, n, yes, no, on, off as booleans and digits as integers.
        if not isinstance(name, str) or not name:
            raise CardError("keys: key name %r is not a string (quote it)" % (name,))
        what = "keys.%s" % name
        if act["kind"] == "discrete":
            if isinstance(value, (list, tuple)):
                raise CardError("%s: expected an action index (the predictor's actions are discrete), got a list"
                                % what)
            index = _int(value, what, 0)
            if index >= act["count"]:
                raise CardError("%s: action %d, but predictor.action.count is %d (indices 0 to %d)"
                                % (what, index, act["count"], act["count"] - 1))
            out[name] = index
        else:
            if not isinstance(value, (list, tuple)):
                raise CardError("%s: expected a list of %d numbers (predictor.action.dim), got %r"
                                % (what, act["dim"], value))
            if len(value) != act["dim"]:
                raise CardError("%s: %d values, but predictor.action.dim is %d" % (what, len(value), act["dim"]))
            values = [_float(x, "%s[%d]" % (what, i), positive=False) for i, x in enumerate(value)]
            if not all(math.isfinite(x) for x in values):
                raise CardError("%s: values must be finite (got %r)" % (what, value))
            out[name] = values
    return out


def tokenizer_grid(tok):
    """(h, w) token grid of a validated tokenizer section."""
    down = 2 ** (len(tok["encoder"]["channel_mult"]) - 1)
    return tok["resolution"][0] // down, tok["resolution"][1] // down


def validate_card(card):
    """Validate a card dict; return a normalized deep copy with defaults filled in."""
    card = _mapping(card, "card")
    fmt = card.get("format")
    if fmt != FORMAT or isinstance(fmt, bool):
        raise CardError("card format must be the integer %d (got %r)" % (FORMAT, fmt))
    for k in card:
        if k not in TOP_KEYS:
            raise CardError("unknown top-level key %r" % k)
    weights = card.get("weights")
    if not isinstance(weights, str) or not weights:
        raise CardError("weights (path of the safetensors file) is required")
    out = {"format": FORMAT, "name": str(card.get("name", "")), "weights": weights}
    if card.get("tokenizer") is not None:
        out["tokenizer"] = validate_tokenizer(card["tokenizer"])
    if card.get("predictor") is not None:
        out["predictor"] = validate_predictor(card["predictor"])
    if "tokenizer" not in out and "predictor" not in out:
        raise CardError("a card needs a tokenizer or a predictor section")
    if "tokenizer" in out and "predictor" in out:
        t, p = out["tokenizer"], out["predictor"]
        gh, gw = tokenizer_grid(t)
        if p["tokens_per_frame"] != gh * gw:
            raise CardError("predictor.tokens_per_frame %d != tokenizer grid %dx%d"
                            % (p["tokens_per_frame"], gh, gw))
        if p["vocab"] != t["codebook"]["size"]:
            raise CardError("predictor.vocab %d != tokenizer.codebook.size %d" % (p["vocab"], t["codebook"]["size"]))
    if card.get("training") is not None:
        out["training"] = copy.deepcopy(_mapping(card["training"], "training"))
    if card.get("keys") is not None:
        out["keys"] = validate_keys(card["keys"], out.get("predictor"))
    return out


def load_card(path):
    """Load and validate a card; adds '_path' and '_weights_path' (absolute) to the result."""
    with open(path, "r", encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    card = validate_card(raw)
    card["_path"] = os.path.abspath(path)
    card["_weights_path"] = os.path.join(os.path.dirname(os.path.abspath(path)), card["weights"])
    return card


def _compact(card):
    """Drop private keys; inline short lists in flow style when dumping."""
    return {k: v for k, v in card.items() if not k.startswith("_")}


class _Dumper(yaml.SafeDumper):
    pass


def _repr_list(dumper, data):
    flow = all(isinstance(x, (int, float, str)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _repr_list)


def dump_card(card):
    card = validate_card(_compact(card))
    ordered = {}
    for k in TOP_KEYS:
        if k in card:
            ordered[k] = card[k]
    if "tokenizer" in ordered:
        # Defaults are left out, so that the cards written before these keys existed stay the same.
        tok = ordered["tokenizer"]
        if tok["norm"] == "group":
            del tok["norm"]
        else:
            del tok["norm_groups"]   # no normalisation layers: meaningless
        if tok["mid_attention"]:
            del tok["mid_attention"]
    return yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def save_card(card, path):
    text = dump_card(card)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
