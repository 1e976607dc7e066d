"""Tests use the same Azurite launcher as `forewarn serve` and `forewarn demo`."""

from shared.devhost.azurite import Azurite, AzuriteNotInstalledError, free_port

__all__ = ["Azurite", "AzuriteNotInstalledError", "free_port"]
