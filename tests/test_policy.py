"""Search policies: actions, override rules, validation errors, reload, cache, decision log."""

from __future__ import annotations

import datetime as dt
import json
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import searchsafe
from searchsafe import ACTIONS, PolicyError, PolicyWarning, normalize
from searchsafe._policy import TermMatcher, match_key, read_policy

from .strategies import query_lists, query_text

# Queries the shipped model flags with a wide margin (score > 0.99 for the named category).
FLAGGED = {
    "jp": ("死にたい", "self_harm"),
    "kr": ("자살 방법", "self_harm"),
}
BENIGN = {"jp": ["猫 飼い方", "東京 天気", "ラーメン 作り方"], "kr": ["고양이 사료 추천", "서울 날씨", "라면 끓이는 법"]}
TODAY = dt.date.today()


@pytest.fixture(scope="module")
def guard(clf) -> searchsafe.Guard:
    return searchsafe.load_policy(classifier=clf)


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def entry(market: str, match: str, text: str, action: str, ticket: str = "T-1", **extra: str) -> str:
    more = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return (
        f'[[market.{market}.override]]\nmatch = "{match}"\ntext = "{text}"\naction = "{action}"\n'
        f'reason = "test"\nticket = "{ticket}"\nauthor = "tester"\n{more}'
    )


# -- the shipped defaults ---------------------------------------------------

def test_shipped_defaults_cover_both_markets_with_real_helplines() -> None:
    p = read_policy()
    assert sorted(p.markets) == ["jp", "kr"]
    jp, kr = p.markets["jp"], p.markets["kr"]
    assert (jp.language, kr.language) == ("ja", "ko")
    assert jp.categories["self_harm"].help["phone"] == "0570-064-556"
    assert [a["phone"] for a in jp.categories["self_harm"].help["also"]] == ["0570-783-556", "0120-783-556"]
    assert kr.categories["self_harm"].help["phone"] == "109"
    for m in (jp, kr):
        assert m.categories["child_safety"].action == "block" and m.categories["child_safety"].escalate
        assert m.categories["self_harm"].action == "help"
        assert all(r.threshold is None for r in m.categories.values())  # the model's thresholds
        assert m.overrides == ()


@pytest.mark.parametrize("market", ["jp", "kr"])
def test_self_harm_shows_help_and_never_blocks_by_default(guard, market) -> None:
    query, _ = FLAGGED[market]
    d = guard.decide(query, market=market)
    assert (d.action, d.categories, d.escalate) == ("help", ["self_harm"], False)
    assert d.help == read_policy().markets[market].categories["self_harm"].help
    assert d.reason.startswith("self_harm ")


@pytest.mark.parametrize("market", ["jp", "kr"])
def test_benign_queries_are_allowed(guard, market) -> None:
    for q in BENIGN[market]:
        d = guard.decide(q, market=market)
        assert (d.action, d.categories, d.override, d.help, d.escalate) == ("allow", [], None, None, False)
        assert d.reason == "no category reached its threshold"


# -- actions and categories -------------------------------------------------

@pytest.mark.parametrize("market", ["jp", "kr"])
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_applies(clf, tmp_path, market, action) -> None:
    query, cat = FLAGGED[market]
    help_ = '\nhelp = { name = "x", phone = "1" }' if action == "help" else ""
    p = write(tmp_path, f'[market.{market}.categories.{cat}]\naction = "{action}"{help_}\n')
    g = searchsafe.load_policy(p, market=market, classifier=clf)
    d = g.decide(query)
    assert d.action == action and d.code == ACTIONS.index(action)
    assert d.categories == [cat]
    assert g.decide_batch([query]).tolist() == [ACTIONS.index(action)]


def test_most_severe_flagged_category_decides_and_escalation_follows_its_threshold(clf, tmp_path) -> None:
    # Thresholds near 0 flag every category: the decision is the most severe action among them.
    cats = "".join(f"[market.jp.categories.{c}]\nthreshold = 1e-9\n" for c in searchsafe.CATEGORIES if c != "violent_extremism")
    cats += "[market.jp.categories.violent_extremism]\nthreshold = 1e-9\nescalate_threshold = 0.999999\n"
    g = searchsafe.load_policy(write(tmp_path, cats), market="jp", classifier=clf)
    d = g.decide("猫 飼い方")
    assert d.categories == list(searchsafe.CATEGORIES)
    assert d.action == "block"
    # child_safety escalates once flagged; violent_extremism only at 0.999999, which this query is far from.
    assert d.escalate
    p2 = write(tmp_path, cats.replace("[market.jp.categories.child_safety]\n", "[market.jp.categories.child_safety]\nescalate = false\n"), "p2.toml")
    assert not searchsafe.load_policy(p2, market="jp", classifier=clf).decide("猫 飼い方").escalate
    # Shown help comes from the flagged self_harm category even though another category blocks.
    assert d.help["phone"] == "0570-064-556"


def test_threshold_override_changes_the_flag(clf, tmp_path) -> None:
    query, cat = FLAGGED["jp"]
    score = clf.score(query)[cat]
    p = write(tmp_path, f"[market.jp.categories.{cat}]\nthreshold = {min(0.999999999, (score + 1) / 2)}\n")
    assert searchsafe.load_policy(p, market="jp", classifier=clf).decide(query).action == "allow"


def test_market_is_required_when_the_guard_holds_several(guard) -> None:
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        guard.decide("猫")
    assert str(e.value) == "market is required: this guard holds markets jp, kr; pass market= to decide() or to load_policy()"
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        guard.decide_batch(["猫"], market="us")
    assert str(e.value) == "market must be one of 'jp', 'kr'; got 'us'"


# -- override rules ---------------------------------------------------------

OVERRIDE_CASES = [
    # (entries as (match, text, action), query, expected action, expected override text or None)
    ([("exact", "死にたい", "allow")], "死にたい", "allow", "死にたい"),  # allow beats the model
    ([("exact", "ｼﾆﾀｲ", "allow")], "しにたい", "allow", "ｼﾆﾀｲ"),  # both sides normalized (width, kana)
    ([("term", "爆弾", "block")], "爆弾おにぎり 作り方", "block", "爆弾"),
    ([("term", "爆弾", "block"), ("term", "爆弾おにぎり", "allow")], "爆弾おにぎり 作り方", "allow", "爆弾おにぎり"),
    ([("term", "爆弾", "block"), ("term", "爆弾おにぎり", "allow")], "爆弾おにぎり 爆弾", "block", "爆弾"),
    ([("term", "爆弾", "allow"), ("term", "爆弾おにぎり", "block")], "爆弾おにぎり", "block", "爆弾おにぎり"),
    ([("term", "猫", "block"), ("term", "飼い方", "allow")], "猫 飼い方", "block", "猫"),  # disjoint: block wins
    ([("term", "猫", "block"), ("exact", "猫 飼い方", "allow")], "猫飼い方", "allow", "猫 飼い方"),  # exact beats term
    ([("term", "猫", "allow"), ("exact", "猫 飼い方", "block")], "猫 飼い方", "block", "猫 飼い方"),
    ([("term", "猫", "downrank"), ("term", "飼い方", "no_autocomplete")], "猫 飼い方", "no_autocomplete", "飼い方"),
    ([("term", "死", "downrank")], "死にたい", "help", "死"),  # a restrictive entry never lowers the model's action
    ([("term", "cat", "block")], "cat food", "block", "cat"),
    ([("term", "cat", "block")], "catalog", "allow", None),  # Latin terms keep word boundaries
    ([("term", "cat", "block")], "tomcat server", "allow", None),
    ([("term", "고양이", "block")], "고양이사료 추천", "block", "고양이"),
    ([("exact", "고양이 사료", "block")], "고양이사료", "block", "고양이 사료"),  # CJK spacing does not matter
    ([("exact", "고양이 사료", "block")], "고양이 사료 추천", "allow", None),
]


@pytest.mark.parametrize("entries, query, action, which", OVERRIDE_CASES)
def test_override_rules(clf, tmp_path, entries, query, action, which) -> None:
    market = "kr" if any("\uac00" <= ch <= "\ud7a3" for ch in query) else "jp"
    text = "".join(entry(market, m, t, a, ticket=f"T-{i}") for i, (m, t, a) in enumerate(entries))
    g = searchsafe.load_policy(write(tmp_path, text), market=market, classifier=clf)
    d = g.decide(query)
    assert d.action == action
    if which is None:
        assert d.override is None
    else:
        i = [t for _, t, _ in entries].index(which)
        assert d.override == f"T-{i}:{which}"
        assert d.reason.startswith(f"{entries[i][0]} override 'T-{i}:{which}' ({entries[i][2]}, ticket T-{i}): test")
    assert g.decide_batch([query]).tolist() == [ACTIONS.index(action)]
    assert g.decide_batch([query], market=market).escalate.tolist() == [d.escalate]


def test_allow_override_clears_escalation_and_help_block_keeps_them(clf, tmp_path) -> None:
    cats = "[market.jp.categories.self_harm]\nescalate = true\n"
    g = searchsafe.load_policy(write(tmp_path, cats + entry("jp", "exact", "死にたい", "allow")), market="jp", classifier=clf)
    d = g.decide("死にたい")
    assert (d.action, d.escalate, d.help, d.categories) == ("allow", False, None, ["self_harm"])
    g = searchsafe.load_policy(write(tmp_path, cats + entry("jp", "term", "死に", "block")), market="jp", classifier=clf)
    d = g.decide("死にたい")
    assert (d.action, d.escalate, d.help["phone"]) == ("block", True, "0570-064-556")


def test_override_escalate_and_help_action(clf, tmp_path) -> None:
    text = entry("jp", "term", "ラーメン", "help", escalate="true")
    d = searchsafe.load_policy(write(tmp_path, text), market="jp", classifier=clf).decide("ラーメン 作り方")
    assert (d.action, d.escalate, d.help["phone"]) == ("help", True, "0570-064-556")


def test_expired_entry_warns_and_does_not_apply_future_one_does(clf, tmp_path) -> None:
    past, future = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=30)
    text = entry("jp", "term", "猫", "block", ticket="T-old", expires=past.isoformat())
    text += entry("jp", "term", "東京", "block", ticket="T-new", expires=future.isoformat())
    p = write(tmp_path, text)
    with pytest.warns(PolicyWarning) as w:
        g = searchsafe.load_policy(p, market="jp", classifier=clf)
    assert [str(x.message) for x in w] == [
        f"{p}:1: market jp, override term '猫': expired on {past.isoformat()}; it no longer applies (ticket T-old)"
    ]
    assert g.decide("猫 飼い方").action == "allow"
    assert g.decide("東京 天気").action == "block"
    assert [o.id for o in g.policy.expired] == ["T-old:猫"]


def test_an_entry_that_expires_while_running_stops_applying(clf, tmp_path, monkeypatch) -> None:
    text = entry("jp", "term", "東京", "block", expires=TODAY.isoformat())
    g = searchsafe.load_policy(write(tmp_path, text), market="jp", classifier=clf)
    assert g.decide("東京 天気").action == "block"  # now cached
    cache = g.cache
    tomorrow = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(0, 0, 1)).timestamp()
    monkeypatch.setattr("searchsafe._guard.time.time", lambda: tomorrow)
    assert g.decide("東京 天気").action == "allow"
    assert g.cache is not cache  # the cache was dropped with the expiry
    cache = g.cache
    assert g.decide("東京 天気").action == "allow" and g.cache is cache  # and only once


def test_override_files_csv_and_toml(clf, tmp_path) -> None:
    (tmp_path / "block.csv").write_text(
        "match,text,action,reason,ticket,author,expires\n"
        "term,東京,block,incident,INC-7,alice,\n"
        "exact,猫 飼い方,downrank,test,INC-8,bob,2099-01-01\n",
        encoding="utf-8",
    )
    (tmp_path / "allow.toml").write_text(
        '[[override]]\nmatch = "term"\ntext = "東京タワー"\naction = "allow"\nreason = "landmark"\n'
        'ticket = "INC-9"\nauthor = "carol"\n',
        encoding="utf-8",
    )
    p = write(tmp_path, '[market.jp]\noverride_files = ["block.csv", "allow.toml"]\n')
    g = searchsafe.load_policy(p, market="jp", classifier=clf)
    assert [g.decide(q).action for q in ("東京 天気", "猫 飼い方", "東京タワー 高さ")] == ["block", "downrank", "allow"]
    assert g.policy.markets["jp"].overrides[0].source == f"{tmp_path / 'block.csv'}:2"
    assert g.policy.markets["jp"].overrides[2].source == f"{tmp_path / 'allow.toml'}:1"


MATCH_KEYS = [
    ("東京 天気", "東京天気"),
    ("ﾗｰﾒﾝ", "らーめん"),
    ("ＣＡＴ  Food", "cat food"),
    ("고양이  사료", "고양이사료"),
    ("猫 cat", "猫cat"),
    ("ㄱㅗㅇㅑㅇㅇㅣ", "고양이"),
    ("  ", ""),
]


@pytest.mark.parametrize("text, key", MATCH_KEYS)
def test_match_key(text, key) -> None:
    assert match_key(text) == key


TERMS = ["爆弾", "爆弾おにぎり", "ass", "cat", "고양이", "살", "a", "しね", "死", "1"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TERMS + ["x", " ", "c", "ss", "おにぎり", "고양", "이"]), max_size=12).map("".join))
def test_aho_corasick_and_pure_python_matchers_agree(text) -> None:
    terms = {t: i for i, t in enumerate(TERMS)}
    assert TermMatcher(terms, backend="ahocorasick").find(text) == TermMatcher(terms, backend="python").find(text)


@settings(max_examples=100, deadline=None)
@given(query_lists)
def test_guard_matchers_give_identical_decisions(clf, tmp_path_factory, queries) -> None:
    g1, g2 = _matcher_guards(clf, tmp_path_factory)
    a, b = g1.decide_batch(queries), g2.decide_batch(queries)
    assert g1.matcher == "ahocorasick" and g2.matcher == "python"
    assert a.tolist() == b.tolist() and a.escalate.tolist() == b.escalate.tolist()


_GUARDS: dict[str, tuple] = {}


def _matcher_guards(clf, tmp_path_factory):
    if "m" not in _GUARDS:
        d = tmp_path_factory.mktemp("matchers")
        text = "".join(entry("jp", "term", t, "block" if i % 2 else "allow", ticket=f"T{i}") for i, t in enumerate(TERMS))
        p = write(d, text)
        _GUARDS["m"] = tuple(
            searchsafe.load_policy(p, market="jp", classifier=clf, matcher=m, cache_size=0) for m in ("ahocorasick", "python")
        )
    return _GUARDS["m"]


# -- validation -------------------------------------------------------------

E = 'reason = "r"\nticket = "T"\nauthor = "a"\n'
VALIDATION_CASES = [
    ("[market.jp\n", "{p}:1: invalid TOML: Expected ']' at the end of a table declaration"),
    ("colour = 1\n", "{p}:1: unknown key 'colour' (allowed: version, market)"),
    ("[market.us]\nlanguage = \"en\"\n", "{p}:1: unknown market 'us' (markets: jp, kr)"),
    ("[market.jp]\nlanguage = \"en\"\n", "{p}:2: market jp: language must be one of ja, ko; got 'en'"),
    ("[market.jp]\nfoo = 1\n", "{p}:1: market jp: unknown key 'foo' (allowed: language, help, categories, override, override_files)"),
    ("[market.jp.categories.spam]\naction = \"block\"\n",
     "{p}:1: market jp: unknown category 'spam' (categories: child_safety, self_harm, violence, violent_extremism, "
     "hate, harassment, sexual, animal_cruelty)"),
    ("\n[market.jp.categories.sexual]\naction = \"hide\"\n",
     "{p}:3: market jp, category sexual: unknown action 'hide' (actions: allow, downrank, no_autocomplete, help, block)"),
    ("[market.jp.categories.sexual]\nthreshold = 1.5\n",
     "{p}:2: market jp, category sexual: threshold must be a number strictly between 0 and 1; got 1.5"),
    ("[market.jp.categories.sexual]\nthreshold = 0\n",
     "{p}:2: market jp, category sexual: threshold must be a number strictly between 0 and 1; got 0"),
    ("[market.kr.categories.hate]\nescalate = \"yes\"\n",
     "{p}:2: market kr, category hate: escalate must be true or false; got 'yes'"),
    ("[market.kr.categories.hate]\nescalate_threshold = 0.9\n",
     "{p}:1: market kr, category hate: escalate_threshold needs escalate = true"),
    ("[market.jp.categories.sexual]\naction = \"help\"\n",
     "{p}:1: market jp, category sexual: action 'help' needs a help resource (help = {{ name, phone, url }})"),
    ("[market.jp.categories.self_harm]\nhelp = { phone = \"1\" }\n", "{p}:2: market jp, category self_harm: help needs a name"),
    ("[market.jp.categories.self_harm]\nhelp = { name = \"x\" }\n",
     "{p}:2: market jp, category self_harm: help needs a phone or a url"),
    ("[market.jp.categories.self_harm]\nrule = 1\n",
     "{p}:1: market jp, category self_harm: unknown key 'rule' (allowed: threshold, action, escalate, escalate_threshold, help)"),
    ("[[market.jp.override]]\nmatch = \"term\"\ntext = \"猫\"\naction = \"block\"\nreason = \"r\"\nauthor = \"a\"\n",
     "{p}:1: market jp, override 1: ticket is required and must be a non-empty string"),
    ("[[market.jp.override]]\nmatch = \"regex\"\ntext = \"猫\"\naction = \"block\"\n" + E,
     "{p}:1: market jp, override 1 (regex '猫'): match must be 'exact' or 'term'; got 'regex'"),
    ("[[market.jp.override]]\nmatch = \"term\"\ntext = \"猫\"\naction = \"hide\"\n" + E,
     "{p}:1: market jp, override 1 (term '猫'): unknown action 'hide' (actions: allow, downrank, no_autocomplete, help, block)"),
    ("[[market.jp.override]]\nmatch = \"term\"\ntext = \"猫\"\naction = \"block\"\nexpires = \"soon\"\n" + E,
     "{p}:1: market jp, override 1 (term '猫'): expires must be a date like 2027-01-31; got 'soon'"),
    ("[[market.jp.override]]\nmatch = \"term\"\ntext = \"猫\"\naction = \"block\"\nowner = \"x\"\n" + E,
     "{p}:1: market jp, override 1: unknown key 'owner' (allowed: match, text, action, reason, ticket, author, "
     "expires, escalate, id)"),
    ("[[market.jp.override]]\nmatch = \"term\"\ntext = \"猫\"\naction = \"block\"\n" + E
     + "[[market.jp.override]]\nmatch = \"term\"\ntext = \"ねこ\"\naction = \"block\"\n" + E
     + "[[market.jp.override]]\nmatch = \"term\"\ntext = \"ﾈｺ\"\naction = \"block\"\n" + E,
     "{p}:15: market jp, override term 'ﾈｺ': duplicates the entry at {p}:8 (same normalized text 'ねこ')"),
    ("[[market.kr.override]]\nmatch = \"exact\"\ntext = \"고양이\"\naction = \"block\"\n" + E
     + "\n[[market.kr.override]]\nmatch = \"exact\"\ntext = \"고 양 이\"\naction = \"allow\"\n" + E,
     "{p}:9: market kr, override exact '고 양 이': contradicts the entry at {p}:1 (allow vs block for the same "
     "normalized text '고양이')"),
    ("[[market.jp.override]]\nid = \"X\"\nmatch = \"term\"\ntext = \"猫\"\naction = \"block\"\n" + E
     + "[[market.jp.override]]\nid = \"X\"\nmatch = \"term\"\ntext = \"犬\"\naction = \"block\"\n" + E,
     "{p}:9: market jp, override term '犬': id 'X' is already used by the entry at {p}:1"),
    ("[market.jp]\noverride_files = [\"missing.csv\"]\n",
     "{p}:2: market jp: override file 'missing.csv' not found (looked for {d}/missing.csv)"),
    ("version = 3\n", "{p}:1: version must be a string; got 3"),
]

O = '[[market.jp.override]]\nmatch = "term"\ntext = "猫"\naction = "block"\n' + E
VALIDATION_CASES += [
    ("market = 3\n", "{p}:1: market must be a table of markets ([market.jp])"),
    ("[market]\njp = 3\n", "{p}:2: market jp must be a table; got int"),
    ("[market.jp]\ncategories = 3\n", "{p}:2: market jp: categories must be a table"),
    ("[market.jp]\noverride = 3\n", "{p}:2: market jp: override must be an array of tables"),
    ("[market.jp]\noverride_files = \"a.csv\"\n", "{p}:2: market jp: override_files must be a list of file names"),
    ("[market.jp]\noverride_files = [\"a.txt\"]\n", "{p}:2: market jp: override file 'a.txt' must be .csv or .toml"),
    ("[market.jp.categories.self_harm]\nhelp = { name = \"x\", phone = 1 }\n",
     "{p}:2: market jp, category self_harm: help needs a phone or a url"),
    ("[market.jp.categories.self_harm]\nhelp = { name = \"x\", url = \"u\", phone = 1 }\n",
     "{p}:2: market jp, category self_harm: help phone must be a string; got 1"),
    ("[market.jp.categories.self_harm]\nhelp = { name = \"x\", url = \"u\", also = 1 }\n",
     "{p}:2: market jp, category self_harm: help also must be a list of help tables"),
    ("[market.jp.categories.self_harm]\nhelp = { name = \"x\", url = \"u\", also = [{ name = \"y\" }] }\n",
     "{p}:2: market jp, category self_harm: help also[0]: help needs a phone or a url"),
    ("[market.jp.help]\nname = \"x\"\n", "{p}:1: market jp: help needs a phone or a url"),
    (O + "expires = 2027-01-01T10:00:00\n",
     "{p}:1: market jp, override 1 (term '猫'): expires must be a date like 2027-01-31; got "
     "datetime.datetime(2027, 1, 1, 10, 0)"),
    (O + "escalate = 1\n", "{p}:1: market jp, override 1 (term '猫'): escalate must be true or false; got 1"),
    (O + "id = \"\"\n", "{p}:1: market jp, override 1 (term '猫'): id must be a non-empty string; got ''"),
    ("[market.jp]\nlanguage = \"ja\"\n[[market.jp.override]]\nmatch = 1\n",
     "{p}:3: market jp, override 1: match is required and must be a non-empty string"),
]


@pytest.mark.parametrize("text, message", VALIDATION_CASES)
def test_each_validation_error_names_file_line_and_entry(clf, tmp_path, text, message) -> None:
    p = write(tmp_path, text)
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf)
    assert str(e.value) == message.format(p=p, d=tmp_path)


def test_csv_override_errors_name_the_csv_line(clf, tmp_path) -> None:
    (tmp_path / "b.csv").write_text(
        "match,text,action,reason,ticket,author\nterm,猫,block,r,T1,a\nterm,犬,destroy,r,T2,a\n", encoding="utf-8"
    )
    p = write(tmp_path, '[market.jp]\noverride_files = ["b.csv"]\n')
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf)
    assert str(e.value) == (
        f"{tmp_path / 'b.csv'}:3: market jp, override 2 (term '犬'): unknown action 'destroy' "
        "(actions: allow, downrank, no_autocomplete, help, block)"
    )
    (tmp_path / "b.csv").write_text("match,text,action\n", encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf)
    assert str(e.value) == (
        f"{tmp_path / 'b.csv'}:1: missing column(s) reason, ticket, author (columns: match, text, action, reason, "
        "ticket, author, expires, escalate, id)"
    )


STANDALONE = "[market.jp]\nlanguage = \"ja\"\n" + "".join(
    f"[market.jp.categories.{c}]\naction = \"block\"\n" for c in searchsafe.CATEGORIES
)


@pytest.mark.parametrize("text, message", [
    ("[market.jp]\n", "{p}:1: market jp: language is missing (one of ja, ko)"),
    ("[market.jp]\nlanguage = \"ja\"\n", "{p}:1: market jp, category child_safety: action is missing"),
    (STANDALONE + entry("jp", "term", "猫", "help"),
     "{p}:19: market jp: override '猫' has action 'help' but the market has no help resource"),
])
def test_a_policy_without_defaults_must_be_complete(clf, tmp_path, text, message) -> None:
    p = write(tmp_path, text)
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf, defaults=False)
    assert str(e.value) == message.format(p=p)


def test_a_complete_policy_loads_without_defaults(clf, tmp_path) -> None:
    g = searchsafe.load_policy(write(tmp_path, STANDALONE), classifier=clf, defaults=False)
    assert sorted(g.policy.markets) == ["jp"]
    assert g.decide("死にたい").action == "block"  # the only market needs no market=
    assert g.policy.version == g.policy.sha256[:12]


OVERRIDE_FILE_CASES = [
    ("o.csv", "match,text,action,reason,ticket,author,owner\n", "{f}:1: unknown column(s) owner (columns: match, "
     "text, action, reason, ticket, author, expires, escalate, id)"),
    ("o.csv", "match,text,action,reason,ticket,author\nterm,猫,block,r,T,a,extra\n",
     "{f}:2: row has more fields than the header"),
    ("o.csv", "match,text,action,reason,ticket,author,escalate\nterm,猫,block,r,T,a,yes\n",
     "{f}:2: market jp, override 1 (term '猫'): escalate must be true or false; got 'yes'"),
    ("o.csv", b"match,text\n\xff\n", "{f}:1: not UTF-8 text (invalid start byte)"),
    ("o.toml", "[[overrides]]\n", "{f}:1: override file: unknown key 'overrides' (allowed: override)"),
    ("o.toml", "override = 1\n", "{f}:1: override must be an array of tables ([[override]])"),
    ("o.toml", "[[override]]\nmatch = \"term\"\n", "{f}:1: market jp, override 1: text is required and must be a "
     "non-empty string"),
]


@pytest.mark.parametrize("name, content, message", OVERRIDE_FILE_CASES)
def test_override_file_errors(clf, tmp_path, name, content, message) -> None:
    f = tmp_path / name
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content, encoding="utf-8")
    p = write(tmp_path, f'[market.jp]\noverride_files = ["{name}"]\n')
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf)
    assert str(e.value) == message.format(f=f)


def test_a_policy_file_that_is_not_utf8(clf, tmp_path) -> None:
    p = tmp_path / "p.toml"
    p.write_bytes(b"version = '\xff'\n")
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf)
    assert str(e.value) == f"{p}:1: not UTF-8 text (invalid start byte)"


def test_missing_policy_file(clf, tmp_path) -> None:
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(tmp_path / "nope.toml", classifier=clf)
    assert str(e.value) == f"{tmp_path / 'nope.toml'}: no such policy file"


# -- reload -----------------------------------------------------------------

RELOAD_QUERIES = ["東京 天気", "猫 飼い方", "ラーメン 作り方", "大阪 観光", "京都 紅葉"] * 20


def test_reload_is_atomic_under_concurrent_threads(clf, tmp_path) -> None:
    # Policy A blocks every query of the batch, policy B allows them all: a batch
    # that saw a mix of the two would hold both codes.
    terms = sorted(set(RELOAD_QUERIES))
    a = "".join(entry("jp", "exact", t, "block", ticket=f"A{i}") for i, t in enumerate(terms))
    b = 'version = "B"\n' + "".join(entry("jp", "term", t.split()[0], "downrank", ticket=f"B{i}") for i, t in enumerate(terms))
    p = write(tmp_path, a)
    g = searchsafe.load_policy(p, market="jp", classifier=clf, cache_size=64)
    expected = {(4,) * len(RELOAD_QUERIES), (1,) * len(RELOAD_QUERIES)}
    bad: list[tuple] = []
    seen: set[tuple] = set()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            r = tuple(g.decide_batch(RELOAD_QUERIES).tolist())
            seen.add(r)
            if r not in expected:
                bad.append(r)
            d = g.decide(RELOAD_QUERIES[0])
            # A decision and the version it reports come from one policy.
            if (d.action == "downrank") != (d.policy_version == "B") or d.action not in ("block", "downrank"):
                bad.append((d.action, d.policy_version))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(30):
        p.write_text(b if i % 2 == 0 else a, encoding="utf-8")
        g.reload()
    stop.set()
    for t in threads:
        t.join()
    assert not bad
    assert seen == expected


def test_invalid_reload_keeps_the_old_policy_and_raises(clf, tmp_path) -> None:
    p = write(tmp_path, entry("jp", "term", "東京", "block"))
    g = searchsafe.load_policy(p, market="jp", classifier=clf)
    before = g.policy
    p.write_text('[market.jp.categories.sexual]\nthreshold = 2\n', encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        g.reload()
    assert str(e.value) == f"{p}:2: market jp, category sexual: threshold must be a number strictly between 0 and 1; got 2"
    assert g.policy is before
    assert g.decide("東京 天気").action == "block"
    p.write_text(entry("jp", "term", "東京", "downrank"), encoding="utf-8")
    assert g.reload() is g.policy and g.decide("東京 天気").action == "downrank"


# -- batch, single, cache ---------------------------------------------------

TABLE = BENIGN["jp"] + BENIGN["kr"] + [FLAGGED["jp"][0], FLAGGED["kr"][0], "同級生 住所 特定", "", None, "x" * 400]


@pytest.mark.parametrize("market", ["jp", "kr"])
def test_decide_batch_equals_decide(guard, market) -> None:
    a = guard.decide_batch(TABLE, market=market)
    assert a.dtype == np.int8 and a.shape == (len(TABLE),) and a.escalate.shape == (len(TABLE),)
    assert a.tolist() == [guard.decide(q, market=market).code for q in TABLE]
    assert a.escalate.tolist() == [guard.decide(q, market=market).escalate for q in TABLE]
    assert [d.as_dict() for d in guard.explain_batch(TABLE, market=market)] == [
        guard.decide(q, market=market).as_dict() for q in TABLE
    ]


def test_batch_input_errors(guard) -> None:
    with pytest.raises(TypeError) as e:
        guard.decide_batch("猫", market="jp")
    assert str(e.value).startswith("queries must be an iterable of str, got a single str")
    with pytest.raises(TypeError) as e:
        guard.decide(3, market="jp")
    assert str(e.value) == "query must be str or None; got int"
    assert guard.decide_batch([], market="jp").shape == (0,)


def test_action_array_indexing_keeps_escalate_aligned() -> None:
    a = searchsafe._guard.ActionArray(np.array([4, 0, 3]), np.array([True, False, False]))
    assert a[1:].tolist() == [0, 3] and a[1:].escalate.tolist() == [False, False]
    assert a[a > 0].escalate.tolist() == [True, False]
    assert a[[2, 0]].escalate.tolist() == [False, True]
    assert type(a == 4) is np.ndarray and int(a[0]) == 4
    import pickle

    b = pickle.loads(pickle.dumps(a))
    assert b.tolist() == a.tolist() and b.escalate.tolist() == a.escalate.tolist()


@settings(max_examples=60, deadline=None)
@given(query_lists)
def test_cache_on_and_off_give_identical_decisions(clf, tmp_path_factory, queries) -> None:
    g_on, g_off = _cache_guards(clf, tmp_path_factory)
    for _ in range(2):  # the second pass answers from the cache
        a, b = g_on.decide_batch(queries), g_off.decide_batch(queries)
        assert a.tolist() == b.tolist() and a.escalate.tolist() == b.escalate.tolist()
    for q in queries[:3]:
        assert g_on.decide(q) == g_off.decide(q)


def _cache_guards(clf, tmp_path_factory):
    if "c" not in _GUARDS:
        d = tmp_path_factory.mktemp("cache")
        p = write(d, entry("jp", "term", "死", "block") + entry("jp", "exact", "猫", "allow", ticket="T2"))
        _GUARDS["c"] = (
            searchsafe.load_policy(p, market="jp", classifier=clf, cache_size=8),
            searchsafe.load_policy(p, market="jp", classifier=clf, cache_size=0),
        )
    return _GUARDS["c"]


@settings(max_examples=60, deadline=None)
@given(query_lists)
def test_classifier_cache_gives_identical_scores(clf, queries) -> None:
    cached = _cached_classifier()
    np.testing.assert_array_equal(cached.score_batch(queries), clf.score_batch(queries))
    np.testing.assert_array_equal(cached.score_batch(queries), clf.score_batch(queries))
    for q in queries[:2]:
        assert cached.score(q) == clf.score(q) and cached.predict(q) == clf.predict(q)


_CLF: list = []


def _cached_classifier():
    if not _CLF:
        _CLF.append(searchsafe.load(cache_size=16))
    return _CLF[0]


def test_classifier_cache_keeps_languages_apart_and_returns_fresh_arrays(clf) -> None:
    cached = searchsafe.load(cache_size=64)
    queries = ["東京 天気", "서울 날씨", "東京 天気", None, ""]
    for _ in range(2):  # the second pass answers every query from the cache
        for lang in (None, "ja", "ko", None):
            got = cached.score_batch(queries, lang=lang)
            np.testing.assert_array_equal(got, clf.score_batch(queries, lang=lang))
            assert got.dtype == np.float32 and got.shape == (5, 8) and got.flags.writeable
            got[:] = -1.0  # the caller owns the array: the cache is not written through it
    np.testing.assert_array_equal(cached.score_batch(queries, lang="ko"), clf.score_batch(queries, lang="ko"))
    assert cached.cache.stats()["size"] == 9  # two texts and the blank key, in three key spaces


def test_classifier_cache_is_off_by_default_and_bounded(clf) -> None:
    assert clf.cache is None
    c = _cached_classifier()
    c.score_batch([f"クエリ {i}" for i in range(100)])
    assert len(c.cache) == 16
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        searchsafe.load(cache_size=-1)
    assert str(e.value) == "cache_size must be a non-negative integer (0 = no cache); got -1"


def test_guard_cache_counts_hits_and_resets_on_reload(clf, tmp_path) -> None:
    p = write(tmp_path, entry("jp", "term", "東京", "block"))
    g = searchsafe.load_policy(p, market="jp", classifier=clf, cache_size=4)
    g.decide_batch(["東京 天気", "猫", "東京 天気", "猫", "犬"])
    assert g.cache.stats() == {"size": 3, "maxsize": 4, "hits": 0, "misses": 5}
    g.decide_batch(["東京 天気", "猫"])
    assert g.cache.stats()["hits"] == 2
    g.reload()
    assert len(g.cache) == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers()), max_size=60))
def test_lru_holds_the_most_recent_entries(ops) -> None:
    from searchsafe._cache import LRUCache

    c = LRUCache(3)
    recent: list[str] = []
    for key, value in ops:
        c.put(key, value)
        recent = [k for k in recent if k != key] + [key]
    assert len(c) == min(3, len(set(k for k, _ in ops)))
    assert list(c._data) == recent[-3:]


def test_lru_is_safe_under_threads() -> None:
    from searchsafe._cache import LRUCache

    c = LRUCache(50)

    def work(seed: int) -> None:
        for i in range(3000):
            k = (seed * 7 + i) % 120
            got = c.get(k)
            assert got is None or got == k * 2
            c.put(k, k * 2)
            c.lookup([k, k + 1], lambda pos: [(k + p) * 2 for p in pos])

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 50


# -- decision log -----------------------------------------------------------

def test_every_decision_is_logged_as_one_json_line(clf, tmp_path) -> None:
    log = tmp_path / "decisions.jsonl"
    p = write(tmp_path, entry("jp", "term", "東京", "block", ticket="INC-1"))
    with searchsafe.load_policy(p, market="jp", classifier=clf, log=log) as g:
        g.decide_batch(["東京 天気", "猫 飼い方"])
        g.decide("死にたい")
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r["action"] for r in rows] == ["block", "allow", "help"]
    assert [r["override"] for r in rows] == ["INC-1:東京", None, None]
    assert rows[2]["categories"] == ["self_harm"] and rows[2]["escalate"] is False
    assert "query" not in rows[0]
    import hashlib

    assert rows[1]["query_sha256"] == hashlib.sha256("猫 飼い方".encode()).hexdigest()
    assert {r["policy_version"] for r in rows} == {g.policy.version} and rows[0]["market"] == "jp"
    assert set(rows[0]["scores"]) == set(searchsafe.CATEGORIES)
    with searchsafe.load_policy(p, market="jp", classifier=clf, log=log, log_queries=True) as g:
        g.decide("東京 天気")
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[-1])["query"] == "東京 天気"


# -- policy diff ------------------------------------------------------------

def test_policy_diff_counts_transitions_with_examples(clf, tmp_path) -> None:
    old = write(tmp_path, entry("jp", "term", "東京", "downrank"), "old.toml")
    new = write(
        tmp_path,
        entry("jp", "term", "東京", "block") + entry("jp", "exact", "猫 飼い方", "no_autocomplete", ticket="T-2")
        + "[market.jp.categories.self_harm]\nescalate = true\n",
        "new.toml",
    )
    g_old = searchsafe.load_policy(old, market="jp", classifier=clf)
    g_new = searchsafe.load_policy(new, market="jp", classifier=clf)
    queries = ["東京 天気", "東京 観光", "猫 飼い方", "ラーメン 作り方", "死にたい"]
    r = searchsafe.policy_diff(g_old, g_new, queries)
    assert (r["total"], r["changed"]) == (5, 4)
    assert r["transitions"] == {"downrank -> block": 2, "allow -> no_autocomplete": 1, "help -> help (escalation added)": 1}
    assert r["escalations"] == {"added": 1, "removed": 0}
    assert [e["query"] for e in r["examples"]["downrank -> block"]] == ["東京 天気", "東京 観光"]
    assert r["examples"]["allow -> no_autocomplete"][0]["new"]["override"] == "T-2:猫 飼い方"


@pytest.mark.slow
def test_the_wheel_carries_the_default_policy(tmp_path) -> None:
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path), str(root)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("searchsafe-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert z.read("searchsafe/policies/default.toml") == (root / "searchsafe" / "policies" / "default.toml").read_bytes()


def test_empty_policy_without_defaults_and_a_directory(clf, tmp_path) -> None:
    p = write(tmp_path, "# nothing\n")
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(p, classifier=clf, defaults=False)
    assert str(e.value) == f"{p}:1: the policy defines no market"
    with pytest.raises(PolicyError) as e:
        searchsafe.load_policy(tmp_path, classifier=clf)
    assert str(e.value) == f"{tmp_path}: cannot read: Is a directory"


@pytest.mark.parametrize("kwargs, message", [
    ({"matcher": "regex"}, "matcher must be 'auto', 'ahocorasick' or 'python'; got 'regex'"),
    ({"cache_size": 1.5}, "cache_size must be a non-negative integer (0 = no cache); got 1.5"),
    ({"market": "us"}, "market must be one of 'jp', 'kr'; got 'us'"),
])
def test_load_policy_parameter_errors(clf, kwargs, message) -> None:
    with pytest.raises(searchsafe.InvalidParameterError) as e:
        searchsafe.load_policy(classifier=clf, **kwargs)
    assert str(e.value) == message


@settings(max_examples=300, deadline=None)
@given(st.one_of(query_text, st.text(alphabet=list("ｶﾀｶﾅ カタカナ ひらがな 자살방법 ㄱㅗㅇ wktkf Kill Bill 0123 ー・、"),
                                     max_size=24)))
def test_match_key_equals_its_pure_python_reference(text: str) -> None:
    from searchsafe._normalize import _KANA_FOLD
    from searchsafe._policy import _DROPPED_SPACE

    reference = normalize(text).translate(_KANA_FOLD)
    reference = _DROPPED_SPACE.sub("", reference) if " " in reference else reference
    assert match_key(text) == reference
