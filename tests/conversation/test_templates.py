"""The prompt catalogue: loading checks, rendering, filters, language detection, and the
real prompts/ folder (every key in both languages, every template renders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skill.common import errors, resources
from skill.common.errors import ConfigError
from skill.conversation import templates
from skill.conversation.templates import Prompts, detect_language

GOOD = {"en/a.yaml": 'hi: "Hello {{ name }}"\n', "zh/a.yaml": 'hi: "你好 {{ name }}"\n'}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"en/a.yaml": "hi: [unclosed\n"}, ["en/a.yaml", "not valid YAML"], id="yaml"),
        pytest.param({"en/a.yaml": "- hi\n- there\n"}, ["en/a.yaml", "mapping"], id="list"),
        pytest.param({"en/a.yaml": "hi: 3\n"}, ["en/a.yaml", "line 1", "'hi'", "string"], id="int"),
        pytest.param(
            {"en/a.yaml": "hi:\n  nested: x\n"}, ["en/a.yaml", "'hi'", "string"], id="nested"
        ),
        pytest.param(
            {"en/a.yaml": 'hi: "a"\nhi: "b"\n'}, ["en/a.yaml", "line 2", "twice"], id="duplicate"
        ),
        pytest.param({"en/a.yaml": '3: "a"\n'}, ["en/a.yaml", "'3'", "name"], id="key"),
        pytest.param(
            {"en/a.yaml": 'ok: "fine"\nhi: >-\n  Hello\n  {{ name \n'},
            ["en/a.yaml", "'a.hi'", "line 2", "Jinja syntax error"],
            id="jinja",
        ),
        pytest.param(
            {"en/a.yaml": 'hi: "{% if x %}open"\n'},
            ["en/a.yaml", "'a.hi'", "line 1", "Jinja syntax error"],
            id="jinja-block",
        ),
        pytest.param(
            {**GOOD, "en/a.yaml": 'hi: "Hello"\nbye: "Bye"\n'},
            ["zh/a.yaml", "'bye'", "a.bye", "'zh'", "en/a.yaml"],
            id="missing-zh",
        ),
        pytest.param(
            {**GOOD, "zh/b.yaml": 'extra: "多"\n'},
            ["en/b.yaml", "'extra'", "'en'", "zh/b.yaml"],
            id="missing-en",
        ),
        pytest.param({"zh/a.yaml": 'hi: "你好"\n'}, ["no en/ folder"], id="no-en"),
    ],
)
def test_load_rejects_bad_catalogues(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        Prompts.load(write(tmp_path, files))
    for part in expected:
        assert part in str(info.value)


def test_render_languages_and_fallback(tmp_path: Path) -> None:
    prompts = Prompts.load(write(tmp_path, {**GOOD, "en/b.yaml": 'x: "X"', "zh/b.yaml": 'x: "叉"'}))
    assert prompts.render("a.hi", "en", name="Ann") == "Hello Ann"
    assert prompts.render("a.hi", "zh", name="安") == "你好 安"
    assert prompts.render("a.hi", "fr", name="Ann") == "Hello Ann"  # unknown language → en
    assert prompts.keys("en") == {"a.hi", "b.x"}
    assert prompts.variables("a.hi", "zh") == {"name"}
    assert prompts.keys("fr") == prompts.keys("en")


def test_render_strips_trailing_whitespace(tmp_path: Path) -> None:
    prompts = Prompts.load(write(tmp_path, {"en/b.yaml": "x: |\n  two\n  lines\n\n"}))
    assert prompts.render("b.x", "en") == "two\nlines"
    assert prompts.variables("b.x", "en") == frozenset()


@pytest.mark.parametrize(
    ("key", "ctx", "expected"),
    [
        ("a.nope", {}, ["'a.nope'", "a.yaml"]),
        ("a.hi", {}, ["'a.hi'", "en/a.yaml", "name"]),
    ],
)
def test_render_errors_name_the_key(
    tmp_path: Path, key: str, ctx: dict[str, Any], expected: list[str]
) -> None:
    prompts = Prompts.load(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as info:
        prompts.render(key, "en", **ctx)
    for part in expected:
        assert part in str(info.value)


def test_unchecked_syntax_error_surfaces_at_first_render(tmp_path: Path) -> None:
    prompts = Prompts.load(write(tmp_path, {"en/a.yaml": 'hi: "{{ x"\n'}), check_syntax=False)
    with pytest.raises(ConfigError, match=r"a\.yaml, key 'a\.hi' \(line 1\): Jinja syntax error"):
        prompts.render("a.hi", "en", x=1)


@pytest.mark.parametrize(
    ("template", "lang", "expected"),
    [
        ("{{ 3000 | seconds }}", "en", "3s"),
        ("{{ 2500 | seconds }}", "en", "2.5s"),
        ("{{ 0 | seconds }}", "en", "0s"),
        ("{{ 65000 | seconds }}", "en", "1m 05s"),
        ("{{ 120000 | seconds }}", "en", "2m 00s"),
        ("{{ 59990 | seconds }}", "en", "1m 00s"),
        ("{{ 3000 | seconds }}", "zh", "3秒"),
        ("{{ 65000 | seconds }}", "zh", "1分05秒"),
        ("{{ 0 | span(10000) }}", "en", "0-10s"),
        ("{{ 500 | span(2500) }}", "en", "0.5-2.5s"),
        ("{{ 30000 | span(65000) }}", "en", "30s-1m 05s"),
        ("{{ 0 | span(3000) }}", "zh", "0-3秒"),
        ("{{ 0.35 | percent }}", "en", "35%"),
        ("{{ 35 | percent }}", "en", "35%"),
        ("{{ 1 | percent }}", "en", "100%"),
        ("{{ '35' | percent }}", "en", "35%"),
        ("{{ 'Urban Dreams' | quote }}", "en", '"Urban Dreams"'),
        ("{{ 'Urban Dreams' | quote }}", "zh", "“Urban Dreams”"),
    ],
)
def test_filters(tmp_path: Path, template: str, lang: str, expected: str) -> None:
    files = {"en/f.yaml": f"t: {template!r}\n", "zh/f.yaml": f"t: {template!r}\n"}
    assert Prompts.load(write(tmp_path, files)).render("f.t", lang) == expected


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("export", "en"),
        ("make a 15-second video", "en"),
        ("", "en"),
        ("導出", "zh"),
        ("导出", "zh"),
        ("把 BGM 音量调到 30%", "zh"),
        ("add the title 天堂", "zh"),
        ("こんにちは", "en"),  # kana only: no Han ideograph
        ("한국어", "en"),
        ("𠀀", "zh"),  # CJK extension B
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


# -- the real catalogue -----------------------------------------------------------------------


class Sample(int):
    """A value standing in for any template variable: a number, text, an object with any
    attribute, a list or mapping of itself."""

    def __new__(cls) -> Sample:
        return super().__new__(cls, 7)

    def __getattr__(self, name: str) -> Sample:
        if name.startswith("_"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: object) -> Sample:
        return self

    def __iter__(self) -> Any:
        return iter([self])

    def __call__(self, *args: object, **kwargs: object) -> Sample:
        return self


@pytest.fixture(scope="module")
def catalogue() -> Prompts:
    return Prompts.load(resources.data_path("prompts"))


def test_every_key_in_both_languages(catalogue: Prompts) -> None:
    assert catalogue.keys("en") == catalogue.keys("zh")


def test_every_template_renders(catalogue: Prompts) -> None:
    failures = []
    for lang in ("en", "zh"):
        for key in sorted(catalogue.keys(lang)):
            names = catalogue.variables(key, lang)
            try:
                line = catalogue.render(key, lang, **dict.fromkeys(names, Sample()))
            except ConfigError as exc:
                failures.append(str(exc))
                continue
            if not line.strip():
                failures.append(f"{lang} {key}: renders empty")
    assert failures == []


def subclasses(cls: type[errors.NemoError]) -> set[type[errors.NemoError]]:
    return {cls}.union(*(subclasses(sub) for sub in cls.__subclasses__()))


def test_every_error_class_has_a_message(catalogue: Prompts) -> None:
    keys = {cls.key for cls in subclasses(errors.NemoError)}
    assert len(keys) > 20
    for lang in ("en", "zh"):
        assert keys - catalogue.keys(lang) == set()


def test_out_of_credits_carries_the_registration_link() -> None:
    url = "https://nemovideo.com/register?bind=1b2c"
    for lang in ("en", "zh"):
        assert url in templates.render("error.out_of_credits", lang, register_url=url)
    with pytest.raises(ConfigError, match="register_url"):
        templates.render("error.out_of_credits", "en")
