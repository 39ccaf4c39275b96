import pytest

from robustlab.registry import Registry, RegistryError


def test_register_and_get():
    reg: Registry[object] = Registry("widget")
    reg.register("alpha")(1)
    assert reg.get("alpha") == 1
    assert "alpha" in reg and len(reg) == 1 and list(reg) == ["alpha"]


def test_duplicate_name_raises():
    reg: Registry[object] = Registry("widget")
    reg.register("alpha")(1)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("alpha")(2)


def test_unknown_name_suggests_closest():
    reg: Registry[object] = Registry("method")
    for name in ("symile", "gated_symile", "clip"):
        reg.register(name)(name)
    expected = r"unknown method 'symle'; did you mean 'symile'"
    with pytest.raises(RegistryError, match=expected) as err:
        reg.get("symle")
    assert "valid: clip, gated_symile, symile" in str(err.value)


def test_names_pattern():
    reg: Registry[object] = Registry("method")
    for name in ("symile", "gated_symile", "clip"):
        reg.register(name)(name)
    assert reg.names("*symile") == ["gated_symile", "symile"]
