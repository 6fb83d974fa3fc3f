"""`make demo`: a tour of the group API (character table of D4, decomposition of regular
representations, restriction and tensor products)."""

from __future__ import annotations

import numpy as np

from equijax.group import cyclic_group, dihedral_group, o2_group


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)


def character_table(group) -> str:
    """One row per irrep, one column per element of a finite group."""
    elements = group.elements
    header = ["irrep \\ g"] + [repr(g).split("[")[1].rstrip("]") for g in elements]
    rows = [header]
    for psi in group.irreps():
        chars = np.trace(psi.matrices(elements), axis1=1, axis2=2)
        rows.append([psi.name] + [f"{int(round(c)):+d}" if abs(c - round(c)) < 1e-9 else f"{c:+.2f}" for c in chars])
    return _table(rows)


def main() -> None:
    D4 = dihedral_group(4)
    print(f"Character table of {D4.name} (elements r^k f^j written j,k; f = reflection):")
    print(character_table(D4))
    reg = D4.regular_representation
    print(
        f"\nRegular representation of {D4.name}: size {reg.size} = "
        + " + ".join(f"{m}x{D4.irrep(*i).name}(dim {D4.irrep(*i).size})" for i, m in reg.multiplicities().items())
    )
    C8 = cyclic_group(8)
    reg8 = C8.regular_representation
    print(f"Regular representation of {C8.name}: irreps {[C8.irrep(*i).name for i in reg8.irreps]}")
    g = C8.elements[3]
    print(f"  rho({g}) is the permutation e_h -> e_(gh): {np.round(reg8(g)).astype(int)[:, 0]}")
    O2 = o2_group(6)
    psi = O2.irrep(1, 3)
    print(
        f"\n{O2.name} irrep(1, 3) restricted to D4 (subgroup (0., 4)): {psi.restrict((0.0, 4)).irreps}"
        " -- frequency 3 aliases to 1"
    )
    t = O2.irrep(1, 2).tensor(O2.irrep(1, 3))
    print(f"{O2.name} irrep(1, 2) (x) irrep(1, 3) = {[O2.irrep(*i).name for i in t.irreps]}")
    q = D4.quotient_representation((None, 4))
    print(f"{D4.name}/C4 quotient representation: {[D4.irrep(*i).name for i in q.irreps]}")
    steerable_conv_demo()


def steerable_conv_demo() -> None:
    """A C8-steerable convolution and its equivariance under the grid's exact symmetries."""
    import time

    import jax

    from equijax import gspaces, nn
    from equijax.testing import equivariance_errors, random_input

    gs = gspaces.rot2dOnR2(N=8)
    in_type = nn.FieldType(gs, [gs.trivial_repr])
    out_type = nn.FieldType(gs, 24 * [gs.regular_repr])
    jax.random.normal(jax.random.key(0), ())  # start JAX's backend before timing
    t0 = time.perf_counter()
    conv = nn.R2Conv(in_type, out_type, kernel_size=7, padding=3, key=jax.random.key(0))
    built = time.perf_counter() - t0
    print(f"\nR2Conv({in_type} -> {out_type}, k=7): {conv.weights.size} weights, built in {built * 1e3:.0f} ms")
    x = random_input(in_type, key=jax.random.key(1), batch=4, size=29)
    print("  max |conv(g x) - g conv(x)| for the rotations that map the pixel grid onto itself:")
    for g, err, scale in equivariance_errors(conv, x):
        degrees = round(g.angle * 180 / 3.141592653589793)
        print(f"    g = rotation by {degrees:3d} deg: {err:.1e} (outputs up to {scale:.1f})")


if __name__ == "__main__":
    main()
