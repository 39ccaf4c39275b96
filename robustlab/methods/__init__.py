"""Methods (DESIGN §4): one registry, one interface. Importing this package registers every
built-in method; `METHODS.names()` lists them, `METHODS.get(name)` returns the class.

>>> from robustlab.methods import METHODS
>>> from robustlab.methods.encoders import ENCODERS
>>> cls = METHODS.get("comm")
>>> model = cls.build(cls.Options(), {"a": 4, "b": 4, "c": 4}, ENCODERS.get("mlp")(dim=8))
"""

from robustlab.methods import (  # noqa: F401 (registers)
    clip,
    comm,
    coral,
    gated_symile,
    gram,
    symile,
    triangle,
)
from robustlab.methods.base import METHODS, Method, Query, options_from
from robustlab.methods.encoders import ENCODERS

__all__ = ["ENCODERS", "METHODS", "Method", "Query", "options_from"]
