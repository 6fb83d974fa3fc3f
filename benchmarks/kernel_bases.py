"""Kernel-basis construction times (numpy, one process per measurement so nothing is cached).

    python benchmarks/kernel_bases.py [--repeats 5]

Prints a table: building every basis of the seeds' C8 model, the escnn parity sweep
(627 cases from tests/data), and a few larger bases.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

CASES = {
    "C8 model bases (trivial->regular k=7, regular->regular k=5)": """
gs = gspaces.rot2dOnR2(8)
gs.build_kernel_basis(gs.trivial_repr, gs.regular_repr, 7)
gs.build_kernel_basis(gs.regular_repr, gs.regular_repr, 5)
""",
    "escnn parity sweep (627 cases, k in {0,3,5})": f"""
import json
from equijax.kernels import EmptyBasisError
cases = json.load(open({str(ROOT / "tests" / "data" / "escnn_basis_dims_sample.json")!r}))["cases"]
for c in cases:
    s = c["gspace"]
    gs = gspaces.rot2dOnR2(s[1], *s[2:]) if s[0] == "rot" else gspaces.flipRot2dOnR2(s[1])
    f = lambda x: gs.trivial_repr if x == "trivial" else gs.regular_repr if x == "regular" else gs.irrep(*x[1:])
    try:
        if c["kernel_size"]:
            gs.build_kernel_basis(f(c["in"]), f(c["out"]), c["kernel_size"])
        else:
            gs.build_intertwiner_basis(f(c["in"]), f(c["out"]))
    except EmptyBasisError:
        pass
""",
    "D8 regular->regular k=7": """
gs = gspaces.flipRot2dOnR2(8)
gs.build_kernel_basis(gs.regular_repr, gs.regular_repr, 7)
""",
    "C16 regular->regular k=7": """
gs = gspaces.rot2dOnR2(16)
gs.build_kernel_basis(gs.regular_repr, gs.regular_repr, 7)
""",
    "O(2) irreps 0..4 -> irreps 0..4, k=7": """
from equijax.group import directsum
gs = gspaces.flipRot2dOnR2(-1, 6)
r = directsum([gs.irrep(0, 0), gs.irrep(1, 0)] + [gs.irrep(1, k) for k in range(1, 5)])
gs.build_kernel_basis(r, r, 7)
""",
}

TEMPLATE = """
import time
t0 = time.perf_counter()
from equijax import gspaces
t1 = time.perf_counter()
{body}
print(time.perf_counter() - t1)
"""


def time_case(body: str) -> float:
    out = subprocess.check_output([sys.executable, "-c", TEMPLATE.format(body=body)], cwd=ROOT)
    return float(out.decode().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per case (default 5)")
    args = parser.parse_args()
    rows = []
    for name, body in CASES.items():
        times = [time_case(body) for _ in range(args.repeats)]
        rows.append((name, statistics.median(times), min(times), max(times)))
    w = max(len(r[0]) for r in rows)
    print(f"{'case':<{w}}  {'median s':>9}  {'min s':>7}  {'max s':>7}")
    for name, med, lo, hi in rows:
        print(f"{name:<{w}}  {med:9.3f}  {lo:7.3f}  {hi:7.3f}")


if __name__ == "__main__":
    main()
