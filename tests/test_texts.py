"""What users read: both locales complete, every screen the rules can produce has its text."""

from __future__ import annotations

import json

from bot.callbacks import JourneyCB
from bot.texts import LOCALES_DIR, render, t
from workflows import rules
from workflows.contracts import Button, Notice, Screen


def catalog(language: str) -> dict[str, str]:
    return json.loads((LOCALES_DIR / f"{language}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_spanish_and_english_have_the_same_keys() -> None:
    assert catalog("es").keys() == catalog("en").keys()


def test_every_key_the_rules_use_exists() -> None:
    keys = {f"onboarding.{i}" for i in range(1, rules.ONBOARDING_SCREENS + 1)}
    keys |= {label for _, label in rules.MENU_ENTRIES} | {f"coming_soon.{a}" for a in rules.COMING_SOON}
    keys |= {"menu.greeting", "menu.greeting.welcome", "menu.greeting.again", "menu.back", "besitos.summary",
             "conversation.free_text", "notice.besitos", "notice.level_up", "notice.achievement",
             f"achievement.{rules.FIRST_STEPS}", "onboarding.next", "onboarding.finish"}  # fmt: skip
    assert keys <= catalog("es").keys()


def test_render_escapes_user_text_and_translates_notices() -> None:
    screen = Screen(
        key="menu.greeting",
        params={"name": "<b>Eve</b> & co"},
        notices=[Notice(key="notice.achievement", params={"achievement_key": "achievement.first_steps"})],
        buttons=[[Button(label="menu.besitos", action="besitos")]],
        seq=12,
    )
    text, markup = render(screen, "es")
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in text
    assert text.startswith("🏆 Logro desbloqueado: <b>Primeros Pasos</b>")
    assert markup is not None
    button = markup.inline_keyboard[0][0]
    assert button.text == "🌟 Mis Besitos"
    assert JourneyCB.unpack(button.callback_data or "") == JourneyCB(action="besitos", screen=12)


def test_english_and_unknown_languages() -> None:
    assert t("menu.vip", "en") == "💎 VIP"
    assert t("menu.besitos", "en") == "🌟 My Besitos"
    assert t("menu.besitos", "de") == "🌟 Mis Besitos", "unknown languages fall back to Spanish"


def test_callback_data_fits_telegrams_64_bytes() -> None:
    longest = max((action for action in rules.ACTIONS), key=len)
    assert len(JourneyCB(action=longest, screen=2**31).pack().encode()) <= 64
