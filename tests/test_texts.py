"""What users read: both locales complete, every screen the rules can produce has its text."""

from __future__ import annotations

from adapters.callbacks import JourneyCB
from adapters.texts import catalog, render, t
from tests.helpers import shipped_content
from workflows import moods, rules, story, subscription
from workflows.contracts import Button, JourneyError, Notice, Screen


def test_spanish_and_english_have_the_same_keys() -> None:
    assert catalog("es").keys() == catalog("en").keys()


def test_every_key_the_rules_use_exists() -> None:
    keys = {f"onboarding.{i}" for i in range(1, rules.ONBOARDING_SCREENS + 1)}
    keys |= set(rules.MENU_LABELS.values()) | {f"mood.{mood}" for mood in moods.MENU_ORDER}
    keys |= {f"story.locked.{reason}" for reason in ("vip", "level", "besitos", "relationship", "flags")}
    keys |= {f"settings.{key}" for key in ("menu", "on", "off", "notifications.on", "notifications.off", "language.es",
                                          "language.en", "export", "export.sent", "erase", "erase.ask",
                                          "erase.confirm", "erase.cancel", "erased")}  # fmt: skip
    keys |= {f"toast.reaction.{key}" for key in ("rewarded", "again", "capped", "not_started")}
    keys |= {"menu.greeting.welcome", "menu.back", "menu.open", "besitos.summary", "conversation.free_text",
             "notice.besitos", "notice.level_up", "notice.achievement", "notice.mission", "notice.streak",
             "notice.ending", "onboarding.next", "onboarding.finish", "story.fragment", "story.ending",
             "story.continue", "story.restart", "story.back", "missions.list", "achievements.list",
             "notify.progress", "notify.reminder", "export.caption"}  # fmt: skip
    keys |= {f"reject.{value}" for name, value in vars(JourneyError).items() if name.isupper()}
    statuses = ("none", "active", "grace", "expired", "refunded")
    passes = ("yours_already", "unknown", "used", "expired", "plan_gone")
    keys |= {f"vip.menu.{status}" for status in statuses} | {f"vip.pass.{key}" for key in passes}
    keys |= {f"notice.vip.pass.{key}" for key in passes} | {"notice.vip.welcome", "notice.vip.renewed"}
    keys |= {f"notify.vip.{key}" for key in ("reminder", "grace", "expired", "refunded")}
    keys |= {"vip.buy", "vip.invoice_sent", "vip.welcome", "vip.renewed", "vip.channel.invite", "vip.channel.button",
             "vip.join.approved", "vip.join.declined", "paysupport"}  # fmt: skip
    assert keys <= catalog("es").keys()


def test_every_screen_the_rules_build_renders_in_both_languages() -> None:
    """Play a whole journey through the rules and render every screen it shows."""
    from tests.test_rules import onboarded, play

    state = onboarded()
    screens = [state.screen]
    for action in ("story", "pick.c01_follow", story.NEXT, "menu", "missions", "achievements", "besitos", "vip",
                   "buy.mensual", "settings", "export", "settings", "erase"):  # fmt: skip
        state = play(state, action)
        screens.append(state.screen)
    for screen in screens:
        assert screen is not None
        for language in ("es", "en"):
            text, _ = render(screen, language)
            assert text and "{" not in text


def test_render_escapes_user_text_and_translates_notices() -> None:
    screen = Screen(
        key="mood.curious",
        params={"name": "<b>Eve</b> & co"},
        notices=[Notice(key="notice.achievement", params={"title": "Primeros Pasos"})],
        buttons=[[Button(label="menu.besitos", action="besitos")], [Button(label="", action="pick.x", text="<i>")]],
        seq=12,
    )
    text, markup = render(screen, "es")
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in text
    assert text.startswith("🏆 Logro desbloqueado: <b>Primeros Pasos</b>")
    assert markup is not None
    button = markup.inline_keyboard[0][0]
    assert button.text == "🌟 Mis Besitos"
    assert JourneyCB.unpack(button.callback_data or "") == JourneyCB(action="besitos", screen=12)
    assert markup.inline_keyboard[1][0].text == "<i>", "content labels are shown as written (buttons are not HTML)"


def test_english_and_unknown_languages() -> None:
    assert t("menu.vip", "en") == "💎 VIP"
    assert t("menu.besitos", "en") == "🌟 My Besitos"
    assert t("menu.besitos", "de") == "🌟 Mis Besitos", "unknown languages fall back to Spanish"


def test_callback_data_fits_telegrams_64_bytes() -> None:
    choices = [f"{story.PICK}{c.id}" for f in shipped_content().story.fragments for c in f.choices]
    choices += [f"{subscription.BUY}{'x' * 24}"]
    longest = max((*rules.ACTIONS, *choices, f"{story.PICK}{'x' * 24}"), key=len)
    assert len(JourneyCB(action=longest, screen=2**31).pack().encode()) <= 64
