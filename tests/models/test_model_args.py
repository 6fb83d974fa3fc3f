"""The reference models refuse bad arguments with a message naming them (issue 13), before
building anything."""

import jax
import pytest

from equijax import gspaces, models, nn

KEY = jax.random.key(0)


@pytest.mark.parametrize(
    "cls, kwargs, err, needle",
    [
        (models.C4CNN, dict(width=-1), ValueError, "`width` (=-1)"),
        (models.C4CNN, dict(width=float("nan")), ValueError, "`width`"),
        (models.C4CNN, dict(n_classes=0), ValueError, "`n_classes` (=0)"),
        (models.C4CNN, dict(n_classes=2.0), ValueError, "`n_classes`"),
        (models.C4CNN, dict(batch_norm="no"), TypeError, "`batch_norm` (='no')"),
        (models.C4CNN, dict(N=0), ValueError, "`N` (=0)"),
        (models.C4CNN, dict(reflections=1), TypeError, "`reflections`"),
        (models.CNN, dict(width=0), ValueError, "`width` (=0)"),
        (models.CNN, dict(n_classes=-3), ValueError, "`n_classes`"),
        (models.CNN, dict(batch_norm=None), TypeError, "`batch_norm`"),
        (models.C8SteerableCNN, dict(n_classes=0), ValueError, "`n_classes`"),
        (models.C8SteerableCNN, dict(N=True), ValueError, "`N`"),
        (models.C8SteerableCNN, dict(width="1"), ValueError, "`width`"),
        (models.C8SteerableCNN, dict(reflections="yes"), TypeError, "`reflections`"),
        (models.WideResNet, dict(sigma=float("inf")), ValueError, "`sigma`"),
        (models.WideResNet, dict(F=0.0), ValueError, "`F`"),
        (models.WideResNet, dict(num_classes=0), ValueError, "`num_classes`"),
    ],
)
def test_bad_arguments_are_refused(cls, kwargs, err, needle):
    with pytest.raises(err, match=needle.replace("(", r"\(").replace(")", r"\)")):
        cls(KEY, **kwargs)


def test_wide_basic_checks_its_arguments():
    gs = gspaces.rot2dOnR2(4)
    t = nn.FieldType(gs, [gs.regular_repr])
    other = nn.FieldType(gspaces.rot2dOnR2(8), [gspaces.rot2dOnR2(8).regular_repr])
    with pytest.raises(TypeError, match="`inner_type`"):
        models.WideBasic(t, "regular", t, key=KEY)
    with pytest.raises(ValueError, match="`out_type`"):
        models.WideBasic(t, t, other, key=KEY)
    with pytest.raises(ValueError, match="`stride`"):
        models.WideBasic(t, t, t, stride=0, key=KEY)
    with pytest.raises(ValueError, match="`dropout_rate`"):
        models.WideBasic(t, t, t, dropout_rate=1.0, key=KEY)
    with pytest.raises(ValueError, match="`sigma`"):
        models.WideBasic(t, t, t, sigma=-1.0, key=KEY)


def test_good_arguments_still_build():
    m = models.C4CNN(KEY, n_classes=2, width=0.1, N=2, reflections=True)
    assert m.head.out_features == 2
    assert models.CNN(KEY, n_classes=1, width=0.05).head.out_features == 1
