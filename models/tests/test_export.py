"""Export / load round trip and the command-line scripts."""
import os
import subprocess
import sys
import tempfile
import unittest

import _path  # noqa: F401
import numpy as np
import torch

from arvideo import card as C
from arvideo import export
from arvideo import reference as R
from arvideo import safetensors_io as st
from test_reference import GPT, LLAMA


class TestExport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_round_trip_f32(self):
        for card in (GPT, LLAMA):
            m = R.build_model(card)
            export.random_init(m, 5)
            path = os.path.join(self.d, card["name"] + ".yaml")
            wpath = export.export_model(m, path)
            tensors, meta = st.load(wpath)
            self.assertEqual(set(tensors), set(m.state_dict()))
            for k, v in m.state_dict().items():
                self.assertEqual(tensors[k].dtype, np.float32)
                np.testing.assert_array_equal(tensors[k], v.numpy())
            m2 = R.load_model(path)
            for k, v in m.state_dict().items():
                torch.testing.assert_close(m2.state_dict()[k], v, rtol=0, atol=0)
            c = C.load_card(path)
            self.assertEqual(c["weights"], card["name"] + ".safetensors")

    def test_f16_and_bf16(self):
        m = R.build_model(LLAMA)
        export.random_init(m, 1)
        for dt, tol in (("f16", 1e-3), ("bf16", 1e-2)):
            path = os.path.join(self.d, "m-%s.yaml" % dt)
            export.export_model(m, path, dtype=dt)
            hdr, _, _ = st.read_header(os.path.join(self.d, "m-%s.safetensors" % dt))
            self.assertEqual({v["dtype"] for v in hdr.values()}, {export.DTYPES[dt]})
            m2 = R.load_model(path)
            for k, v in m.state_dict().items():
                torch.testing.assert_close(m2.state_dict()[k], v, rtol=tol, atol=tol)

    def test_make_random_is_seeded(self):
        a = export.make_random(LLAMA, os.path.join(self.d, "a.yaml"), seed=3)
        b = export.make_random(LLAMA, os.path.join(self.d, "b.yaml"), seed=3)
        c = export.make_random(LLAMA, os.path.join(self.d, "c.yaml"), seed=4)
        ka = st.load(os.path.join(self.d, "a.safetensors"))[0]
        kb = st.load(os.path.join(self.d, "b.safetensors"))[0]
        for k in ka:
            np.testing.assert_array_equal(ka[k], kb[k])
        self.assertFalse(torch.equal(a.predictor.tok_emb.weight, c.predictor.tok_emb.weight))
        self.assertTrue(torch.equal(a.predictor.tok_emb.weight, b.predictor.tok_emb.weight))

    def test_missing_tensor_is_an_error(self):
        m = R.build_model(LLAMA)
        path = os.path.join(self.d, "m.yaml")
        wpath = export.export_model(m, path)
        t, _ = st.load(wpath)
        del t["predictor.sep_emb"]
        st.save(wpath, t)
        with self.assertRaises(KeyError):
            R.load_model(path)

    def test_scripts(self):
        models = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        src = os.path.join(self.d, "in.yaml")
        C.save_card(GPT, src)
        out = os.path.join(self.d, "out.yaml")
        subprocess.run([sys.executable, os.path.join(models, "make_random.py"), src, out, "--seed", "2",
                        "--dtype", "f16"], check=True, capture_output=True)
        out2 = os.path.join(self.d, "out2.yaml")
        subprocess.run([sys.executable, os.path.join(models, "export.py"), out, out2], check=True, capture_output=True)
        m1, m2 = R.load_model(out), R.load_model(out2)
        for k, v in m1.state_dict().items():
            torch.testing.assert_close(m2.state_dict()[k], v, rtol=0, atol=0)
        self.assertEqual(C.load_card(out2)["training"]["seed"], 2)


if __name__ == "__main__":
    unittest.main()
