"""Settings: where data lives, which models, which device and precision.

Precedence is flags > environment > config file > defaults, so a script can
always override what a person set up once in the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from clipgit.core.errors import ConfigError

DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_CAPTION_MODEL = "microsoft/git-base-coco"
# `demo`: the small models shipped in the package, trained on core.lab.shapes pictures (they know colours and
# shapes, nothing else): `--clip-model demo` / `--caption-model demo`, and what `clipgit-tui demo` uses.
DEMO = "demo"
DEMO_MODELS = Path(__file__).resolve().parent / "demo_models"
DEMO_DIRS = {"clip_model": DEMO_MODELS / "clip", "caption_model": DEMO_MODELS / "git"}
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DECODERS = ("auto", "threads", "processes")
VECTOR_INDEXES = ("auto", "exact", "ann")  # which kind of vector search answers (core/store/ann_keeper.py)

ENV_VARS = {
    "data_dir": "CLIPGIT_DATA_DIR",
    "clip_model": "CLIPGIT_CLIP_MODEL",
    "caption_model": "CLIPGIT_CAPTION_MODEL",
    "device": "CLIPGIT_DEVICE",
    "precision": "CLIPGIT_PRECISION",
    "batch_size": "CLIPGIT_BATCH_SIZE",
    "captions": "CLIPGIT_CAPTIONS",
    "ocr": "CLIPGIT_OCR",
    "service": "CLIPGIT_SERVICE",
    "service_idle": "CLIPGIT_SERVICE_IDLE",
    "decode": "CLIPGIT_DECODE",
    "gpu_decode": "CLIPGIT_GPU_DECODE",
    "watch": "CLIPGIT_WATCH",
    "history": "CLIPGIT_HISTORY",
    "vector_index": "CLIPGIT_VECTOR_INDEX",
    "ann_crossover": "CLIPGIT_ANN_CROSSOVER",
}


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("clipgit", appauthor=False))


def private_data_dir(path: Path) -> str:
    """Create the data dir readable by its owner only (0700: the library holds file names, captions and text
    read from pictures), or make an existing one so. Returns a one-line note when it had to tighten one,
    else ""; a dir it cannot change is left as it is (a shared mount may not allow it)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077 and path.stat().st_uid == os.getuid():
            path.chmod(0o700)
            return f"made the data dir {path} private (mode {mode:o} -> 700: it holds file names and captions)"
    except OSError as exc:
        raise ConfigError(f"cannot use the data dir {path}: {exc.strerror or exc}") from None
    return ""


def config_file_path() -> Path:
    """`CLIPGIT_CONFIG` or `<user config dir>/clipgit/config.toml`."""
    env = os.environ.get("CLIPGIT_CONFIG")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("clipgit", appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    clip_model: str = DEFAULT_CLIP_MODEL
    caption_model: str = DEFAULT_CAPTION_MODEL
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 0  # 0: chosen for the device (32 on a CPU, 256 on a GPU)
    captions: bool = False  # caption every image after embedding (index, and the app in the background)
    caption_batch_size: int = 8
    ocr: bool = False  # read the text in every image after embedding (index, and the app in the background)
    max_tokens: int = 30
    beams: int = 1
    decode_workers: int = 0  # 0: one per core
    decode: str = "auto"  # CPU decode pool: threads, processes, or auto (processes for big runs on 8+ cores)
    gpu_decode: bool = True  # on CUDA, decode JPEGs on the GPU (nvJPEG, needs torchvision: the cuda extra)
    watch: bool = True  # the open app picks up new, changed and deleted files in library folders
    history: bool = True  # the app keeps the searches you settle on (data dir's history.txt; Up/Down recall)
    max_image_pixels: int = 120_000_000
    include_hidden: bool = False
    exclude_dirs: tuple[str, ...] = (".git", "node_modules", "@eaDir", "__pycache__", ".thumbnails", "#recycle")
    service: bool = True  # answer model commands from a warm per-user service (False: in-process)
    service_idle: float = 600.0  # seconds the service stays warm without a request
    # exact scan, approximate index, or auto: exact below the crossover, the index above it (docs/scale.md)
    vector_index: str = "auto"
    ann_crossover: int = 0  # library size where auto turns approximate; 0: measured for this machine (ann_kind.py)

    def __post_init__(self) -> None:
        if not isinstance(self.data_dir, Path):
            object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        if self.service_idle <= 0:
            raise ConfigError(f"service idle must be above 0 seconds, not {self.service_idle}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.vector_index not in VECTOR_INDEXES:
            raise ConfigError(f"vector index must be one of {', '.join(VECTOR_INDEXES)}, not {self.vector_index!r}")
        if self.ann_crossover < 0:
            raise ConfigError(f"ann crossover must be 0 (measured) or a number of images, not {self.ann_crossover}")
        if self.decode not in DECODERS:
            raise ConfigError(f"decode must be one of {', '.join(DECODERS)}, not {self.decode!r}")
        if self.batch_size < 0:
            raise ConfigError(f"batch size must be at least 1 (or 0: chosen for the device), not {self.batch_size}")
        for name in ("caption_batch_size", "max_tokens", "beams"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be at least 1, not {getattr(self, name)}")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "library.db"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from file, env, then the given overrides (None = not given)."""
        values: dict[str, Any] = {}
        values.update(_read_config_file(config_file_path()))
        for name, var in ENV_VARS.items():
            if os.environ.get(var):
                values[name] = os.environ[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**_coerce(values))

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **_coerce(changes))


def _read_config_file(path: Path) -> dict[str, Any]:
    if os.environ.get("CLIPGIT_CONFIG") and not path.exists():
        # named on purpose, so a typo or a file not made yet must not pass for "no settings" without a word
        raise ConfigError(f"CLIPGIT_CONFIG names {path}, which does not exist (CLIPGIT_CONFIG={os.devnull} reads "
                          "no config file)")
    if not path.is_file():
        return {}
    import tomllib  # here, not at the top: ~5 ms of the app's start that most people, with no config file, never use

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    return data


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    try:
        if "data_dir" in out:
            out["data_dir"] = Path(os.path.expanduser(str(out["data_dir"]))).absolute()
        for name in ("batch_size", "decode_workers", "max_image_pixels", "caption_batch_size", "max_tokens", "beams",
                     "ann_crossover"):
            if name in out:
                out[name] = _number(name, out[name], int)
        if "exclude_dirs" in out:
            out["exclude_dirs"] = tuple(out["exclude_dirs"])
        if "service_idle" in out:
            out["service_idle"] = _number("service_idle", out["service_idle"], float)
        for name in ("include_hidden", "captions", "ocr", "service", "gpu_decode", "watch", "history"):
            if name in out and isinstance(out[name], str):
                out[name] = out[name].lower() in ("1", "true", "yes", "on")
        for name, demo_dir in DEMO_DIRS.items():
            if name in out:
                out[name] = str(demo_dir) if out[name] == DEMO else resolve_model_id(str(out[name]))
        for name in ("device", "precision", "decode", "vector_index"):
            if name in out:
                out[name] = str(out[name]).lower()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad setting value: {exc}") from None
    return out


def _number(name: str, value: Any, kind: type[int] | type[float]) -> int | float:
    """The setting as a number, or a ConfigError that names it (int() alone says only "invalid literal")."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, not {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a {'whole' if kind is int else 'decimal'} number, not {value!r}") from None


def resolve_model_id(model: str) -> str:
    """A local directory becomes its absolute path (the key vectors are stored under)."""
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        return str(Path(expanded).resolve())
    return model
