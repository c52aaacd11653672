"""Resume support: which demo steps are done, with what result, kept in ``<data>/demo/state.json``.

Each step records its result (a JSON-able dict) when it finishes; a re-run skips recorded steps and reuses their
results. Long steps resume inside themselves too (encoder checkpoints, per-shard embed markers, shard
fingerprints). The file is rewritten atomically, so an interrupted run never leaves it half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lensdb.core.errors import Conflict

STATE_FILE = "state.json"


class DemoState:
    """The recorded steps of one data folder's demo run.

    Args:
        folder: ``<data>/demo``; created when missing.
        plan: the plan of this run (a dict); a folder recorded with another plan is refused.

    Raises:
        Conflict: the folder holds a run of another plan.
    """

    def __init__(self, folder: Path, plan: dict[str, Any]):
        self.folder = folder
        self.path = folder / STATE_FILE
        self.plan = plan
        self.steps: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            stored = json.loads(self.path.read_text())
            if stored.get("plan") != plan:
                raise Conflict(
                    f"{self.path.parent.parent} holds a demo run of another plan ({stored.get('plan', {}).get('name')}"
                    f", {stored.get('plan', {}).get('n_objects')} objects); use another --data-dir, or delete "
                    "that folder to start over"
                )
            self.steps = stored.get("steps", {})

    def done(self, step: str) -> bool:
        return step in self.steps

    def result(self, step: str) -> dict[str, Any]:
        return self.steps[step]["result"]

    def record(self, step: str, result: dict[str, Any], seconds: float) -> None:
        """Mark ``step`` done with ``result`` and write the file (atomically)."""
        self.steps[step] = {"result": result, "seconds": round(seconds, 1)}
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"plan": self.plan, "steps": self.steps}, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)

    def seconds(self) -> dict[str, float]:
        return {name: entry["seconds"] for name, entry in self.steps.items()}
