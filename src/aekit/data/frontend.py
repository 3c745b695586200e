"""Front ends: what turns raw input (text, and next audio) into the items a model sees, fitted on the training
data and kept with the run, so every query later is turned into items exactly as the training data was.

A front end is a part of the run: ``frontend.json`` (its registered ``name`` and settings) and
``frontend.safetensors`` (its fitted numbers), written and read here; no pickle, no code from the files.
A front end class has ``name``, ``to_parts() -> (settings: dict, tensors: dict)`` and
``from_parts(settings, tensors)``; ``@register_frontend`` makes it loadable by name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from aekit.errors import AekitError

FRONTEND_JSON, FRONTEND_TENSORS = "frontend.json", "frontend.safetensors"
FRONTENDS: dict[str, type] = {}


def register_frontend(cls: type) -> type:
    FRONTENDS[cls.name] = cls
    return cls


def save_frontend(folder: str | Path, frontend: Any) -> None:
    from aekit import io

    settings, tensors = frontend.to_parts()
    io.save_tensors(Path(folder) / FRONTEND_TENSORS, tensors)
    io.write_json(Path(folder) / FRONTEND_JSON, {"name": frontend.name, "settings": settings})


def load_frontend(folder: str | Path, run_config: dict | None = None) -> Any | None:
    """The front end saved in ``folder``, or None; a run of an earlier release kept its text vectoriser in
    ``config["data"]["text"]``, which is converted here."""
    from aekit import io

    folder = Path(folder)
    if not (folder / FRONTEND_JSON).is_file():
        legacy = ((run_config or {}).get("data") or {}).get("text")
        if legacy is None:
            return None
        from aekit.data.text import TextVectorizer

        return TextVectorizer.from_dict(legacy)
    saved = io.read_json(folder / FRONTEND_JSON)
    name = saved.get("name") if isinstance(saved, dict) else None
    _ensure_builtin()
    if name not in FRONTENDS:
        raise AekitError(f"{folder / FRONTEND_JSON} names front end {name!r}, which this aekit does not know "
                         f"(it knows {', '.join(sorted(FRONTENDS))}): the file is damaged or from a newer aekit")
    return FRONTENDS[name].from_parts(saved.get("settings") or {}, io.load_tensors(folder / FRONTEND_TENSORS))


def _ensure_builtin() -> None:
    import aekit.data.text  # noqa: F401  (registers the bag-of-words vectoriser)
