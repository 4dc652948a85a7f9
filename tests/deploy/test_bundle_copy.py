"""kustomize cannot read files outside its folder, so the k8s base carries a copy of the demo
bundle; it must not drift from the one the services ship with."""

from __future__ import annotations

import filecmp
from pathlib import Path

from signpost.runtime.settings import DEMO_BUNDLE

COPY = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "bundle"


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_k8s_bundle_is_the_demo_bundle() -> None:
    assert files(COPY) == files(DEMO_BUNDLE)
    different = [f for f in files(DEMO_BUNDLE)
                 if not filecmp.cmp(DEMO_BUNDLE / f, COPY / f, shallow=False)]
    assert not different, f"copy {different} from signpost/demo_bundle to deploy/k8s/base/bundle"
