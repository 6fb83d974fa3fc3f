"""escnn's introduction notebook (``examples/introduction.ipynb``), ported to equijax.

Every code cell of the notebook (all of them are planar: C4 acting on the plane) is written
below as escnn's user would port it: the import line becomes ``from equijax import ...``,
Equinox's keys are added to the layers that draw weights (``key=``), the batch norms' running
statistics are passed as Equinox state (``state = eqx.nn.State(model)``, ``model(x, state)``
returns ``(y, state)``), and torch's tensor helpers become their jax / numpy equivalents
(``torch.randn`` -> ``jax.random.normal``, ``torch.allclose`` -> ``jnp.allclose``,
``.detach().numpy()`` -> ``np.asarray``). Every escnn call is kept as escnn writes it:
a cell that fails here is a place where escnn code does not port.

The cells run in order in one namespace, as in the notebook. All cells run even when one fails,
and the test reports every failing cell with its error.
"""

import linecache
import textwrap
import traceback

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # the notebook's plot cell runs headless

# (cell number in escnn's notebook, ported source)
CELLS = [
    (
        2,
        """
        import jax
        import jax.numpy as jnp
        import equinox as eqx

        from equijax import gspaces
        from equijax import nn

        import numpy as np
        np.set_printoptions(precision=3, linewidth=10000, suppress=True)
        """,
    ),
    (4, "r2_act = gspaces.rot2dOnR2(N=4)"),
    (6, "feat_type_in = nn.FieldType(r2_act, [r2_act.trivial_repr])"),
    (8, "feat_type_out = nn.FieldType(r2_act, [r2_act.regular_repr])"),
    (10, "feat_type_out = nn.FieldType(r2_act, 3*[r2_act.regular_repr])"),
    (12, "conv = nn.R2Conv(feat_type_in, feat_type_out, kernel_size=3, key=jax.random.key(12))"),
    (
        14,
        """
        x = jax.random.normal(jax.random.key(14), (4, 1, 32, 32))
        x = feat_type_in(x)

        assert isinstance(x.tensor, jax.Array)
        """,
    ),
    (17, "y = conv(x)"),
    (19, "assert y.type == feat_type_out"),
    (
        21,
        """
        # for each group element
        for g in r2_act.testing_elements:
            # transform the input with the current group element according to the input type
            x_transformed = x.transform(g)

            # feed the transformed input in the convolutional layer
            y_from_x_transformed = conv(x_transformed)

            # the result should be equivalent to rotating the output produced in the
            # previous block according to the output type
            y_transformed_from_x = y.transform(g)
            assert jnp.allclose(y_from_x_transformed.tensor, y_transformed_from_x.tensor, atol=1e-5), g
        """,
    ),
    (
        23,
        """
        relu = nn.ReLU(feat_type_out)

        z = relu(y)
        """,
    ),
    (
        25,
        """
        # for each group element
        for g in r2_act.testing_elements:
            y_transformed = y.transform(g)
            z_from_y_transformed = relu(y_transformed)

            z_transformed_from_y = z.transform(g)

            assert jnp.allclose(z_from_y_transformed.tensor, z_transformed_from_y.tensor, atol=1e-5), g
        """,
    ),
    (
        27,
        """
        layer1 = nn.R2Conv(feat_type_in, feat_type_out, kernel_size=3, key=jax.random.key(27))
        layer2 = nn.ReLU(feat_type_in) # the input type of the ReLU should be the output type of the convolution

        x = feat_type_in(jax.random.normal(jax.random.key(270), (3, 1, 7, 7)))

        try:
            y = layer2(layer1(x))
        except AssertionError as e:
            print(e)
        """,
    ),
    (
        29,
        """
        feat_type_in = nn.FieldType(r2_act, [r2_act.trivial_repr])
        feat_type_hid = nn.FieldType(r2_act, 8*[r2_act.regular_repr])
        feat_type_out = nn.FieldType(r2_act, 2*[r2_act.regular_repr])

        model = nn.SequentialModule(
            nn.R2Conv(feat_type_in, feat_type_hid, kernel_size=3, key=jax.random.key(290)),
            nn.InnerBatchNorm(feat_type_hid),
            nn.ReLU(feat_type_hid),
            nn.R2Conv(feat_type_hid, feat_type_hid, kernel_size=3, key=jax.random.key(291)),
            nn.InnerBatchNorm(feat_type_hid),
            nn.ReLU(feat_type_hid),
            nn.R2Conv(feat_type_hid, feat_type_out, kernel_size=3, key=jax.random.key(292)),
        ).eval()
        state = eqx.nn.State(model)
        """,
    ),
    (
        31,
        """
        x = jax.random.normal(jax.random.key(31), (1, 1, 17, 17))
        x = feat_type_in(x)

        y, state = model(x, state)

        # for each group element
        for g in r2_act.testing_elements:
            x_transformed = x.transform(g)
            y_from_x_transformed, state = model(x_transformed, state)

            y_transformed_from_x = y.transform(g)

            assert jnp.allclose(y_from_x_transformed.tensor, y_transformed_from_x.tensor, atol=1e-5), g
        """,
    ),
    (
        33,
        """
        avgpool = nn.PointwiseAvgPool(feat_type_out, 11)

        y = avgpool(model(x, state)[0])

        print(y.shape)
        """,
    ),
    (
        35,
        """
        for i in range(4):
            g = r2_act.fibergroup.element(i)
            print(f'rotation by {i}*pi/2:', np.asarray(y.transform(g).tensor[0, ...]).squeeze())
        """,
    ),
    (
        37,
        """
        invariant_map = nn.GroupPooling(feat_type_out)

        y = invariant_map(avgpool(model(x, state)[0]))

        for i in range(4):
            g = r2_act.fibergroup.element(i)
            print(f'rotation by {i}*pi/2:', np.asarray(y.transform(g).tensor[0, ...]).squeeze())
        """,
    ),
    (
        38,
        """
        # for each group element
        for g in r2_act.testing_elements:
            # rotated the input image
            x_transformed = x.transform(g)
            y_from_x_transformed = invariant_map(avgpool(model(x_transformed, state)[0]))

            y_transformed_from_x = y # no .transform(g) needed since y should be invariant!

            # check that the output did not change
            # note that here we are not rotating the original output y as before
            assert jnp.allclose(y_from_x_transformed.tensor, y_transformed_from_x.tensor, atol=1e-6), g
        """,
    ),
    (42, "feat_type_out = nn.FieldType(r2_act, [r2_act.irrep(1)])"),
    (
        44,
        """
        import matplotlib.pyplot as plt
        import numpy as np

        feat_type_in = nn.FieldType(r2_act, [r2_act.trivial_repr])
        feat_type_hid = nn.FieldType(r2_act, 8*[r2_act.regular_repr])

        model = nn.SequentialModule(
            nn.R2Conv(feat_type_in, feat_type_hid, kernel_size=3, key=jax.random.key(440)),
            nn.InnerBatchNorm(feat_type_hid),
            nn.ReLU(feat_type_hid),
            nn.R2Conv(feat_type_hid, feat_type_hid, kernel_size=3, key=jax.random.key(441)),
            nn.InnerBatchNorm(feat_type_hid),
            nn.ReLU(feat_type_hid),
            nn.R2Conv(feat_type_hid, feat_type_out, kernel_size=3, key=jax.random.key(442)),
        ).eval()
        state = eqx.nn.State(model)

        S = 11
        x = jax.random.normal(jax.random.key(44), (1, 1, S, S))
        x = feat_type_in(x)

        fig, axs = plt.subplots(1, r2_act.fibergroup.order(), sharex=True, sharey=True, figsize=(16, 4))

        X, Y = np.meshgrid(range(S-6), range(S-7, -1, -1))

        # for each group element
        for i, g in enumerate(r2_act.testing_elements):
            # transform the input
            x_transformed = x.transform(g)

            y, state = model(x_transformed, state)
            y = np.asarray(y.tensor).squeeze()

            # plot the output vector field
            axs[i].quiver(X, Y, y[0, ...], y[1, ...], units='xy')
            axs[i].set_title(g.to('int')*90)

        plt.show()
        """,
    ),
    (
        46,
        """
        norm_relu = nn.NormNonLinearity(feat_type_out, 'n_relu')

        y = norm_relu(model(x, state)[0])

        for g in r2_act.testing_elements:
            x_transformed = x.transform(g)
            y_from_x_transformed = norm_relu(model(x_transformed, state)[0])

            y_transformed_from_x = y.transform(g)

            assert jnp.allclose(y_from_x_transformed.tensor, y_transformed_from_x.tensor, atol=1e-5), g
        """,
    ),
    (
        49,
        "feat_type_out = nn.FieldType(r2_act, 2*[r2_act.trivial_repr] + 2*[r2_act.regular_repr] + 1*[r2_act.irrep(1)])",
    ),
    (
        51,
        """
        scalar_fields = nn.FieldType(r2_act, 2*[r2_act.trivial_repr])
        regular_fields = nn.FieldType(r2_act, 2*[r2_act.regular_repr])
        vector_field = nn.FieldType(r2_act, 1*[r2_act.irrep(1)])
        feat_type_out = scalar_fields + regular_fields + vector_field
        """,
    ),
    (
        53,
        """
        relu = nn.ReLU(scalar_fields + regular_fields)
        norm_relu = nn.NormNonLinearity(vector_field)

        nonlinearity = nn.MultipleModule(
                            feat_type_out,
                            ['relu']*len(scalar_fields+regular_fields) + ['norm']*len(vector_field),
                            [(relu, 'relu'), (norm_relu, 'norm')]
        )
        """,
    ),
    (
        55,
        """
        model = nn.SequentialModule(
            nn.R2Conv(feat_type_in, feat_type_hid, kernel_size=3, key=jax.random.key(550)),
            nn.InnerBatchNorm(feat_type_hid),
            nn.ReLU(feat_type_hid),
            nn.R2Conv(feat_type_hid, feat_type_out, kernel_size=3, key=jax.random.key(551)),
            nonlinearity,
        ).eval()
        state = eqx.nn.State(model)

        x = jax.random.normal(jax.random.key(55), (1, 1, 17, 17))
        x = feat_type_in(x)

        y, state = model(x, state)

        for g in r2_act.testing_elements:
            x_transformed = x.transform(g)
            y_from_x_transformed, state = model(x_transformed, state)

            y_transformed_from_x = y.transform(g)

            assert jnp.allclose(y_from_x_transformed.tensor, y_transformed_from_x.tensor, atol=1e-5), g
        """,
    ),
]

# escnn's notebook prints these (cells 33, 35 and 37): the port must print them too
EXPECTED_OUTPUT = [
    "(1, 8, 1, 1)",  # cell 33: y.shape after the average pool
    "rotation by 3*pi/2:",  # cells 35 and 37
]


def run_cells(cells):
    """Run `cells` in order in one namespace; return (namespace, [(cell, error text)])."""
    namespace: dict = {"__name__": "__introduction__"}
    failures = []
    for number, source in cells:
        source = textwrap.dedent(source).strip() + "\n"
        filename = f"<introduction.ipynb cell {number}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        code = compile(source, filename, "exec")
        try:
            exec(code, namespace)
        except Exception as e:  # every failing cell is reported
            tb = traceback.extract_tb(e.__traceback__)
            where = next((f"line {f.lineno}: {f.line}" for f in reversed(tb) if f.filename.startswith("<intro")), "")
            failures.append((number, f"{type(e).__name__}: {e} ({where})"))
    return namespace, failures


def test_every_cell_is_ported():
    """The port has every code cell of escnn's notebook, numbered as the notebook numbers its
    cells (escnn's examples/introduction.ipynb at QUVA-Lab/escnn 9ad44cc)."""
    escnn_code_cells = [2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 38, 42, 44, 46, 49]
    escnn_code_cells += [51, 53, 55]
    assert [n for n, _ in CELLS] == escnn_code_cells


def test_introduction_notebook_runs(capsys):
    import matplotlib.pyplot as plt

    with np.printoptions():  # the notebook's np.set_printoptions stays inside the test
        try:
            namespace, failures = run_cells(CELLS)
        finally:
            plt.close("all")
    out = capsys.readouterr().out
    if failures:
        pytest.fail(
            f"{len(failures)} of {len(CELLS)} ported cells fail:\n" + "\n".join(f"cell {n}: {e}" for n, e in failures)
        )
    for text in EXPECTED_OUTPUT:
        assert text in out, (text, out)
    assert namespace["y"].type == namespace["feat_type_out"]
