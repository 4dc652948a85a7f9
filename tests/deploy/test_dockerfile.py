"""Dockerfile and .dockerignore: multi-stage, pinned base, non-root, healthcheck, lean context.

No Docker engine here: the file is parsed (dockerfile-parse) and checked, not built.
"""

from __future__ import annotations

import fnmatch
import json

from .conftest import REPO, missing

try:
    import dockerfile_parse
except ImportError:
    dockerfile_parse = None


def instructions() -> list[dict]:
    if dockerfile_parse is None:
        missing("dockerfile-parse is not installed")
    parser = dockerfile_parse.DockerfileParser(path=str(REPO / "Dockerfile"))
    return parser.structure


def stages() -> list[list[dict]]:
    out: list[list[dict]] = []
    for ins in instructions():
        if ins["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def test_multi_stage_with_pinned_slim_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    for stage in all_stages:
        image = stage[0]["value"].split()[0]
        if image in {s[0]["value"].split()[-1] for s in all_stages}:
            continue  # FROM an earlier stage
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and "@" not in name, f"unpinned base {image}"
    final = all_stages[-1][0]["value"].split()[0]
    assert final.startswith("python:3.11.") and "slim" in final
    version = final.split(":")[1].split("-")[0]
    assert version.count(".") == 2, f"pin the patch version: {final}"


def test_final_stage_is_non_root_without_build_tools() -> None:
    final = stages()[-1]
    users = [ins["value"] for ins in final if ins["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    text = " ".join(ins["value"] for ins in final if ins["instruction"] == "RUN")
    for tool in ("build-essential", "gcc", "apt-get install"):
        assert tool not in text, f"final stage installs {tool}"
    assert any(ins["instruction"] == "COPY" and "--from=builder" in ins["value"] for ins in final)


def test_healthcheck_and_default_command() -> None:
    final = stages()[-1]
    health = [ins["value"] for ins in final if ins["instruction"] == "HEALTHCHECK"]
    assert len(health) == 1
    assert "/healthz" in health[0] and "SIGNPOST_HEALTH_PORT" in health[0]
    # The exec-form command must be valid JSON after the options.
    command = json.loads(health[0][health[0].index("CMD") + 3:])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")
    cmd = [ins["value"] for ins in final if ins["instruction"] == "CMD"]
    assert json.loads(cmd[-1]) == ["signpost", "intake"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule, enough for this file: last matching pattern wins."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for candidate in candidates:
            if any(fnmatch.fnmatchcase(p, candidate) for p in prefixes) or (
                pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, candidate)
                                                  for part in parts)):
                ignored = not negate
    return ignored


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in ("pyproject.toml", "README.md", "signpost/cli.py", "services/__init__.py",
                   "schemas/__init__.py", "signpost/demo_bundle/bundle.yaml"):
        assert not _ignored(needed, patterns), f".dockerignore drops {needed}"
    for unwanted in (".git/HEAD", ".venv/bin/python", "tests/conftest.py",
                     "signpost/__pycache__/cli.cpython-311.pyc", ".signpost-data/x"):
        assert _ignored(unwanted, patterns), f".dockerignore keeps {unwanted}"
