"""`equijax.internal`: the one door through which packages share internal helpers.

Checks that it re-exports the helpers from their home files, that it (and `equijax.group`)
import no package above them, that no package imports another package's private file, and
that the packages import in any order without a cycle.
"""

import ast
import pathlib
import subprocess
import sys
import textwrap

import equijax.internal as internal
from equijax import _misc
from equijax.group import _decompose, _element, _fourier_matrices, _subgroups, _value
from equijax.nn import _module

PACKAGE = pathlib.Path(internal.__file__).parent
DOOR = pathlib.Path("internal.py")  # the one module allowed to reach into private files


def test_internal_re_exports_the_home_helpers():
    assert internal.quadrature_elements is _decompose.quadrature_elements
    assert internal.angle_key is _element.angle_key
    assert internal.canonical_angle is _element.canonical_angle
    assert internal.cached_subgroup is _subgroups._subgroup
    assert internal.split_key is _misc.split_key
    assert internal.dense_layer is _misc.dense_layer
    assert internal.is_int is _misc.is_int and internal.is_real is _misc.is_real
    for name in ("sampling_grid", "fourier_layout", "spectral_representation", "coset_representatives"):
        assert getattr(internal, name) is getattr(_fourier_matrices, name)
    assert internal.fourier_matrices is _fourier_matrices.fourier_matrices
    assert internal.HashedValue is _value.HashedValue
    assert sorted(internal.__all__) == sorted(n for n in vars(internal) if not n.startswith("_"))
    # nn's own files keep importing the moved helpers from `nn._module`: one copy each
    for name in ("dense_layer", "split_key", "equinox_shell", "param_dtype", "key_rng"):
        assert getattr(_module, name) is getattr(_misc, name)


def test_cached_subgroup_is_what_group_subgroup_returns():
    from equijax.group import dihedral_group

    D4 = dihedral_group(4)
    assert internal.cached_subgroup(D4, (0, 2)) is D4.subgroup((0, 2))


def _private_cross_package_imports() -> list[str]:
    """``file: module`` for every import of another package's private file (``_name``)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0] if len(rel.parts) > 1 else None  # the subpackage, None at top level
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.level:
                if node.level == 1 and own is not None:
                    continue  # inside its own subpackage
                parts = node.module.split(".")
            elif node.module.startswith("equijax."):
                parts = node.module.split(".")[1:]
            else:
                continue
            if len(parts) >= 2 and parts[0] != own and parts[1].startswith("_") and rel != DOOR:
                found.append(f"{rel}: {'.' * node.level}{node.module}")
    return found


def test_no_private_cross_package_imports():
    assert _private_cross_package_imports() == []


_SCRIPT = textwrap.dedent(
    """
    import importlib, sys, types

    def fresh():
        # a bare `equijax` package: its __init__ (which imports every package) does not run
        for name in [m for m in sys.modules if m == "equijax" or m.startswith("equijax.")]:
            del sys.modules[name]
        stub = types.ModuleType("equijax")
        stub.__path__ = [PATH]
        sys.modules["equijax"] = stub

    def loaded():
        return sorted({".".join(m.split(".")[:2]) for m in sys.modules if m.startswith("equijax.")})

    for module in ("equijax.internal", "equijax.group"):
        fresh()
        importlib.import_module(module)
        print(module, "->", loaded())

    orders = [
        ["equijax.nn", "equijax.internal"],
        ["equijax.models", "equijax.group"],
        ["equijax.kernels", "equijax.gspaces"],
        ["equijax.gspaces", "equijax.kernels"],
        ["equijax.group._irreps", "equijax.group._induced", "equijax.group._so2_o2"],
    ]
    for order in orders:
        fresh()
        for module in order:
            importlib.import_module(module)
    print("orders ok")
    """
)


def test_internal_and_group_import_nothing_above_them_and_no_order_cycles():
    script = "PATH = " + repr(str(PACKAGE)) + "\n" + _SCRIPT
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "equijax.internal -> ['equijax._misc', 'equijax.group', 'equijax.internal']"
    assert lines[1] == "equijax.group -> ['equijax._misc', 'equijax.group']"
    assert lines[-1] == "orders ok"
