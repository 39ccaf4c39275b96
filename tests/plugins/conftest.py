"""Fixtures of the plugin tests: real distributions on disk (a `*.dist-info` folder with
METADATA and entry_points.txt next to their modules), found by `importlib.metadata` exactly
as an installed package's, without installing anything into the test environment."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from robustlab.study.plugins import registries


@dataclass
class FakeSite:
    """A folder on sys.path holding distributions; `pkg` is a module name unique to the test
    (so no test sees another's imported plugin modules)."""

    root: Path
    pkg: str = field(default_factory=lambda: f"rlplugin_{uuid.uuid4().hex[:10]}")

    def add(self, dist: str, version: str, entry_points: Mapping[str, Mapping[str, str]],
            modules: Mapping[str, str]) -> None:
        """Write `modules` (dotted name under `pkg` -> source) and a dist-info declaring
        `entry_points` (group -> {name: "module:attr"}, `{pkg}` in values is replaced)."""
        package = self.root / self.pkg
        package.mkdir(exist_ok=True)
        (package / "__init__.py").touch()
        for name, source in modules.items():
            (package / f"{name}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = []
        for group, points in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{n} = {v.format(pkg=self.pkg)}" for n, v in points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        refresh()


def refresh() -> None:
    for registry in registries().values():
        registry.refresh()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    """An empty site folder on sys.path; on teardown its modules are forgotten and every
    registry reads the real environment again."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    fake = FakeSite(root)
    refresh()
    yield fake
    for name in [m for m in sys.modules if m == fake.pkg or m.startswith(fake.pkg + ".")]:
        del sys.modules[name]
    refresh()


# Plugin sources. A plugin method may subclass a built-in (it then gets its own registry name).
GOOD_METHOD = """
    from robustlab.methods.clip import Clip

    class Mine(Clip):
        '''CLIP under another name: a valid plugin.'''
"""

NO_DEFAULTS = """
    from dataclasses import dataclass
    from robustlab.methods.clip import Clip

    @dataclass(frozen=True)
    class NeedsAlpha:
        alpha: float  # no default: a study variant that sets nothing could not build it
        normalize: bool = True
        logit_scale_init: float = 2.0

    class Mine(Clip):
        Options = NeedsAlpha
"""

ABSTRACT = """
    from robustlab.methods.clip import ClipOptions
    from robustlab.methods.common import EmbeddingMethod
    from robustlab.methods.base import COMMON_SEARCH_SPACE

    class Mine(EmbeddingMethod):
        '''Forgets `score`.'''
        Options = ClipOptions

        def __init__(self, options, dims, encoder):
            super().__init__(dims, encoder, normalize=True, logit_scale_init=1.0)

        @classmethod
        def search_space(cls):
            return dict(COMMON_SEARCH_SPACE)

        def loss(self, batch, generator=None):
            raise NotImplementedError
"""

FAILS_TO_IMPORT = """
    import robustlab_no_such_dependency  # the plugin's dependency is not installed
"""
