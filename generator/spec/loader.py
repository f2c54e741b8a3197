"""Read a spec file: YAML with positions -> validated :class:`Spec`, or one :class:`SpecError` with
every problem located at file:line:column.

Bounded throughout: :mod:`.reading` limits the file (size, encoding, nesting); turning the YAML into plain
data stops at :data:`MAX_VALUES` values, so aliases cannot expand a small file into a huge one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

from ..errors import Issue, SpecError, SpecSyntaxError
from .checks import run_checks
from .fields import REGION_PATTERN, SAGEMAKER_NAME_PATTERN, SLUG_PATTERN
from .findings import BrokenSection, Finding
from .models import Dataset, Spec
from .reading import MAX_DEPTH, parse_yaml, read_spec_file

# The most values (mapping keys, values, list items) a spec may hold once its aliases are expanded. The
# example specs hold about 200; nine levels of ten aliases each would make a billion.
MAX_VALUES = 100_000
# The largest integer a spec may hold, in bits: far above any count or seed (AWS's largest are 64-bit),
# far below what Python can no longer print (4300 decimal digits; a 0x... literal reaches it unchecked).
MAX_INT_BITS = 1024
# The one explicit tag a spec may carry (`!!str 5`): it only says how to read a scalar.
ALLOWED_TAGS = frozenset({"tag:yaml.org,2002:str"})
# A "\ud800"-style escape: half of a UTF-16 surrogate pair, no character, which no UTF-8 file can hold
# (YAML parsers do not join an escaped pair as JSON does: _Plain._text does).
_SURROGATE = re.compile("[\ud800-\udfff]")

# A check of the spec against something outside it (the local dataset): it gets the spec, valid or
# partial (see _partial_spec), and the folder relative paths start at. Runs when ``spec.dataset`` is valid.
DataCheck = Callable[[Spec, Path], list[Finding]]


@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec, where it came from, and the warnings it raised."""

    spec: Spec
    path: Path | None
    text: str
    warnings: tuple[Issue, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def _position(root: Any, loc: tuple[str | int, ...]) -> tuple[int | None, int | None]:
    """The 1-based line/column of the deepest node of ``loc`` that exists in the YAML tree.

    Pydantic locations may contain discriminator tags (``model.blazingtext.epochs``) or validator
    names that are not keys in the document; such segments are skipped.
    """
    node = root
    line = col = None
    if isinstance(root, CommentedMap | CommentedSeq) and root.lc.line is not None:
        line, col = root.lc.line + 1, root.lc.col + 1
    for segment in loc:
        if isinstance(node, CommentedMap):
            key = _find_key(node, segment)
            if key is _MISSING:
                continue
            kline, kcol = node.lc.key(key)
            line, col = kline + 1, kcol + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(segment, int) and 0 <= segment < len(node):
            iline, icol = node.lc.item(segment)
            line, col = iline + 1, icol + 1
            node = node[segment]
        elif isinstance(node, CommentedSeq) and isinstance(segment, str) and segment.isdigit():
            index = int(segment)
            if index < len(node):
                iline, icol = node.lc.item(index)
                line, col = iline + 1, icol + 1
                node = node[index]
        # scalars and unknown segments: keep the last position found
    return line, col


_MISSING = object()


def _find_key(mapping: CommentedMap, segment: str | int) -> Any:
    if segment in mapping:
        return segment
    # Mapping keys that YAML typed as numbers appear in pydantic locations as strings.
    for key in mapping:
        if str(key) == str(segment):
            return key
    return _MISSING


# Regex patterns of the models, said in words.
PATTERN_HINTS = {
    SLUG_PATTERN: "must be 2-32 characters: lower-case letters, digits and '-', starting with a letter",
    SAGEMAKER_NAME_PATTERN: "must be 1-63 letters, digits or '-', starting and ending with a letter or digit",
    REGION_PATTERN: "must be an AWS region such as 'us-east-1'",
}


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    msg = error["msg"]
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        hint = PATTERN_HINTS.get(pattern, f"must match {pattern}")
        return f"{hint}, got {error.get('input')!r}"
    if error["loc"] and error["loc"][-1] == "[key]":
        return "unknown key: " + msg.replace("Input should be", "must be")
    if kind == "extra_forbidden":
        return "unknown field (not allowed here)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return msg.replace("Input should be", "must be")
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        return f"unknown type {ctx.get('tag')!r}; must be one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "required field is missing (it selects the kind of model)"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg.replace("Input should", "must").replace("String should", "must")


class _Plain:
    """ruamel's round-trip data -> plain dicts/lists (so pydantic sees ordinary data), bounded and checked
    once for every field: at most :data:`MAX_VALUES` values and :data:`MAX_DEPTH` levels once aliases
    are expanded (else :class:`SpecSyntaxError`); explicit tags and non-finite numbers become issues."""

    def __init__(self, root: Any, file: Path | None) -> None:
        self.root = root
        self.file = file
        self.count = 0
        self.issues: list[Issue] = []

    def _located(self, loc: tuple[Any, ...]) -> tuple[str, str]:
        line, col = _position(self.root, loc)
        where = str(self.file or "<spec>") + (f":{line}:{col}" if line is not None else "")
        return where, ".".join(str(p) for p in loc) or "<root>"

    def _issue(self, loc: tuple[Any, ...], message: str) -> None:
        line, col = _position(self.root, loc)
        dotted = ".".join(_SURROGATE.sub("\ufffd", str(p)) for p in loc)
        self.issues.append(Issue(dotted, message, self.file, line, col))

    def _text(self, node: str, loc: tuple[Any, ...], what: str) -> str:
        """``node`` with each escaped surrogate pair ("\\ud83d\\ude00", as JSON writes what lies beyond
        U+FFFF) made the character it encodes; a lone surrogate left is an issue, and U+FFFD takes its
        place (so that no message or file downstream meets a character UTF-8 cannot encode)."""
        if _SURROGATE.search(node) is None:
            return node
        node = str(node).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        found = _SURROGATE.search(node)
        if found is None:
            return node
        self._issue(
            loc,
            f"{what} holds the escape \\u{ord(found.group()):04x}, half of a UTF-16 surrogate pair, which "
            "is no character: write the character itself, or its \\U00XXXXXX escape",
        )
        return _SURROGATE.sub("\ufffd", str(node))

    def convert(self, node: Any, loc: tuple[Any, ...] = (), key_at: tuple[Any, ...] | None = None) -> Any:
        """``node`` as plain data; ``key_at``: where ``node`` is a mapping's key, the key's own place."""
        self.count += 1
        if self.count > MAX_VALUES:
            where, field = self._located(loc)
            raise SpecSyntaxError(
                f"{where}: {field}: the spec expands to more than {MAX_VALUES:,} values (YAML aliases "
                "repeat what their anchor names); refused"
            )
        if len(loc) > MAX_DEPTH:
            where, field = self._located(loc)
            raise SpecSyntaxError(
                f"{where}: {field}: nested deeper than {MAX_DEPTH} levels (through YAML aliases)"
            )
        tag = _explicit_tag(node)
        if tag is not None and tag not in ALLOWED_TAGS:
            self._issue(loc, f"unknown tag {tag!r}: a spec is plain YAML, without tags")
        if isinstance(node, dict):
            plain = {}
            for key, value in node.items():
                plain[self.convert(key, loc, key_at=(*loc, key))] = self.convert(value, (*loc, key))
            return plain
        if isinstance(node, list):
            return [self.convert(v, (*loc, i)) for i, v in enumerate(node)]
        if isinstance(node, AbstractSet | bytes):
            kind = "a set (!!set)" if isinstance(node, AbstractSet) else "binary data (!!binary)"
            self._issue(loc, f"{kind} is not allowed: a spec is plain YAML, without tags")
            return None
        if isinstance(node, int) and not isinstance(node, bool) and node.bit_length() > MAX_INT_BITS:
            self._issue(loc, f"a number of {node.bit_length():,} bits; a spec needs far fewer")
            return 0  # what validation would say about it is noise, and str() of it would fail
        if isinstance(node, float) and not math.isfinite(node):
            self._issue(loc, f"must be a finite number, got {node}")
            return float(node)
        if isinstance(node, TaggedScalar):
            return node.value
        if type(node).__module__.startswith("ruamel"):
            for base in (bool, int, float, str):
                if isinstance(node, base):
                    node = base(node)
                    break
        if not isinstance(node, str):
            return node
        return self._text(node, loc, "the value") if key_at is None else self._text(node, key_at, "the key")


def _explicit_tag(node: Any) -> str | None:
    """The tag written on a node (``!foo``); None for untagged ones, whose type YAML resolves itself."""
    tag = getattr(node, "tag", None) if type(node).__module__.startswith("ruamel") else None
    value = getattr(tag, "value", tag)
    return value if isinstance(value, str) else None


def _below(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent + ".")


def validate_data(
    data: Any, path: Path | None = None, text: str = "", *, data_check: DataCheck | None = None
) -> LoadedSpec:
    """Validate parsed YAML (ruamel round-trip data keeps positions for messages).

    ``data_check`` runs when the dataset section is valid, even if other sections are not, and its
    findings join the same report.
    """
    if not isinstance(data, dict):
        raise SpecSyntaxError(f"{path or '<spec>'}: a spec is a YAML mapping with spec_version, project, ...")
    issues: list[Issue] = []
    converter = _Plain(data, path)
    plain = converter.convert(data)
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(plain)
    except ValidationError as exc:
        broken: set[str] = set()
        for error in exc.errors(include_url=False):
            loc = tuple(p for p in error["loc"] if p != "[key]")
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc += (error["ctx"]["discriminator"].strip("'"),)
            line, col = _position(data, loc)
            dotted = ".".join(str(p) for p in _document_path(data, loc))
            issues.append(Issue(dotted, _describe(error), path, line, col))
            if loc and loc[0] in Spec.model_fields:
                broken.add(str(loc[0]))
        checked = _partial_spec(plain, broken)
    else:
        checked = spec
    # Cross-field checks run even when structural errors were found, so one report lists both.
    findings = run_checks(checked)
    if data_check is not None and isinstance(getattr(checked, "dataset", None), Dataset):
        findings += data_check(checked, path.parent if path else Path.cwd())
    for dotted, message, severity in findings:
        line, col = _position(data, tuple(int(p) if p.isdigit() else p for p in dotted.split(".")))
        issues.append(Issue(dotted, message, path, line, col, severity))
    if converter.issues:
        # A tagged or non-finite value is reported as such; what validation said about it is noise.
        issues = [i for i in issues if not any(_below(i.path, r.path) for r in converter.issues)]
        issues += converter.issues
    if any(i.severity == "error" for i in issues) or spec is None:
        raise SpecError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)), path)
    return LoadedSpec(spec, path, text, tuple(issues))


@cache
def _section_adapter(name: str) -> TypeAdapter[Any]:
    """Validates one top-level section of a spec on its own (with its field's constraints)."""
    field = Spec.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, field])


def _partial_spec(plain: dict[str, Any], broken: set[str]) -> Spec:
    """The spec's valid top-level sections, with a :class:`BrokenSection` for each one that is not.

    Not a valid Spec (nothing validates it as a whole): only for the cross-field checks, which skip what
    they cannot read.
    """
    values: dict[str, Any] = {}
    for name in Spec.model_fields:
        if name in broken:
            values[name] = BrokenSection(name)
        elif name in plain:
            try:
                values[name] = _section_adapter(name).validate_python(plain[name])
            except ValidationError:
                values[name] = BrokenSection(name)
    return Spec.model_construct(**values)


def _document_path(root: Any, loc: tuple[str | int, ...]) -> list[str | int]:
    """``loc`` without the segments that are not in the document (discriminator tags, validators)."""
    node = root
    out: list[str | int] = []
    for i, segment in enumerate(loc):
        if isinstance(node, dict):
            key = _find_key(node, segment) if isinstance(node, CommentedMap) else segment
            if key is _MISSING or key not in node:
                # A missing or extra field: keep the final segment, skip a tag in the middle.
                if i == len(loc) - 1 or not _is_tag(node, segment):
                    out.append(segment)
                    node = None
                continue
            out.append(segment)
            node = node[key]
        elif isinstance(node, list) and isinstance(segment, int):
            out.append(segment)
            node = node[segment] if segment < len(node) else None
        else:
            out.append(segment)
            node = None
    return out


def _is_tag(node: dict, segment: str | int) -> bool:
    return node.get("type") == segment


def locate(loaded: LoadedSpec, dotted: str) -> tuple[int | None, int | None]:
    """The position of a dotted field path in the spec's text."""
    loc = tuple(int(p) if p.isdigit() else p for p in dotted.split("."))
    return _position(parse_yaml(loaded.text, loaded.path), loc)


def load_spec(path: str | Path, *, data_check: DataCheck | None = None) -> LoadedSpec:
    """Read and validate a spec file. Raises :class:`SpecSyntaxError` or :class:`SpecError`."""
    path = Path(path)
    text = read_spec_file(path)
    return validate_data(parse_yaml(text, path), path, text, data_check=data_check)


def load_spec_text(text: str, path: Path | None = None) -> LoadedSpec:
    return validate_data(parse_yaml(text, path), path, text)
