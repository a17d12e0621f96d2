"""Config data as plain dicts: reading a YAML file, ``--set a.b.c=value`` overrides and deep merges."""
from collections.abc import Hashable
from pathlib import Path

import yaml

from common.errors import UserError


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, line: int):
        super().__init__(f"key '{key}' appears twice in one mapping (line {line})")
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with a repeated key: plain YAML keeps the last one silently,
    so a config that sets a key twice would run with a value its author may not have meant."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' keys may be overridden by the keys written beside them
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                break  # SafeLoader reports an unhashable key itself
            if key in seen:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml_text(text: str):
    """``yaml.safe_load`` that refuses repeated keys (a ``DuplicateKey`` error)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = load_yaml_text(path.read_text())
    except (UnicodeDecodeError, OSError):
        raise UserError(f"config file {path} cannot be read as text") from None
    except DuplicateKey as error:
        raise UserError(f"config file {path}: {error}") from None
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise UserError(f"config file {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of config keys")
    return data


def apply_override(data: dict, assignment: str) -> None:
    """Apply one ``a.b.c=value`` override; the value is parsed as YAML (so 3 is int, true is bool)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"--set expects key=value, got {assignment!r}")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except DuplicateKey as error:
        raise UserError(f"--set {key}: {error}") from None
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"config key '{'.'.join(parts[:i + 1])}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def deep_merge(base: dict, top: dict) -> dict:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
