"""The workspace: the two folders a session works in, ``models/`` (runs) and ``data/`` (datasets).

A :class:`Workspace` is a plain value passed down from the entry points (``tinygpt``,
``tinygpt-tui``, ``python -m tinygpt_tui.train``); nothing below them reads the environment for
folders. :meth:`Workspace.from_env` is where flags and ``$TINYGPT_MODELS``/``$TINYGPT_DATA`` meet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MODELS_ENV = "TINYGPT_MODELS"
DATA_ENV = "TINYGPT_DATA"


@dataclass(frozen=True)
class Workspace:
    """Where runs (``models``) and prepared datasets (``data``) live."""

    models: Path
    data: Path

    def __post_init__(self) -> None:
        # accept strings too, and keep Path values so every user can join with ``/``
        object.__setattr__(self, "models", Path(self.models))
        object.__setattr__(self, "data", Path(self.data))

    @classmethod
    def from_env(cls, models_dir: str | Path | None = None, data_dir: str | Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Workspace:
        """The folders from flags, else ``$TINYGPT_MODELS``/``$TINYGPT_DATA``, else ``./models``/``./data``.

        For entry points only: everything below them takes the workspace it is given.
        """
        env = os.environ if environ is None else environ
        models = models_dir if models_dir else env.get(MODELS_ENV) or "models"
        data = data_dir if data_dir else env.get(DATA_ENV) or "data"
        return cls(Path(models), Path(data))

    def resolved(self) -> Workspace:
        """The same folders as absolute paths (a child process or a later ``chdir`` sees the same)."""
        return Workspace(self.models.resolve(), self.data.resolve())

    def as_args(self) -> list[str]:
        """The command-line flags that hand this workspace to a child process."""
        return ["--models-dir", str(self.models), "--data-dir", str(self.data)]
