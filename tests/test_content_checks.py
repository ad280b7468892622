"""Bad content is refused before it reaches anyone: time zones, screens too long for Telegram, flags nobody sets, stories
too branchy to check, media Telegram would refuse, YAML aliases, and checks run in a child process with time and memory limits. Pure (no servers)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from pydantic import ValidationError

from adapters.content_checker import check_content
from adapters.content_render import render_problems
from adapters.content_store import MAX_CONTENT_BYTES, ContentRefused, parse_content
from adapters.media_library import SHIPPED_MEDIA, media_file_problems
from adapters.texts import render, visible_length
from workflows.content import MAX_STORY_POINTS, Calendar, Content, content_problems
from workflows.contracts import MAX_TEXT_LENGTH, Notice, Screen

SHIPPED_TEXT = (Path(__file__).resolve().parents[1] / "content" / "diana.yaml").read_text(encoding="utf-8")
SHIPPED: dict[str, Any] = yaml.safe_load(SHIPPED_TEXT)
CAP = f"more than {MAX_STORY_POINTS:,} combinations of flags and relationship"


def shipped() -> dict[str, Any]:
    return copy.deepcopy(SHIPPED)


def fragment(document: dict[str, Any], fragment_id: str) -> dict[str, Any]:
    return next(f for f in document["story"]["fragments"] if f["id"] == fragment_id)


def as_text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


def refused(text: str) -> list[str]:
    with pytest.raises(ContentRefused) as caught:
        parse_content(text)
    return caught.value.problems


def long_fragment() -> dict[str, Any]:
    """The shipped content with f02's text seven times f01's: Diana's own words, well past 4,096 characters."""
    document = shipped()
    f01 = fragment(document, "f01")["text"]
    fragment(document, "f02")["text"] = {lang: "\n\n".join([f01[lang].strip()] * 7) for lang in ("es", "en")}
    return document


def branchy(length: int = 40, read: str = "all") -> dict[str, Any]:
    """A chain of ``length`` fragments, each with two choices setting a flag of their own (2^length ways through), and
    a last fragment whose first choice requires every "a" flag (``read="all"``), one of them (``"one"``) or none."""
    document = shipped()
    line = fragment(document, "f16")["teaser"]  # short texts: the checks of Diana's voice stay quick
    labels = [choice["label"] for choice in fragment(document, "f01")["choices"]]
    chain = [{"id": f"b{i:02d}", "chapter": 1, "title": labels[0], "text": line,
              "choices": [{"id": f"b{i:02d}_a", "label": labels[0], "next": f"b{i + 1:02d}", "set_flags": [f"a{i:02d}"]},
                          {"id": f"b{i:02d}_z", "label": labels[1], "next": f"b{i + 1:02d}", "set_flags": [f"z{i:02d}"]}]}
             for i in range(length)]  # fmt: skip
    needs = {"all": [f"a{i:02d}" for i in range(length)], "one": ["a00"], "none": []}[read]
    first = {"id": "b_end_a", "label": labels[0], "next": "b_dawn"}
    last = {"id": f"b{length:02d}", "chapter": 2, "title": labels[1], "text": line,
            "choices": [{**first, "requires": {"flags_all": needs}} if needs else first,
                        {"id": "b_end_z", "label": labels[1], "next": "b_night"}]}  # fmt: skip
    endings = [{"id": f"b_{name}", "chapter": 2, "title": fragment(document, source)["title"], "text": line,
                "ending": name} for name, source in (("dawn", "f12"), ("night", "f14"))]  # fmt: skip
    document["story"] = {"start": "b00", "fragments": [*chain, last, *endings]}
    document["vip"]["story_return"] = "b00"
    # Story unlocks in the shop name the shipped story's fragments: they go with it.
    document["shop"]["items"] = [item for item in document["shop"]["items"] if item["gives"]["kind"] != "story"]
    return document


# 1. Time zones


@pytest.mark.parametrize("zone", ["Mars/Olympus", "America/Mexico_Cty", "", " ", "America", "../etc/localtime",
                                  "/etc/localtime", "America/Mexico_City ", "zone.tab"])  # fmt: skip
def test_a_time_zone_that_does_not_exist_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Calendar(timezone=zone)
    document = shipped()
    document["calendar"]["timezone"] = zone
    assert any(p.startswith("calendar.timezone:") and "time zone" in p for p in refused(as_text(document)))


def test_real_time_zones_still_load() -> None:
    for zone in ("America/Mexico_City", "Europe/Madrid", "UTC", "Etc/GMT+5"):
        assert Calendar(timezone=zone).timezone == zone


# 2. Screens within Telegram's limits


def test_visible_length_is_what_the_reader_sees() -> None:
    assert visible_length("<b>Diana</b> &amp; tú") == len("Diana & tú")
    assert visible_length("💋 <i>x</i>") == 4, "an emoji outside the BMP counts twice, as Telegram counts"
    assert visible_length("&lt;b&gt;") == 3


def test_the_shipped_content_fits_every_screen() -> None:
    assert render_problems(Content.model_validate(SHIPPED)) == []


def test_a_fragment_too_long_for_telegram_is_refused_saying_where_and_by_how_much() -> None:
    content = Content.model_validate(long_fragment())
    problems = render_problems(content)
    assert [p.split(":")[0] for p in problems] == ["fragment f02 (es)", "fragment f02 (en)"]
    assert "characters once formatted; Telegram's limit is 4,096" in problems[0]
    length = int(problems[0].split("the screen is ")[1].split(" characters")[0].replace(",", ""))
    assert length > MAX_TEXT_LENGTH
    assert any(p.startswith("fragment f02 (es): the screen is") for p in refused(as_text(long_fragment())))


def test_a_goal_list_too_long_is_refused() -> None:
    document = shipped()
    mission = document["missions"][0]
    mission["description"] = {lang: " ".join([mission["description"][lang]] * 200) for lang in ("es", "en")}
    problems = render_problems(Content.model_validate(document))
    assert [p.split(":")[0] for p in problems] == ["the missions list (es)", "the missions list (en)"]


def test_a_teaser_too_long_is_refused_on_its_locked_screen() -> None:
    document = shipped()
    f01 = fragment(document, "f01")["text"]
    fragment(document, "f15")["teaser"] = {lang: "\n\n".join([f01[lang].strip()] * 6) for lang in ("es", "en")}
    problems = render_problems(Content.model_validate(document))
    assert "the locked screen of fragment f15 (vip) (es)" in [p.split(":")[0] for p in problems]


def test_a_plan_name_too_long_is_refused_on_the_vip_screens() -> None:
    document = shipped()
    document["vip"]["plans"][0]["name"] = {lang: "VIP " * 1100 for lang in ("es", "en")}
    wheres = {p.split(":")[0] for p in render_problems(Content.model_validate(document))}
    assert {"the VIP menu (active) with plan mensual (es)", "the VIP welcome screen of plan mensual (en)",
            "the invoice screen of plan mensual (es)"} <= wheres  # fmt: skip


def test_render_drops_notices_that_do_not_fit_never_the_body() -> None:
    body = "\n\n".join([fragment(SHIPPED, "f01")["text"]["es"].strip()] * 5)  # about 3,900 characters
    screen = Screen(key="story.fragment", params={"title": "La invitación", "body": body, "chapter": 1,
                                                  "relationship": 3},
                    notices=[Notice(key="notice.besitos", params={"amount": n}) for n in range(1, 41)])  # fmt: skip
    for language in ("es", "en"):
        text, _ = render(screen, language)
        assert visible_length(text) <= MAX_TEXT_LENGTH
        alone, _ = render(screen.model_copy(update={"notices": []}), language)
        assert text.endswith(alone), "the body is whole, after the notices"
        shown = text.removesuffix(alone).strip().splitlines()
        assert shown[0] == "✨ +1 besitos", "the first notices stay, in order"
        hidden = 40 - (len(shown) - 1)
        assert shown[-1].startswith("…") and str(hidden) in shown[-1]
    few, _ = render(screen.model_copy(update={"notices": screen.notices[:2]}), "es")
    assert few.startswith("✨ +1 besitos\n✨ +2 besitos\n\n"), "notices that fit are all shown"


def test_a_body_too_long_alone_is_never_cut() -> None:
    body = "x" * (MAX_TEXT_LENGTH + 10)
    screen = Screen(key="story.fragment", params={"title": "t", "body": body, "chapter": 1, "relationship": 0},
                    notices=[Notice(key="notice.besitos", params={"amount": 5})])  # fmt: skip
    text, _ = render(screen, "es")
    assert body in text and "besitos" not in text


# 3. Ids and flags the rules look up


def test_a_flag_no_choice_sets_is_named() -> None:
    document = shipped()
    fragment(document, "f07")["requires"] = {"min_level": 2, "flags_all": ["lost_key"]}
    choices = fragment(document, "f13")["choices"]
    choices[0]["requires"] = {"flags_all": ["never_set"]}
    problems = content_problems(Content.model_validate(document))
    assert "fragment f07 requires flag 'lost_key' that no choice sets" in problems
    assert "fragment f13: choice c13_return requires flag 'never_set' that no choice sets" in problems


def test_a_vip_choice_into_a_fragment_without_a_teaser_is_named() -> None:
    document = shipped()
    stay = next(c for c in fragment(document, "f10")["choices"] if c["id"] == "c10_stay")
    stay["requires"] = {"vip": True}
    problems = content_problems(Content.model_validate(document))
    assert any(p.startswith("fragment f10: choice c10_stay asks for VIP, but f11 has no teaser") for p in problems)


# 4. Bounded graph checks


def test_a_branchy_story_stops_at_the_cap_with_one_problem() -> None:
    problems = content_problems(Content.model_validate(branchy(read="all")))
    assert len(problems) == 1 and CAP in problems[0] and "simplify the flags" in problems[0]
    assert "40 flags" in problems[0]


def test_a_branchy_story_whose_flags_are_never_read_passes() -> None:
    assert content_problems(Content.model_validate(branchy(read="none"))) == []
    assert content_problems(Content.model_validate(branchy(read="one"))) == []


def test_the_shipped_content_still_passes_every_check() -> None:
    checked = parse_content(SHIPPED_TEXT)
    assert content_problems(checked.content) == [] and render_problems(checked.content) == []


# 5. YAML


@pytest.mark.parametrize("text", ["version: &v x\nlabel: *v\n", "a: &list [1, 2]\n", "a: [1]\nb: *x\n"])
def test_yaml_anchors_and_aliases_are_refused(text: str) -> None:
    problems = refused(text)
    assert len(problems) == 1 and "anchors and aliases" in problems[0]


def test_a_billion_laughs_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused at its first anchor, from the parser's events: nothing is expanded, nothing is built."""
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    read: list[yaml.Event] = []
    parse = yaml.parse

    def parse_and_count(*args: Any, **kwargs: Any) -> Iterator[yaml.Event]:
        for event in parse(*args, **kwargs):
            read.append(event)
            yield event

    def build(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("the document was built")

    monkeypatch.setattr(yaml, "parse", parse_and_count)
    monkeypatch.setattr(yaml, "safe_load", build)
    [problem] = refused("\n".join(laughs))
    assert "anchors and aliases" in problem and problem.startswith("line 1:")
    assert isinstance(read[-1], yaml.NodeEvent) and read[-1].anchor == "a", "no event past the first anchor was read"


def test_a_document_over_a_mebibyte_is_refused_unread() -> None:
    problems = refused("# " + "x" * MAX_CONTENT_BYTES)
    assert problems == [f"the document is 1,024 KB; the limit is {MAX_CONTENT_BYTES // 1024:,} KB"]


# 6. Checks in a child process with limits


async def test_the_child_checks_the_shipped_content_as_parse_content_does() -> None:
    checked = await check_content(SHIPPED_TEXT)
    assert checked.digest == parse_content(SHIPPED_TEXT).digest
    assert checked.content == Content.model_validate(SHIPPED)


async def test_the_child_refuses_an_alias() -> None:
    with pytest.raises(ContentRefused, match="anchors and aliases"):
        await check_content(SHIPPED_TEXT.replace("timezone: America", "timezone: &zone America"))


async def test_the_child_refuses_a_time_zone_that_does_not_exist() -> None:
    with pytest.raises(ContentRefused) as caught:
        await check_content(SHIPPED_TEXT.replace("America/Mexico_City", "America/Atlantis"))
    problem = caught.value.problems[0]
    assert problem.startswith("calendar.timezone:") and "'America/Atlantis'" in problem


async def test_the_child_refuses_a_fragment_too_long_for_telegram() -> None:
    with pytest.raises(ContentRefused) as caught:
        await check_content(as_text(long_fragment()))
    assert any(p.startswith("fragment f02 (es): the screen is") for p in caught.value.problems)


async def test_the_child_answers_a_branchy_story_within_seconds() -> None:
    with pytest.raises(ContentRefused) as caught:
        await check_content(as_text(branchy(read="all")))
    assert any(CAP in p for p in caught.value.problems)


async def test_a_child_out_of_time_is_killed_and_says_so() -> None:
    with pytest.raises(ContentRefused) as caught:
        await check_content(SHIPPED_TEXT, seconds=0.05)
    assert caught.value.problems == ["the checks did not finish within 0.05 s; simplify the content"]


async def test_a_child_out_of_memory_says_so() -> None:
    with pytest.raises(ContentRefused) as caught:
        await check_content(SHIPPED_TEXT, memory_bytes=24 * 1024 * 1024)
    assert caught.value.problems == ["the checks ran out of memory; simplify the content"]


# Media: what the story names exists, and every message it makes is one Telegram sends.


def media_problems_of(document: dict[str, Any]) -> list[str]:
    return content_problems(Content.model_validate(document))


def test_media_the_story_names_must_be_listed_and_fit_telegrams_albums_and_captions() -> None:
    assert media_problems_of(shipped()) == []
    document = shipped()
    fragment(document, "f02")["media"] = ["no_such_picture"]
    assert media_problems_of(document) == [
        "fragment f02 names media 'no_such_picture' that the content does not list under media"
    ]

    document = shipped()
    document["media"] += [{"key": f"extra_{n}", "kind": "photo", "file": "vela_1.jpg"} for n in range(9)]
    fragment(document, "f02")["media"] = ["vela_1", "vela_2", *[f"extra_{n}" for n in range(9)]]
    assert media_problems_of(document) == ["fragment f02 is an album of 11; Telegram takes 2 to 10 items"]

    document = shipped()
    fragment(document, "f02")["media"] = ["vela_1", "susurro"]
    assert media_problems_of(document) == [
        "fragment f02 puts voice in an album; Telegram sends those only one at a time"
    ]
    document["media"].append({"key": "cancion", "kind": "audio", "file": "cancion.mp3"})
    fragment(document, "f02")["media"] = ["vela_1", "cancion"]
    assert media_problems_of(document) == [
        "fragment f02 mixes audio, photo in one album; Telegram puts photos with videos, audio only with audio and "
        "documents only with documents"
    ]
    fragment(document, "f02")["media"] = ["vela_1", "espejo"]  # photos and videos go together
    assert media_problems_of(document) == []

    document = shipped()
    fragment(document, "f15")["teaser_media"] = ["susurro"]
    fragment(document, "f02")["teaser_media"] = ["vela_1"]
    assert media_problems_of(document) == [
        "fragment f02: teaser media is shown only in front of a VIP fragment",
        "fragment f15: teaser media 'susurro' cannot be blurred; Telegram blurs only photos, videos and animations",
    ]

    document = shipped()
    caption = fragment(document, "f01")["text"]["es"] * 2
    next(m for m in document["media"] if m["key"] == "vela_1")["caption"] = {"es": caption}
    [problem] = media_problems_of(document)
    assert problem.startswith("media vela_1: the es caption is ") and "limit for a caption is 1,024" in problem

    document = shipped()
    document["media"].append(dict(document["media"][0]))
    assert media_problems_of(document) == ["media key 'puerta_verde' is used twice"]


def test_media_files_must_be_plain_files_telegram_takes(tmp_path: Path) -> None:
    document = shipped()
    with pytest.raises(ValidationError, match="a voice cannot be a .mp4 file"):
        Content.model_validate({**document, "media": [{"key": "x", "kind": "voice", "file": "x.mp4"}]})
    with pytest.raises(ValidationError, match="file"):
        Content.model_validate({**document, "media": [{"key": "x", "kind": "photo", "file": "../secrets.jpg"}]})

    content = Content.model_validate(document)
    assert media_file_problems(content, SHIPPED_MEDIA) == []
    (tmp_path / "puerta_verde.jpg").write_bytes(b"")
    (tmp_path / "vela_1.jpg").write_bytes(b"\xff\xd8" + b"0" * (10 * 1024 * 1024))
    (tmp_path / "vela_2.jpg").symlink_to(SHIPPED_MEDIA / "vela_2.jpg")
    problems = media_file_problems(content, tmp_path)
    assert problems[:3] == [
        "media puerta_verde: puerta_verde.jpg is empty",
        f"media susurro: susurro.ogg is not in {tmp_path}",
        "media vela_1: vela_1.jpg is 10.5 MB; Telegram takes a photo of at most 10 MB",
    ]
    assert f"media vela_2: vela_2.jpg must be a file in {tmp_path}, not a link" in problems
