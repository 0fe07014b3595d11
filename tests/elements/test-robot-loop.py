"""Runs the robot loop examples (C and Python) on a model and checks what they print.

    test-robot-loop.py PYTHON ROBOT_LOOP_C ROBOT_LOOP_PY MODEL.yaml STEPS WIDTHxHEIGHT

PYTHON must have PyGObject (gi) with the Gst typelib. Each example must print, for every step
i, its action (the examples' policy: (i // 5) % 4), a prediction of the model's size timestamped
at step i (10 frames per second), and a summary; greedy sampling makes the two agree exactly.
"""
import re
import subprocess
import sys

STEP = re.compile(r"step +(\d+) action (\d+): predicted (\d+x\d+) frame at (\S+?)s?, mean ([\d.]+)$")


def seconds(text):
    """'0.300' (Python) or '0:00:00.300000000' (GST_TIME_FORMAT) -> seconds."""
    parts = text.split(":")
    return sum(float(p) * 60 ** i for i, p in enumerate(reversed(parts)))


def run(name, command, steps, size):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=240)
    lines = proc.stdout.splitlines()
    problems = []
    if proc.returncode != 0:
        problems.append(f"exit status {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    found = [STEP.match(line) for line in lines]
    found = [m for m in found if m]
    if len(found) != steps:
        problems.append(f"{len(found)} step lines, expected {steps}")
    means = []
    for i, m in enumerate(found):
        step, action, got_size, pts, mean = m.groups()
        if int(step) != i or int(action) != (i // 5) % 4 or got_size != size:
            problems.append(f"unexpected line: {m.group(0)}")
        if abs(seconds(pts) - i / 10) > 1e-6:
            problems.append(f"step {i}: prediction at {pts}, expected {i / 10:.3f}s")
        if not 0.0 <= float(mean) <= 255.0:
            problems.append(f"step {i}: mean {mean}")
        means.append(mean)
    if f"done: {steps} steps, {steps} predictions" not in lines:
        problems.append("no summary line")
    print(f"{'ok' if not problems else 'FAIL'}: {name}: {len(found)} predictions")
    for p in problems:
        print("   ", p)
    if problems:
        print(proc.stdout)
    return not problems, means


def main():
    python, robot_c, robot_py, model, steps, size = sys.argv[1:7]
    steps = int(steps)
    ok_c, means_c = run("robot_loop (C)", [robot_c, model, str(steps)], steps, size)
    ok_py, means_py = run("robot_loop.py", [python, robot_py, model, str(steps)], steps, size)
    same = means_c == means_py
    print(f"{'ok' if same else 'FAIL'}: C and Python predict the same frames")
    sys.exit(0 if ok_c and ok_py and same else 1)


if __name__ == "__main__":
    main()
