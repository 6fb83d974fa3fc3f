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


if __name__ == "__main__":
    main()
