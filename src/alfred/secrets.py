"""Resolves secret references from config: ``env:NAME``, ``file:PATH`` or a literal value.

Other schemes (``vault:``) plug in as ``SecretSource`` implementations given to the resolver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class SecretError(Exception):
    """A secret reference that cannot be resolved; the message names the reference, never a value."""


class SecretSource(Protocol):
    """Resolves references of one scheme (the part after ``scheme:``)."""

    def get(self, reference: str) -> str: ...


class EnvSource:
    """``env:NAME``: the value of an environment variable."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = environ

    def get(self, reference: str) -> str:
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(reference)
        if not value:
            raise SecretError(f"environment variable {reference} is not set")
        return value


class FileSource:
    """``file:PATH``: the stripped contents of a file (Kubernetes secret mounts, Docker secrets)."""

    def get(self, reference: str) -> str:
        try:
            return Path(reference).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {reference}: {exc.strerror}") from exc


class SecretResolver:
    """Turns a config value into the secret it names."""

    def __init__(self, sources: dict[str, SecretSource] | None = None) -> None:
        self._sources: dict[str, SecretSource] = {"env": EnvSource(), "file": FileSource()}
        if sources:
            self._sources.update(sources)

    def resolve(self, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, reference = value.partition(":")
        if sep and scheme in self._sources:
            return self._sources[scheme].get(reference)
        return value
