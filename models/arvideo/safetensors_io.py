"""Minimal safetensors reader/writer, numpy only (no torch, no `safetensors` package).

File layout (https://huggingface.co/docs/safetensors): 8-byte little-endian u64 N, then N bytes
of UTF-8 JSON header, then the raw data buffer. The header maps tensor names to
{"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets relative to the data
buffer) and may carry "__metadata__": {str: str}. Data is little-endian, C order.

BF16 has no numpy dtype: it is read as float32 (exact widening) and written from float32 by
round-to-nearest-even.  `load` returns numpy arrays; torch helpers live in `reference.py`.
"""

import json
import struct

import numpy as np

# safetensors dtype name -> numpy dtype (little-endian)
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_SIZES = {name: dt.itemsize for name, dt in _DTYPES.items()}
_SIZES["BF16"] = 2

_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def dtype_name(arr):
    """safetensors dtype name of a numpy array."""
    kind = np.dtype(arr.dtype).newbyteorder("<") if arr.dtype.byteorder == ">" else np.dtype(arr.dtype)
    for name, dt in _DTYPES.items():
        if dt == kind or (dt.kind == kind.kind and dt.itemsize == kind.itemsize):
            return name
    raise SafetensorsError("unsupported numpy dtype %s" % arr.dtype)


def bf16_to_f32(raw_u16):
    """uint16 bit patterns -> float32 (exact)."""
    a = np.asarray(raw_u16, dtype="<u2")
    return (a.reshape(-1).astype("<u4") << 16).view("<f4").reshape(a.shape)


def f32_to_bf16(x):
    """float32 -> uint16 bfloat16 bit patterns, round to nearest even (NaN kept NaN)."""
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    rounded = np.where(nan, (u >> 16) | 0x40, rounded)
    return rounded.astype("<u2")


def read_header(path):
    """Return (header dict without __metadata__, metadata dict, data offset in the file)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise SafetensorsError("%s: file too short" % path)
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER:
            raise SafetensorsError("%s: header too large (%d bytes)" % (path, n))
        raw = f.read(n)
        if len(raw) != n:
            raise SafetensorsError("%s: truncated header" % path)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError("%s: bad JSON header: %s" % (path, e))
    if not isinstance(header, dict):
        raise SafetensorsError("%s: header is not a JSON object" % path)
    meta = header.pop("__metadata__", None) or {}
    return header, meta, 8 + n


def load(path, keep_bf16=False):
    """Read a safetensors file -> (dict name -> numpy array, metadata dict).

    BF16 tensors are widened to float32 unless keep_bf16 (then returned as uint16 bit patterns).
    """
    header, meta, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    for name, info in header.items():
        try:
            dt, shape, (b, e) = info["dtype"], [int(s) for s in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError("%s: bad entry for %r" % (path, name))
        if dt not in _SIZES:
            raise SafetensorsError("%s: tensor %r has unsupported dtype %s" % (path, name, dt))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(s < 0 for s in shape) or not (0 <= b <= e <= len(data)) or e - b != count * _SIZES[dt]:
            raise SafetensorsError("%s: tensor %r has inconsistent offsets/shape" % (path, name))
        buf = data[b:e]
        if dt == "BF16":
            arr = np.frombuffer(buf, dtype="<u2").reshape(shape)
            arr = arr.copy() if keep_bf16 else bf16_to_f32(arr).reshape(shape)
        else:
            arr = np.frombuffer(buf, dtype=_DTYPES[dt]).reshape(shape).copy()
        out[name] = arr
    return out, dict(meta)


def save(path, tensors, metadata=None, dtypes=None):
    """Write dict name -> numpy array (or anything np.asarray accepts) to a safetensors file.

    dtypes: optional dict name -> safetensors dtype name to force a conversion (e.g. "F16",
    "BF16"); default: keep the array's own dtype.  As the spec requires, the data buffer has no
    holes; tensors are ordered by decreasing element size then name, and the JSON header is padded
    with spaces to a multiple of 8, so every tensor is aligned to its element size in the file.
    """
    dtypes = dtypes or {}
    entries = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        want = dtypes.get(name)
        if want == "BF16":
            raw = f32_to_bf16(arr.astype(np.float32)).tobytes()
            dt = "BF16"
        else:
            if want is not None:
                if want not in _DTYPES:
                    raise SafetensorsError("unsupported dtype %s" % want)
                arr = arr.astype(_DTYPES[want])
            dt = dtype_name(arr)
            raw = np.ascontiguousarray(arr, dtype=_DTYPES[dt]).tobytes()
        entries.append((name, dt, list(arr.shape), raw))
    entries.sort(key=lambda t: (-_SIZES[t[1]], t[0]))
    placed = []
    for name, dt, shape, raw in entries:
        placed.append((name, dt, shape, offset, offset + len(raw), raw))
        offset += len(raw)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, dt, shape, b, e, _ in placed:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [b, e]}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for _, _, _, _, _, raw in placed:
            f.write(raw)
