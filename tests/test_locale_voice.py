"""Every locale text Diana says to a user sounds like her, in Spanish and in English; staff texts are exempt. Pure."""

from __future__ import annotations

import pytest

from adapters.texts import catalog
from workflows.consistency import score_text
from workflows.voice.locale_keys import fill_placeholders, is_diana_voice

DIANA_TEXTS = [
    (key, text, lang) for lang in ("es", "en") for key, text in sorted(catalog(lang).items()) if is_diana_voice(key)
]


def test_staff_texts_are_exempt_and_user_texts_are_hers() -> None:
    assert not is_diana_voice("admin.panel.title")
    assert not is_diana_voice("admin.broadcast.usage")
    for key in ("onboarding.1", "mood.curious", "menu.greeting.welcome", "story.locked.vip", "notice.level_up",
                "notify.reminder", "vip.menu.none", "notice.vip.welcome", "reject.StaleScreen", "help",
                "settings.menu"):  # fmt: skip
        assert is_diana_voice(key), key
    assert len(DIANA_TEXTS) >= 200


def test_placeholders_get_plausible_values_and_html_is_stripped() -> None:
    filled = fill_placeholders("<b>{name}</b>, tienes {balance} besitos · {title}", "es")
    assert "{" not in filled and "<" not in filled
    assert filled.startswith("Lucía, tienes 3 besitos")


@pytest.mark.parametrize(("key", "text", "lang"), DIANA_TEXTS, ids=lambda value: str(value)[:40])
def test_every_diana_locale_text_sounds_like_her(key: str, text: str, lang: str) -> None:
    score = score_text(fill_placeholders(text, lang), lang)
    assert score.passed, f"{lang} {key}:\n{score.explain()}"
