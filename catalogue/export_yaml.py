"""Writing a catalogue back as YAML, in the same format it is read from (a round trip changes nothing)."""

from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from catalogue.model import Catalogue


class _Dumper(yaml.SafeDumper):
    """Block style for structure, with short texts (`{fr, ar}`) kept on one line as people write them."""


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.MappingNode:
    flow = len(data) <= 4 and all(not isinstance(v, dict | list) and len(str(v)) < 60 for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_enum(dumper: yaml.SafeDumper, data: Enum) -> yaml.ScalarNode:
    return _represent_str(dumper, str(data.value))


def _represent_float(dumper: yaml.SafeDumper, data: float) -> yaml.ScalarNode:
    """Whole numbers are written without `.0`: targets read `20`, not `20.0`."""
    if data.is_integer():
        return dumper.represent_int(int(data))
    return dumper.represent_float(data)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_multi_representer(Enum, _represent_enum)
_Dumper.add_representer(float, _represent_float)
_Dumper.add_representer(str, _represent_str)


def catalogue_yaml(catalogue: Catalogue) -> str:
    """The catalogue as YAML text; fields left at their defaults are omitted, as a person would."""
    data = catalogue.model_dump(mode="python", exclude_defaults=True)
    data = {"sera_catalogue": catalogue.sera_catalogue, **data}
    header = f"# {catalogue.programme.code} indicator catalogue, exported by `sera catalogue export`.\n"
    return header + yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)


def write_yaml(catalogue: Catalogue, out: Path) -> None:
    out.write_text(catalogue_yaml(catalogue), encoding="utf-8")
