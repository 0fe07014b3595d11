import copy
import os
import tempfile
import unittest

import _path  # noqa: F401

from arvideo import card as C

BASE = {
    "format": 1, "name": "t", "weights": "t.safetensors",
    "tokenizer": {"kind": "vq", "resolution": [64, 64], "in_channels": 3,
                  "encoder": {"channels": 64, "channel_mult": [1, 1, 1, 1, 1], "res_blocks": 2,
                              "attn_resolutions": [8, 16], "z_channels": 512},
                  "codebook": {"size": 512, "dim": 512}},
    "predictor": {"kind": "gpt", "layers": 10, "dim": 256, "heads": 4, "context_frames": 20,
                  "tokens_per_frame": 16, "vocab": 512, "action": {"kind": "discrete", "count": 18},
                  "head_hidden": 256},
    "training": {"anything": [1, 2]},
}


class TestCard(unittest.TestCase):
    def test_defaults(self):
        c = C.validate_card(BASE)
        self.assertEqual(c["tokenizer"]["norm_groups"], 32)
        self.assertEqual(c["tokenizer"]["decoder"], c["tokenizer"]["encoder"])
        p = c["predictor"]
        self.assertEqual((p["mlp_hidden"], p["gelu"], p["norm_eps"], p["head_hidden"]), (1024, "erf", 1e-5, 256))
        self.assertEqual(C.tokenizer_grid(c["tokenizer"]), (4, 4))

    def test_save_load_round_trip(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.yaml")
            C.save_card(BASE, path)
            c = C.load_card(path)
            self.assertEqual(c["_weights_path"], os.path.join(d, "t.safetensors"))
            self.assertEqual({k: v for k, v in c.items() if not k.startswith("_")}, C.validate_card(BASE))

    def _bad(self, mutate, msg):
        c = copy.deepcopy(BASE)
        mutate(c)
        with self.assertRaises(C.CardError) as cm:
            C.validate_card(c)
        self.assertIn(msg, str(cm.exception))

    def test_keys(self):
        c = copy.deepcopy(BASE)
        c["keys"] = {"Up": 2, "space": 0}
        self.assertEqual(C.validate_card(c)["keys"], {"Up": 2, "space": 0})
        c["predictor"]["action"] = {"kind": "continuous", "dim": 2}
        c["keys"] = {"Left": [-1, 0.5]}
        self.assertEqual(C.validate_card(c)["keys"], {"Left": [-1.0, 0.5]})
        c["keys"] = {"Left": [-1, 0.5, 3]}
        with self.assertRaises(C.CardError) as cm:
            C.validate_card(c)
        self.assertIn("keys.Left: 3 values, but predictor.action.dim is 2", str(cm.exception))
        self._bad(lambda c: c.update(keys={"Up": 18}), "keys.Up: action 18, but predictor.action.count is 18")
        self._bad(lambda c: c.update(keys={"Up": [1]}), "keys.Up: expected an action index")
        self._bad(lambda c: c.update(keys={True: 1}), "not a string")
        self._bad(lambda c: (c.pop("predictor"), c.update(keys={"Up": 1})), "no predictor section")

    def test_errors(self):
        self._bad(lambda c: c.update(format=2), "format")
        self._bad(lambda c: c["tokenizer"].update(foo=1), "'foo'")
        self._bad(lambda c: c["predictor"].update(bar=1), "'bar'")
        self._bad(lambda c: c["tokenizer"]["encoder"].update(baz=1), "'baz'")
        self._bad(lambda c: c["tokenizer"].update(kind="msvq"), "not supported yet")
        self._bad(lambda c: c["tokenizer"].update(kind="pixel"), "not supported yet")
        self._bad(lambda c: c["tokenizer"].update(kind="wat"), "'wat'")
        self._bad(lambda c: c["predictor"].update(kind="rnn"), "'rnn'")
        self._bad(lambda c: c["predictor"].update(action={"kind": "joystick"}), "'joystick'")
        self._bad(lambda c: c["predictor"].update(dim=0), "predictor.dim")
        self._bad(lambda c: c["predictor"].update(dim=100000, heads=1), "predictor.dim")
        self._bad(lambda c: c["predictor"].update(layers=5000), "predictor.layers")
        self._bad(lambda c: c["tokenizer"].update(resolution=[64, 9000]), "resolution")
        self._bad(lambda c: c["predictor"].update(tokens_per_frame=17), "tokens_per_frame")
        self._bad(lambda c: c["predictor"].update(vocab=100), "vocab")
        self._bad(lambda c: c["predictor"].update(heads=3), "divisible")
        self._bad(lambda c: c["predictor"].update(gelu="relu"), "gelu")
        self._bad(lambda c: c["predictor"].update(rope_theta=1e4), "rope_theta")
        self._bad(lambda c: c["predictor"]["action"].update(add_to_frame="yes"), "add_to_frame")
        self._bad(lambda c: c["tokenizer"].update(in_channels=2), "in_channels")
        self._bad(lambda c: c["tokenizer"].update(norm_groups=48), "norm_groups")
        self._bad(lambda c: c.pop("weights"), "weights")
        self._bad(lambda c: c["predictor"].update(layers=True), "integer")

    def test_norm_and_mid_attention(self):
        t = C.validate_card(BASE)["tokenizer"]
        self.assertEqual((t["norm"], t["mid_attention"]), ("group", True))
        self.assertNotIn("norm:", C.dump_card(BASE))           # defaults are not written
        self.assertNotIn("mid_attention", C.dump_card(BASE))
        c = copy.deepcopy(BASE)
        c["tokenizer"].update(norm="none", mid_attention=False, norm_groups=48)   # groups unchecked
        t = C.validate_card(c)["tokenizer"]
        self.assertEqual((t["norm"], t["mid_attention"]), ("none", False))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.yaml")
            C.save_card(c, path)
            t = C.load_card(path)["tokenizer"]
            self.assertEqual((t["norm"], t["mid_attention"]), ("none", False))
        self._bad(lambda c: c["tokenizer"].update(norm="batch"), "tokenizer.norm 'batch'")
        self._bad(lambda c: c["tokenizer"].update(norm=None), "tokenizer.norm")
        self._bad(lambda c: c["tokenizer"].update(mid_attention="no"), "tokenizer.mid_attention")
        self._bad(lambda c: c["tokenizer"].update(mid_attention=1), "tokenizer.mid_attention")
        self._bad(lambda c: c["tokenizer"].update(norm="group", norm_groups=48), "norm_groups")

    def test_llama(self):
        c = copy.deepcopy(BASE)
        del c["tokenizer"]
        c["predictor"] = {"kind": "llama", "layers": 2, "dim": 64, "heads": 4, "context_frames": 4,
                          "tokens_per_frame": 16, "vocab": 100, "action": {"kind": "continuous", "dim": 7}}
        with self.assertRaises(C.CardError):    # mlp_hidden required for llama
            C.validate_card(c)
        c["predictor"]["mlp_hidden"] = 128
        c["predictor"]["action"]["add_to_frame"] = True
        with self.assertRaises(C.CardError):    # add_to_frame is gpt only
            C.validate_card(c)
        del c["predictor"]["action"]["add_to_frame"]
        p = C.validate_card(c)["predictor"]
        self.assertEqual((p["rope_theta"], p["norm_eps"]), (10000.0, 1e-5))


if __name__ == "__main__":
    unittest.main()
