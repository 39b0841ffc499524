"""The AML screening provider (ComplyAdvantage-shaped): interface, client and configuration."""

from compliance.adapters.aml.client import SandboxAMLProvider
from compliance.adapters.aml.config import get_provider
from compliance.adapters.aml.interface import AMLProvider, Hit, ScreeningResult, screen

__all__ = ["AMLProvider", "Hit", "SandboxAMLProvider", "ScreeningResult", "get_provider", "screen"]
