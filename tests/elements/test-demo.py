"""Runs the demo headless on a model and checks what it prints and writes.

    test-demo.py PYTHON DEMO_PY MODEL.yaml FRAMES WIDTHxHEIGHT

PYTHON must have PyGObject (gi) with the Gst typelib. The demo must print one PSNR line per
predicted frame (every simulated frame but the first: the first has no prediction), a summary
with the copy-last baseline, and write a WebM that decodes to that many frames of the
side-by-side size scaled up 4x, and a strip.png (8 frames stacked with 2-pixel gaps) that is a
valid PNG of the right size.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

FRAME = re.compile(r"^frame +(\d+) +t= *([\d.]+)s +psnr +([\d.]+) dB +ssim +(-?[\d.]+)$")
SCALE, STRIP, GAP = 4, 8, 2


def check_png(path, width, height, problems):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        problems.append(f"{path}: no PNG signature")
        return
    pos, idat, chunks = 8, b"", []
    while pos < len(data):
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(tag + body) & 0xFFFFFFFF != crc:
            problems.append(f"{path}: bad CRC in {tag!r}")
        chunks.append(tag)
        if tag == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            if (w, h, depth, color) != (width, height, 8, 2):
                problems.append(f"{path}: IHDR {w}x{h} depth {depth} color {color}, expected "
                                f"{width}x{height} 8-bit RGB")
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    if chunks[:1] != [b"IHDR"] or chunks[-1:] != [b"IEND"]:
        problems.append(f"{path}: chunks {chunks}")
    raw = zlib.decompress(idat)
    if len(raw) != height * (1 + width * 3):
        problems.append(f"{path}: {len(raw)} bytes of pixels, expected {height * (1 + width * 3)}")


def check_webm(gst_python, path, width, height, frames, problems):
    """Decodes the WebM with GStreamer and counts its frames."""
    script = (
        "import sys, gi\n"
        "gi.require_version('Gst', '1.0')\n"
        "from gi.repository import Gst\n"
        "Gst.init(None)\n"
        "p = Gst.parse_launch('filesrc location=\"%s\" ! matroskademux ! vp8dec ! "
        "appsink name=s sync=false')\n"
        "s = p.get_by_name('s')\n"
        "p.set_state(Gst.State.PLAYING)\n"
        "n, size = 0, None\n"
        "while True:\n"
        "    sample = s.emit('pull-sample')\n"
        "    if sample is None: break\n"
        "    st = sample.get_caps().get_structure(0)\n"
        "    size = (st.get_int('width')[1], st.get_int('height')[1])\n"
        "    n += 1\n"
        "msg = p.get_bus().pop_filtered(Gst.MessageType.ERROR)\n"
        "p.set_state(Gst.State.NULL)\n"
        "print(n, size[0] if size else 0, size[1] if size else 0, 'error' if msg else 'ok')\n"
    ) % path
    proc = subprocess.run([gst_python, "-c", script], capture_output=True, text=True, timeout=120)
    out = proc.stdout.split()
    if proc.returncode != 0 or len(out) != 4:
        problems.append(f"decoding {path}: {proc.stdout} {proc.stderr[-1000:]}")
        return
    n, w, h, status = int(out[0]), int(out[1]), int(out[2]), out[3]
    if (n, w, h, status) != (frames, width, height, "ok"):
        problems.append(f"{path}: {n} frames of {w}x{h} ({status}), expected {frames} of "
                        f"{width}x{height}")


def main():
    python, demo, model, frames, size = sys.argv[1:6]
    frames = int(frames)
    mw, mh = (int(v) for v in size.split("x"))
    problems = []
    with tempfile.TemporaryDirectory(prefix="ar-demo-") as out:
        env = dict(os.environ)
        env.pop("DISPLAY", None)   # headless either way; --headless must suffice
        proc = subprocess.run([python, demo, "--headless", "--frames", str(frames), "--model",
                               model, "--out", out], capture_output=True, text=True, timeout=240,
                              env=env)
        print(proc.stdout)
        lines = proc.stdout.splitlines()
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        found = [m for m in map(FRAME.match, lines) if m]
        expected = list(range(1, frames))
        if [int(m.group(1)) for m in found] != expected:
            problems.append(f"PSNR lines for frames {[int(m.group(1)) for m in found]}, "
                            f"expected {expected}")
        for m in found:
            if not 0 < float(m.group(3)) < 100 or not -1 <= float(m.group(4)) <= 1:
                problems.append(f"implausible metrics: {m.group(0)}")
        if not any(l.startswith("summary: %d predicted frames" % (frames - 1)) for l in lines):
            problems.append("no summary line")
        if not any(l.strip().startswith("copy-last:") for l in lines):
            problems.append("no copy-last line")
        webm = os.path.join(out, "side-by-side.webm")
        strip = os.path.join(out, "strip.png")
        for path in (webm, strip):
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                problems.append(f"{os.path.basename(path)} missing or empty")
        if not problems:
            if open(webm, "rb").read(4) != b"\x1a\x45\xdf\xa3":
                problems.append("side-by-side.webm: no EBML header")
            check_webm(python, webm, 2 * mw * SCALE, mh * SCALE, frames - 1, problems)
            n = min(STRIP, frames - 1)
            check_png(strip, 2 * mw * SCALE, n * mh * SCALE + (n - 1) * GAP, problems)
    for p in problems:
        print("FAIL:", p)
    if problems:
        sys.exit(1)
    print("demo ok")


if __name__ == "__main__":
    main()
