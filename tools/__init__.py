"""Roadie's toolsets: every module here that defines tools is picked up, so a new tool is one new file."""

from __future__ import annotations

import importlib
import pkgutil

from langchain_core.tools import BaseTool

from assistant.messages import Role
from assistant.toolkit import spec_of


def all_tools() -> list[BaseTool]:
    """Every Roadie tool declared in this package, in a stable order."""
    found: dict[str, BaseTool] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, BaseTool) and "roadie" in (value.metadata or {}):
                found.setdefault(value.name, value)
    return list(found.values())


def tools_for(role: Role) -> list[BaseTool]:
    """The tools registered for a conversation with this role: staff tools never reach travellers."""
    return [t for t in all_tools() if role == "staff" or not spec_of(t).staff_only]
