"""Every line the user reads, rendered from `prompts/<lang>/<area>.yaml`.

Each file is a flat YAML mapping `key: "Jinja template"`; the full key is `<area>.<key>`
(`error.out_of_credits` lives in `prompts/en/error.yaml` and `prompts/zh/error.yaml`).
Loading reads every file once and checks it: a mapping of string keys to string values,
no duplicate key, the same keys in every language as in `en`, and (unless skipped for a
fast start) valid Jinja syntax. Templates are compiled the first time they are rendered.
Every error names the file, the key and its line.

Rendering is strict: a variable a template uses and the caller did not pass is a
ConfigError naming the key (use `x | default(...)` or `x is defined` for optional ones).
An unknown language falls back to English. Filters: `seconds`, `span`, `percent`, `quote`.

Jinja and YAML are imported when the catalogue is first loaded, not with this module:
`detect_language` and the filters need neither, and a `say` handed to a worker renders
nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill.common import resources
from skill.common.errors import ConfigError

DEFAULT_LANG = "en"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_YAML_STR = "tag:yaml.org,2002:str"

if TYPE_CHECKING:
    import jinja2


def detect_language(text: str) -> str:
    """The reply language for `text`: zh when it has a Han ideograph, else en."""
    return "zh" if _HAN.search(text) else "en"


# -- filters ------------------------------------------------------------------------------

# (seconds suffix, minutes suffix, seconds suffix after minutes) per language.
_UNITS = {"en": ("s", "m ", "s"), "zh": ("秒", "分", "秒")}
_QUOTES = {"en": ('"', '"'), "zh": ("“", "”")}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {value!r}")
    number = float(str(value).strip().rstrip("%")) if isinstance(value, str) else float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _secs(ms: Any) -> str:
    """Milliseconds as a bare number of seconds, one decimal only when needed: 2500 → "2.5"."""
    tenths = round(_number(ms) / 100)
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths / 10:.1f}"


def seconds(ms: Any, lang: str = DEFAULT_LANG) -> str:
    """3000 → "3s", 2500 → "2.5s", 65000 → "1m 05s" (zh: "3秒", "1分05秒")."""
    unit, minute, after = _UNITS.get(lang, _UNITS[DEFAULT_LANG])
    if _number(ms) < 59950:
        return _secs(ms) + unit
    m, s = divmod(round(_number(ms) / 1000), 60)
    return f"{m}{minute}{s:02d}{after}"


def span(start_ms: Any, end_ms: Any, lang: str = DEFAULT_LANG) -> str:
    """A time range: (0, 10000) → "0-10s"; past a minute both ends carry units."""
    if _number(end_ms) < 59950:
        return f"{_secs(start_ms)}-{seconds(end_ms, lang)}"
    return f"{seconds(start_ms, lang)}-{seconds(end_ms, lang)}"


def percent(value: Any) -> str:
    """A fraction (0.35) or a percentage (35) as "35%"."""
    number = _number(value)
    return f"{round(number * 100 if abs(number) <= 1 else number)}%"


def quote(text: Any, lang: str = DEFAULT_LANG) -> str:
    left, right = _QUOTES.get(lang, _QUOTES[DEFAULT_LANG])
    return f"{left}{text}{right}"


def _environment(lang: str) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.filters.update(
        seconds=functools.partial(seconds, lang=lang),
        span=functools.partial(span, lang=lang),
        percent=percent,
        quote=functools.partial(quote, lang=lang),
    )
    return env


# -- the catalogue ------------------------------------------------------------------------


class _Source:
    __slots__ = ("compiled", "file", "line", "text")

    def __init__(self, text: str, file: Path, line: int) -> None:
        self.text, self.file, self.line = text, file, line
        self.compiled: jinja2.Template | None = None


class Prompts:
    """The loaded catalogue: language → full key → template source (compiled on first use)."""

    def __init__(self, root: Path, sources: Mapping[str, Mapping[str, _Source]]) -> None:
        self.root = root
        self._sources = sources
        self._envs = {lang: _environment(lang) for lang in sources}

    @classmethod
    def load(cls, root: Path | None = None, *, check_syntax: bool = True) -> Prompts:
        """Read and check every `<root>/<lang>/<area>.yaml`; default root: the skill's prompts/.

        `check_syntax=False` skips parsing every template now (about 25 ms for the skill's
        catalogue); a syntax error then surfaces at that template's first render instead.
        """
        import jinja2

        root = resources.data_path("prompts") if root is None else root
        if not (root / DEFAULT_LANG).is_dir():
            raise ConfigError(f"{root}: no {DEFAULT_LANG}/ folder of prompts.", path=str(root))
        sources: dict[str, dict[str, _Source]] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] != "."):
            env = _environment(folder.name)
            sources[folder.name] = table = {}
            for file in sorted(folder.glob("*.yaml")):
                for key, source in _read(file).items():
                    table[f"{file.stem}.{key}"] = source
                    if check_syntax:
                        try:
                            env.parse(source.text)
                        except jinja2.TemplateSyntaxError as exc:
                            raise _syntax_error(f"{file.stem}.{key}", source, exc) from None
        _check_languages(root, sources)
        return cls(root, sources)

    def keys(self, lang: str) -> frozenset[str]:
        return frozenset(self._sources.get(lang, self._sources[DEFAULT_LANG]))

    def variables(self, key: str, lang: str) -> frozenset[str]:
        """The names template `key` reads from its context (for tests and translators)."""
        from jinja2 import meta

        lang, source = self._find(key, lang)
        return frozenset(meta.find_undeclared_variables(self._envs[lang].parse(source.text)))

    def render(self, key: str, lang: str, /, **ctx: Any) -> str:
        import jinja2

        lang, source = self._find(key, lang)
        try:
            if source.compiled is None:
                source.compiled = self._envs[lang].from_string(source.text)
            return source.compiled.render(ctx).rstrip()
        except jinja2.TemplateSyntaxError as exc:
            raise _syntax_error(key, source, exc) from None
        except jinja2.UndefinedError as exc:
            problem = f"needs a variable the caller did not pass ({exc.message})"
        except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as exc:
            problem = f"failed to render ({type(exc).__name__}: {exc})"
        raise ConfigError(
            f"{source.file}, key {key!r} (line {source.line}): the template {problem}.",
            prompt=key,
        )

    def _find(self, key: str, lang: str) -> tuple[str, _Source]:
        lang = lang if lang in self._sources else DEFAULT_LANG
        source = self._sources[lang].get(key)
        if source is None:
            area = key.partition(".")[0]
            raise ConfigError(
                f"No prompt {key!r}: add it to {self.root / lang / area}.yaml.", prompt=key
            )
        return lang, source


def _read(file: Path) -> dict[str, _Source]:
    """The file's key → template, with the line of each value; every shape error named."""
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(file.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read ({exc}).", path=str(file)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}", path=str(file)) from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{file}: must be a mapping of key: template.", path=str(file))
    table: dict[str, _Source] = {}
    for key_node, value_node in node.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        where = f"{file}, line {line}"
        if key_node.tag != _YAML_STR or not _KEY.match(key):
            raise ConfigError(
                f"{where}: key {key!r} must be a name (letters, digits, _).", path=str(file)
            )
        if key in table:
            raise ConfigError(f"{where}: key {key!r} appears twice.", path=str(file))
        if not isinstance(value_node, yaml.ScalarNode) or value_node.tag != _YAML_STR:
            raise ConfigError(
                f"{where}: the value of {key!r} must be a string (quote it).", path=str(file)
            )
        table[key] = _Source(value_node.value, file, line)
    return table


def _syntax_error(key: str, source: _Source, exc: jinja2.TemplateSyntaxError) -> ConfigError:
    return ConfigError(
        f"{source.file}, key {key!r} (line {source.line}): Jinja syntax error on line "
        f"{exc.lineno} of the template: {exc.message}",
        path=str(source.file),
        prompt=key,
    )


def _check_languages(root: Path, sources: Mapping[str, Mapping[str, _Source]]) -> None:
    reference = sources[DEFAULT_LANG]
    for lang, table in sources.items():
        for key in sorted(set(reference) ^ set(table)):
            lacking, source = (
                (lang, reference[key]) if key in reference else (DEFAULT_LANG, table[key])
            )
            area, _, name = key.partition(".")
            raise ConfigError(
                f"{root / lacking / area}.yaml: key {name!r} ({key}) is missing in language "
                f"{lacking!r}; {source.file} has it.",
                prompt=key,
            )


@functools.cache
def default() -> Prompts:
    """The skill's own catalogue, loaded once per process.

    Templates are syntax-checked as they are first rendered, keeping CLI start-up fast;
    tests/conversation/test_templates.py checks the whole catalogue.
    """
    return Prompts.load(check_syntax=False)


def render(key: str, lang: str = DEFAULT_LANG, /, **ctx: Any) -> str:
    """The line `key` in `lang` from the skill's catalogue."""
    return default().render(key, lang, **ctx)
