"""Reading a config file or text: YAML with positions, then every section checked."""

from __future__ import annotations

from pathlib import Path

from exporter import yaml_source
from exporter.config.model import Config, ConfigError
from exporter.config.validation import read_config


def load_file(path: str | Path) -> Config:
    """Read and validate a config file; raises ConfigError naming every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: config file not found"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: config file is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read config file: {exc.strerror}"]) from None
    return load_text(text, source)


def load_text(text: str, source: str = "<config>") -> Config:
    """Validate config text; `source` names it in every problem."""
    try:
        document = yaml_source.parse(text, source)
    except yaml_source.YamlSourceError as exc:
        raise ConfigError([str(exc)]) from None
    return read_config(document, source)
