"""The service packages in services/, found by scanning the folder (a new service is picked up by itself)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import services

SERVICES_DIR = Path(services.__file__).parent


def service_names() -> list[str]:
    """Every package under services/ with a composition root (`main.py` with `create_app`)."""
    return sorted(p.name for p in SERVICES_DIR.iterdir() if (p / "__init__.py").is_file() and (p / "main.py").is_file())


def service_main(name: str) -> ModuleType:
    main = importlib.import_module(f"services.{name}.main")
    assert hasattr(main, "create_app"), f"services/{name}/main.py has no create_app"
    return main
