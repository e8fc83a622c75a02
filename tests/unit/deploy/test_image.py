"""The Dockerfile and .dockerignore, checked without a Docker engine: the recipe's stages, packages,
user and commands, the build context it sees, and that `pip install .` of that context carries every
file the services read at run time (setuptools' own build_py over the same pyproject.toml)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from services.submit.settings import DEFAULT_LETTER_FONT
from tests.unit.deploy.manifests import REPO, SERVICES, by_kind, known_variables, render, settings_class

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
BASE_IMAGE = "python:3.11-slim-bookworm"
DEBIAN_PACKAGES = {"fonts-wqy-microhei", "tesseract-ocr", "tesseract-ocr-kor", "tesseract-ocr-chi-sim", "tzdata"}
OCR_LANGUAGES = ("kor", "chi_sim", "eng")  # eng comes with tesseract-ocr (a Depends, not a Recommends)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
            pending = ""
    return lines


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in instructions():
        if word == "FROM":
            image, _, name = rest.partition(" AS ")
            current = result.setdefault(name.strip(), [("FROM", image.strip())])
        elif current is not None:
            current.append((word, rest))
    return result


def test_two_stages_on_python_311_slim_bookworm():
    (arg,) = [rest for word, rest in instructions() if word == "ARG" and rest.startswith("PYTHON_IMAGE=")]
    assert arg == f"PYTHON_IMAGE={BASE_IMAGE}"
    built = stages()
    assert list(built) == ["builder", "runtime"]
    assert all(stage[0] == ("FROM", "${PYTHON_IMAGE}") for stage in built.values())
    runs = " ".join(rest for word, rest in built["builder"] if word == "RUN")
    assert "python -m venv /opt/dispute-desk" in runs and "pip install --no-deps ." in runs
    # The runtime stage takes the venv alone from the builder: no compilers, caches or sources.
    copies = [rest for word, rest in built["runtime"] if word == "COPY"]
    assert copies == ["--from=builder /opt/dispute-desk /opt/dispute-desk"]


def test_the_runtime_packages_without_recommends():
    runs = [rest for word, rest in stages()["runtime"] if word == "RUN" and "apt-get install" in rest]
    (run,) = runs
    assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run
    installed = set(run.split("--no-install-recommends", 1)[1].split("&&", 1)[0].split())
    assert installed == DEBIAN_PACKAGES


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs Debian's dpkg to map files to packages")
def test_those_packages_hold_the_files_the_services_read():
    """On this Debian machine (bookworm, as the image): the letters' font and the OCR languages."""

    def owner(path: str) -> str:
        out = subprocess.run(["dpkg", "-S", path], check=True, capture_output=True, text=True).stdout
        return out.split(":", 1)[0]

    assert owner(str(DEFAULT_LETTER_FONT)) == "fonts-wqy-microhei"
    tessdata = {lang: owner(f"{lang}.traineddata") for lang in OCR_LANGUAGES}
    assert tessdata["kor"] == "tesseract-ocr-kor" and tessdata["chi_sim"] == "tesseract-ocr-chi-sim"
    assert owner("/usr/share/zoneinfo/Asia/Seoul") == "tzdata"


def test_a_numeric_unprivileged_user_as_the_manifests_expect():
    users = [rest for word, rest in stages()["runtime"] if word == "USER"]
    assert users == ["10001:10001"]
    uid = int(users[0].split(":")[0])
    for overlay in ("dev", "production"):
        for deployment in by_kind(render(overlay), "Deployment").values():
            security = deployment["spec"]["template"]["spec"].get("securityContext", {})
            if deployment["metadata"]["name"].removeprefix("dd-").replace("-", "_") in SERVICES:
                assert security["runAsUser"] == uid


def test_services_listen_on_every_interface_in_the_container():
    env = " ".join(rest for word, rest in stages()["runtime"] if word == "ENV")
    assert "DD_HOST=0.0.0.0" in env
    for service in SERVICES:
        assert "DD_HOST" in known_variables(settings_class(service))


def test_the_commands_it_names_are_real():
    """The default command, and every `python -m …` the header names (services.<a|b|…> expanded)."""
    (cmd,) = [rest for word, rest in instructions() if word == "CMD"]
    assert cmd == '["dd", "--help"]'
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["dd"] == "shared.cli:app"
    header = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("#")]
    named = re.findall(r"python -m ([\w.<>|]+)", "\n".join(header))
    modules = set()
    for module in named:
        if match := re.fullmatch(r"services\.<(\w+(?:\|\w+)+)>", module):
            modules |= {f"services.{name}" for name in match.group(1).split("|")}
        elif "<" not in module:  # not a placeholder such as services.<name>
            modules.add(module)
    assert {f"services.{s}" for s in SERVICES} | {"deploy.bootstrap"} <= modules
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module
        if importlib.util.find_spec(module).submodule_search_locations:
            assert importlib.util.find_spec(f"{module}.__main__") is not None, module


# --------------------------------------------------------------------------- the build context


def ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as Docker reads it: Go's filepath.Match plus `**`, the last matching line wins."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        rules.append((keep, re.compile(regex.replace("\0/", "(?:.*/)?").replace("\0", ".*"))))
    return rules


def in_context(path: str) -> bool:
    """Whether a file (relative, posix) reaches the builder: a pattern matching one of its parent
    directories matches the file too, as in Docker."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for keep, rule in ignore_patterns():
        if any(rule.fullmatch(prefix) for prefix in prefixes):
            included = keep
    return included


def test_the_context_holds_the_code_and_nothing_of_a_checkout():
    for path in ("pyproject.toml", "shared/settings.py", "services/evidence/migrations/env.py", "deploy/bootstrap.py"):
        assert in_context(path), path
    for path in (
        ".venv/bin/python",
        ".local/cache/bin/kustomize-v5.7.1",
        ".local/pg/data/PG_VERSION",
        ".git/HEAD",
        "tests/conftest.py",
        "bench/results/latest.json",
        "docs/deploying.md",
        "shared/__pycache__/settings.cpython-311.pyc",
        "services/evidence/.local/blobs/x",
        "deploy/k8s/base/kustomization.yaml",
    ):
        assert not in_context(path), path
    # Every COPY of the builder reads something the context has.
    for word, rest in stages()["builder"]:
        if word == "COPY":
            source = rest.split()[0]
            assert (REPO / source).exists() and in_context(source), source


def test_pip_install_of_the_context_carries_every_file_the_services_read(tmp_path):
    """The context copied as Docker would send it, then setuptools' build_py (what `pip install .`
    puts in site-packages) under the same pyproject.toml: migrations, templates, data files."""
    tracked = subprocess.run(
        ["git", "ls-files", "pyproject.toml", "shared", "services", "deploy"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    context = tmp_path / "context"
    for path in tracked:
        if in_context(path):
            (context / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, context / path)
    lib = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "-d",
            str(lib),
        ],
        cwd=context,
        check=True,
        capture_output=True,
    )
    installed = {str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file()}
    needed = {
        path
        for path in tracked
        if path != "pyproject.toml"
        and not path.endswith(".md")
        and in_context(path)
        # make run's process list: a laptop's, never the image's.
        and path != "deploy/local/Procfile"
    }
    assert needed - installed == set()
    assert {"services/notify/templates/reasons.json", "services/submit/suggestions.json"} <= installed
    assert any(p.startswith("services/evidence/migrations/versions/") for p in installed)
