"""Shared fixtures. Importing tm_weather first keeps pyproj loaded before eccodes (see tm_weather/__init__.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import tm_weather  # noqa: F401

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The real fixtures copied from ../shared/data (see tests/data/PROVENANCE.md)."""
    return DATA


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a network connection fail loudly."""

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
