import json
import os
import struct
import tempfile
import unittest

import _path  # noqa: F401
import numpy as np

from arvideo import safetensors_io as st


class TestSafetensors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "x.safetensors")

    def tearDown(self):
        self.tmp.cleanup()

    def test_round_trip_dtypes(self):
        rng = np.random.default_rng(0)
        t = {
            "f32": rng.standard_normal((3, 4)).astype(np.float32),
            "f16": rng.standard_normal((5,)).astype(np.float16),
            "f64": rng.standard_normal((2, 2)),
            "i32": np.array([-1, 2, 3], np.int32),
            "u32": np.array([1, 2**32 - 1], np.uint32),
            "u8": np.arange(7, dtype=np.uint8).reshape(7, 1),
            "i64": np.array([[-5]], np.int64),
            "scalar": np.array(2.5, np.float32),
            "empty": np.zeros((0, 3), np.float32),
        }
        st.save(self.path, t, metadata={"a": "b"})
        r, meta = st.load(self.path)
        self.assertEqual(meta, {"a": "b"})
        self.assertEqual(set(r), set(t))
        for k in t:
            self.assertEqual(r[k].dtype, t[k].dtype, k)
            self.assertEqual(r[k].shape, t[k].shape, k)
            np.testing.assert_array_equal(r[k], t[k])

    def test_layout_follows_spec(self):
        st.save(self.path, {"b": np.ones(3, np.float16), "a": np.ones(2, np.float32), "c": np.ones(1, np.uint8)})
        with open(self.path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        self.assertEqual(n % 8, 0)
        header = json.loads(raw[8:8 + n])
        spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
        self.assertEqual(spans[0][0], 0)
        for (b0, e0), (b1, e1) in zip(spans, spans[1:]):
            self.assertEqual(e0, b1)           # no holes
        self.assertEqual(spans[-1][1], len(raw) - 8 - n)
        for v in header.values():              # every tensor aligned to its element size
            size = {"F32": 4, "F16": 2, "U8": 1}[v["dtype"]]
            self.assertEqual(v["data_offsets"][0] % size, 0)

    def test_bf16(self):
        x = np.array([1.0, -2.5, 3.14159, 1e-3, 65504.0, np.inf], np.float32)
        st.save(self.path, {"x": x}, dtypes={"x": "BF16"})
        header, _, _ = st.read_header(self.path)
        self.assertEqual(header["x"]["dtype"], "BF16")
        r, _ = st.load(self.path)
        self.assertEqual(r["x"].dtype, np.float32)
        np.testing.assert_allclose(r["x"], x, rtol=2 ** -8)
        self.assertEqual(r["x"][0], 1.0)
        raw, _ = st.load(self.path, keep_bf16=True)
        self.assertEqual(raw["x"].dtype, np.uint16)
        self.assertEqual(int(raw["x"][0]), 0x3F80)

    def test_bf16_round_to_nearest_even(self):
        # 1 + 2^-8 is exactly halfway between bf16 1.0 and 1 + 2^-7: ties to even (1.0)
        self.assertEqual(int(st.f32_to_bf16(np.array([1 + 2 ** -8], np.float32))[0]), 0x3F80)
        self.assertEqual(int(st.f32_to_bf16(np.array([1 + 3 * 2 ** -8], np.float32))[0]), 0x3F82)

    def test_forced_f16(self):
        st.save(self.path, {"w": np.array([0.1, 0.2], np.float32)}, dtypes={"w": "F16"})
        r, _ = st.load(self.path)
        self.assertEqual(r["w"].dtype, np.float16)

    def test_corrupt(self):
        st.save(self.path, {"w": np.ones(4, np.float32)})
        with open(self.path, "rb") as f:
            raw = bytearray(f.read())
        with open(self.path, "wb") as f:
            f.write(raw[:-4])
        with self.assertRaises(st.SafetensorsError):
            st.load(self.path)
        with open(self.path, "wb") as f:
            f.write(b"\xff" * 8)
        with self.assertRaises(st.SafetensorsError):
            st.load(self.path)


if __name__ == "__main__":
    unittest.main()
