"""Every refusal answers with its own code: a `DomainError`'s `code` is the `code` of the
problem row that maps it (its own row or its nearest base class's), in every service.

A subclass mapped through its base's row would otherwise answer the base's code while its
handlers, logs and docs say another.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import services
from shared.errors import DomainError
from shared.web.problems import problem_for


def _service_error_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(services.__path__):
        try:
            modules.append(importlib.import_module(f"services.{info.name}.errors"))
        except ModuleNotFoundError:
            continue  # a service without refusals of its own (yet)
    return modules


def _service_domain_errors(module: ModuleType) -> list[type[DomainError]]:
    """Every DomainError subclass defined in the service's package (every module imported first)."""
    package = module.__name__.rsplit(".", 1)[0]
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found: set[type[DomainError]] = set()
    pending = list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith(package + "."):
            found.add(cls)
    return sorted(found, key=lambda cls: cls.__qualname__)


MODULES = _service_error_modules()


def test_the_services_with_refusals_are_found():
    assert {m.__name__.split(".")[1] for m in MODULES} >= {"ingest", "evidence", "deadline"}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_every_domain_error_code_equals_its_problem_rows_code(module: ModuleType):
    table = module.ERRORS
    classes = _service_domain_errors(module)
    assert classes, f"{module.__name__} defines no DomainError"
    mismatched = []
    for cls in classes:
        if cls not in table and cls.__subclasses__():
            continue  # a base that is never raised itself (evidence's IntakeError)
        row = problem_for(table, cls("probe"))
        # No row: the error answers 422 with its own code (shared/web/problems.py), so it agrees.
        if row is not None and row.code != cls.code:
            mismatched.append(f"{cls.__qualname__}: code {cls.code!r}, problem row {row.code!r}")
    assert not mismatched, mismatched
