"""Reading configuration files: YAML with limits (size, aliases, nodes, duplicate keys), the site
profile and NodeConfig loaders, CA decoding.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import (
    ValidationError,
)

from netcheck.settings.errors import ConfigError, _clip, _validation_error
from netcheck.settings.schema import NODECONFIG_API, SiteProfile

if TYPE_CHECKING:
    from netcheck.settings.nodeconfig import NodeConfigFile

# --- loading -----------------------------------------------------------------------

MAX_BYTES = 1 << 20  # a site profile is a few KiB; refuse anything absurd
MAX_ALIASES = 100  # YAML aliases allowed per file: stops "billion laughs" expansion
MAX_NODES = 100_000  # values in the document with every alias expanded (nested aliases multiply)
MAX_COMPOSED = 20_000  # values written out in the file (a profile or NodeConfig has a few hundred)


# libyaml scans ten times faster than PyYAML's Python scanner; the composer stays PyYAML's Python one
# (below), so every node is counted as it is composed, whichever scanner feeds it.
if TYPE_CHECKING or not getattr(yaml, "__with_libyaml__", False):
    _Scanner = yaml.SafeLoader
else:
    class _Scanner(yaml.composer.Composer, yaml.CSafeLoader):
        """libyaml's scanner and parser under PyYAML's Python composer (CSafeLoader composes in C, uncounted)."""

        def __init__(self, stream: str) -> None:
            yaml.CSafeLoader.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
DEADLINE_EVERY = 2048  # nodes composed between two looks at the clock


class _PastDeadline(Exception):
    """The run's --deadline passed while the document was being composed."""


class _UniqueKeyLoader(_Scanner):
    """SafeLoader that rejects duplicate keys and bounds the document while it is composed.

    Every composed node is counted as it is made: the document stops at MAX_COMPOSED nodes (and at
    the run's --deadline, checked every DEADLINE_EVERY nodes) before the rest is even parsed, so a
    1 MiB file of 500,000 plain scalars costs what its first 20,000 cost. Each node's size also
    counts its subtree with every alias expanded (a long scalar weighs more), so ten nested levels
    of nine aliases (9**10 values from 99 aliases) stop at MAX_NODES before anything is built; an
    alias inside its own anchor (infinite expansion) is refused too.
    """

    aliases = 0

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._composed = 0
        from netcheck.safeio import deadline

        self._deadline = deadline()

    def _count(self) -> None:
        self._composed += 1
        if self._composed > MAX_COMPOSED:
            raise yaml.composer.ComposerError(None, None, f"has more than {MAX_COMPOSED} values; a profile or "
                                              "NodeConfig needs far fewer", self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        if self._deadline is not None and self._composed % DEADLINE_EVERY == 0 and time.monotonic() > self._deadline:
            raise _PastDeadline(self._composed)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._count()
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if self.aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_ALIASES} YAML aliases",
                                                  event.start_mark)
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise yaml.composer.ComposerError(None, None, f"alias *{str(event.anchor)[:40]} refers to a node "
                                                  "that contains it (endless expansion)", event.start_mark)
        node: yaml.Node | None = super().compose_node(parent, index)
        if node is not None and id(node) not in self._sizes:
            self._sizes[id(node)] = size = self._size(node)
            if size > MAX_NODES:
                how = "expands to" if self.aliases else "has"
                why = " (YAML aliases multiply)" if self.aliases else ""
                raise yaml.composer.ComposerError(None, None, f"{how} more than {MAX_NODES} values{why}; a profile "
                                                  "or NodeConfig needs far fewer", node.start_mark)
        return node

    def _size(self, node: yaml.Node) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1 + len(node.value) // 64
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(self._sizes.get(id(n), 1) for n in node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
        return 1


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        try:
            first = seen.get(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark) from None
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {first})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; every failure is a ConfigError naming the file.

    At most MAX_BYTES, from a regular file only: /dev/zero would fill memory and a FIFO would
    hang past --deadline.
    """
    from netcheck.safeio import FileProblem, read_limited

    src = str(path)
    try:
        raw = read_limited(path, MAX_BYTES, "profile or NodeConfig")
    except FileProblem as exc:
        problem = str(exc).removeprefix(f"{src}: ")
        raise ConfigError(src, "", "is a directory, not a file" if "a directory;" in problem else problem) from None
    return parse_yaml(raw, src)


def parse_yaml(raw: bytes, src: str) -> dict[str, Any]:
    """Parse the bytes of one YAML mapping; `src` names the file in every ConfigError."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(src, "", f"is {len(raw)} bytes; a profile larger than {MAX_BYTES} bytes is not plausible")
    if b"\x00" in raw:
        raise ConfigError(src, "", "is a binary file, not YAML text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(src, "", f"is not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})"
                          ) from None
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise ConfigError(src, "", "file is empty (no YAML content)")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = str(exc.problem)
        if "'\\t'" in problem or "\t" in problem or _char_at(text, mark) == "\t":
            problem = "a tab character; YAML indentation must use spaces"
        elif "maximum nesting depth" in problem:  # libyaml's own limit (PyYAML's Python parser recurses instead)
            problem = "nested too deeply"
        elif "another document" in problem:
            problem = "more than one YAML document ('---'); give one profile or NodeConfig per file"
        elif exc.context and exc.context_mark and exc.context_mark.line != (mark.line if mark else -1):
            problem += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError(src, at, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(src, "", f"invalid YAML: {_clip(str(exc))}") from None
    except RecursionError:
        raise ConfigError(src, "", "invalid YAML: nested too deeply") from None
    except _PastDeadline as exc:
        raise ConfigError(src, "", f"not read: the run's --deadline passed after {exc.args[0]} YAML values; "
                          "a profile or NodeConfig needs far fewer") from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. a timestamp like 2024-13-45
        raise ConfigError(src, "", f"invalid YAML value: {_clip(str(exc))}") from None
    if data is None:
        raise ConfigError(src, "", "file is empty (no YAML content)")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a plain string" if isinstance(data, str) else (
            f"a {type(data).__name__}")
        raise ConfigError(src, "", f"must be a YAML mapping (apiVersion, kind, spec, ...), found {kind}")
    return data


def _char_at(text: str, mark: yaml.Mark | None) -> str:
    """The character a YAML error points at (libyaml's messages do not name it)."""
    if mark is None:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    return line[mark.column] if 0 <= mark.column < len(line) else ""


def load_profile(path: Path) -> SiteProfile:
    """Read and validate a netcheck SiteProfile."""
    return profile_from_data(read_yaml(path), str(path))


def profile_from_data(data: dict[str, Any], src: str, *, context: dict[str, Any] | None = None) -> SiteProfile:
    """Validate an already-parsed SiteProfile mapping; `src` names it in errors.

    `context` {X509_LATER: False} leaves the CA's X.509 parse out (schema.check_ca) and sets it True when
    there was one to leave (settings.merge.build keeps the data for check_pending)."""
    if data.get("kind") == "NodeConfig" or data.get("apiVersion") == NODECONFIG_API:
        raise ConfigError(src, "kind", "this is a nodeadm NodeConfig; pass it with --nodeconfig, not -c")
    return validate_profile(data, src, context)


def validate_profile(data: dict[str, Any], src: str, context: dict[str, Any] | None = None) -> SiteProfile:
    """SiteProfile.model_validate with netcheck's message; with a `context` that left the X.509 parse out,
    a profile that fails anyway is validated again in full, so the message lists every problem as before."""
    try:
        return SiteProfile.model_validate(data, context=context)
    except ValidationError as exc:
        error = exc
    if context is not None:
        try:
            SiteProfile.model_validate(data)
        except ValidationError as full:
            error = full
    raise _validation_error(src, error, SiteProfile) from None


def load_nodeconfig(path: Path, *, host_root: str = "/") -> NodeConfigFile:
    """Read a nodeadm NodeConfig the way nodeadm reads it (see netcheck/settings/nodeconfig.py); files it
    names are read below `host_root` (settings.build passes NETCHECK_HOST_ROOT from its snapshot)."""
    return nodeconfig_from_data(read_yaml(path), str(path), host_root=host_root)


def nodeconfig_from_data(data: dict[str, Any], src: str, *, host_root: str = "/") -> NodeConfigFile:
    """Decode an already-parsed NodeConfig as nodeadm does; ConfigError for what nodeadm refuses.

    The NodeConfig module is imported here, not with the settings: a run with -c only never needs it."""
    from netcheck.settings.nodeconfig import load

    return load(data, src, host_root=host_root)


