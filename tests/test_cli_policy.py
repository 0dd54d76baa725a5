"""``searchsafe decide`` and ``searchsafe policy check|diff``, run in-process through ``main([...])``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import searchsafe
from searchsafe.cli import main

ROOT = Path(__file__).resolve().parent.parent
INCIDENT = ROOT / "examples" / "policies" / "incident.toml"
STRICTER = ROOT / "examples" / "policies" / "stricter.toml"
TEST_SPLIT = ROOT / "data" / "test.jsonl"
QUERIES = ["猫 飼い方", "死にたい", "東京 天気", "同級生 住所 特定", "爆弾おにぎり 作り方", "ブラックアウトチャレンジ やり方"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def queries(tmp_path) -> Path:
    p = tmp_path / "q.txt"
    p.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    return p


def test_decide_writes_one_decision_per_query_and_escalations(capsys, clf, queries, tmp_path) -> None:
    esc = tmp_path / "review.jsonl"
    log = tmp_path / "log.jsonl"
    code, out, err = run(capsys, "decide", queries, "--policy", INCIDENT, "--market", "jp",
                         "--escalations", esc, "--log", log)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    guard = searchsafe.load_policy(INCIDENT, market="jp", classifier=clf)
    assert [r["text"] for r in rows] == QUERIES and [r["line"] for r in rows] == list(range(1, 7))
    for r, q in zip(rows, QUERIES):
        d = guard.decide(q).as_dict()
        d["scores"] = {c: round(s, 6) for c, s in d["scores"].items()}
        assert {k: r[k] for k in d} == d
    assert [r["action"] for r in rows] == ["allow", "help", "allow", "no_autocomplete", "allow", "block"]
    review = [json.loads(line) for line in esc.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in review] == ["ブラックアウトチャレンジ やり方"]
    assert len(log.read_text(encoding="utf-8").splitlines()) == 6
    assert err.strip() == (
        "decided 6 queries for market jp under policy incident-2026-12-02: allow 3, no_autocomplete 1, help 1, "
        "block 1; 1 to review"
    )


def test_decide_without_policy_uses_the_shipped_defaults(capsys, queries) -> None:
    code, out, _ = run(capsys, "decide", queries, "--market", "kr", "-q")
    assert code == 0
    assert {json.loads(line)["policy_version"] for line in out.splitlines()} == {"searchsafe-default-2026-12-02"}


@pytest.mark.parametrize("argv, message", [
    (["decide", "{q}", "--market", "us"], "--market must be one of jp, kr; got 'us'"),
    (["decide", "{q}", "--market", "jp", "--policy", "{d}/nope.toml"], "{d}/nope.toml: no such policy file"),
    (["policy", "check", "{bad}"],
     "{bad}:2: market jp, category sexual: threshold must be a number strictly between 0 and 1; got 1.5"),
    (["policy", "diff", "default", "{bad}", "{q}"],
     "{bad}:2: market jp, category sexual: threshold must be a number strictly between 0 and 1; got 1.5"),
    (["policy", "diff", "default", str(INCIDENT), "{d}/empty.txt"], "{d}/empty.txt: empty: no queries"),
    (["policy", "diff", "default", str(INCIDENT), "{q}", "--market", "us"],
     "--market us: OLD policy has no market 'us' (it has jp, kr)"),
    (["policy"], "choose a policy action: check or diff (see 'searchsafe policy --help')"),
])
def test_bad_policy_input_is_one_line_and_exit_2(capsys, queries, tmp_path, argv, message) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[market.jp.categories.sexual]\nthreshold = 1.5\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    fill = {"q": queries, "d": tmp_path, "bad": bad}
    code, out, err = run(capsys, *[a.format(**fill) for a in argv])
    assert (code, out) == (2, "")
    assert err == f"searchsafe: error: {message.format(**fill)}\n"


def test_policy_check_prints_a_summary(capsys) -> None:
    code, out, err = run(capsys, "policy", "check", INCIDENT)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"policy incident-2026-12-02 (sha256 ") and lines[0].endswith(f"from {INCIDENT}: valid")
    assert "market jp (ja): 2 override entries (term allow 1, term block 1)" in lines
    assert "market kr (ko): 2 override entries (term block 2)" in lines
    assert "  self_harm          help             threshold model   [자살예방상담전화 109]" in lines
    code, out, _ = run(capsys, "policy", "check", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["version"] == "searchsafe-default-2026-12-02"
    assert summary["markets"]["jp"]["categories"]["child_safety"] == {
        "action": "block", "threshold": None, "escalate": True, "escalate_threshold": None, "help": None,
    }


def test_policy_check_warns_about_expired_entries(capsys, tmp_path) -> None:
    p = tmp_path / "old.toml"
    p.write_text(
        '[[market.jp.override]]\nmatch = "term"\ntext = "東京"\naction = "block"\nreason = "r"\n'
        'ticket = "T-9"\nauthor = "a"\nexpires = 2020-01-01\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "policy", "check", p)
    assert code == 0
    assert err == (
        f"searchsafe: warning: {p}:1: market jp, override term '東京': expired on 2020-01-01; "
        "it no longer applies (ticket T-9)\n"
    )
    assert out.splitlines()[-1] == "1 expired override entries ignored (see warnings)"


def test_policy_diff_on_a_real_pair_of_files(capsys, clf, tmp_path) -> None:
    # The shipped default against the proposed stricter policy, on the 11,194 test-split queries.
    out_file = tmp_path / "diff.json"
    code, _, err = run(capsys, "policy", "diff", "default", STRICTER, TEST_SPLIT, "--market", "jp",
                       "--json", "--out", out_file, "--examples", "3")
    assert code == 1
    report = json.loads(out_file.read_text(encoding="utf-8"))
    # The same numbers, computed here from scores and the two policies' rules directly.
    texts = [json.loads(line)["text"] for line in TEST_SPLIT.read_text(encoding="utf-8").splitlines()]
    P = clf.score_batch(texts)
    cats = list(searchsafe.CATEGORIES)
    h, s = cats.index("harassment"), cats.index("sexual")
    base = P >= clf._threshold_array
    new_flags = base.copy()
    new_flags[:, s] = P[:, s] >= 0.8
    old_policy = searchsafe._policy.read_policy().markets["jp"]
    new_policy = searchsafe._policy.read_policy(STRICTER).markets["jp"]

    def actions(flags, policy):
        codes = [searchsafe.ACTIONS.index(policy.categories[c].action) for c in cats]
        return [max([codes[j] for j in range(8) if row[j]], default=0) for row in flags]

    old_a, new_a = actions(base, old_policy), actions(new_flags, new_policy)
    ve = cats.index("violent_extremism")
    old_e = base[:, 0] | (base[:, ve] & (P[:, ve] >= 0.9))
    new_e = old_e | new_flags[:, h]
    transitions: dict[str, int] = {}
    for a, b, oe, ne in zip(old_a, new_a, old_e, new_e):
        if a != b or oe != ne:
            t = f"{searchsafe.ACTIONS[a]} -> {searchsafe.ACTIONS[b]}"
            if oe != ne:
                t += " (escalation added)" if ne else " (escalation removed)"
            transitions[t] = transitions.get(t, 0) + 1
    assert report["total"] == len(texts) > 10_000
    assert report["transitions"] == dict(sorted(transitions.items(), key=lambda kv: (-kv[1], kv[0])))
    assert report["changed"] == sum(transitions.values()) > 0
    assert report["escalations"] == {"added": int((new_e & ~old_e).sum()), "removed": 0}
    assert all(len(v) <= 3 for v in report["examples"].values())
    assert err.strip() == f"{report['changed']} decision(s) change across 1 market(s) and {len(texts)} queries"


def test_policy_diff_text_report_and_no_change_exit_0(capsys, queries) -> None:
    code, out, _ = run(capsys, "policy", "diff", "default", INCIDENT, queries, "--market", "jp", "-q")
    assert code == 1
    assert out.splitlines()[0] == (
        "market jp: 2 of 6 queries change decision (33.33 %), policy searchsafe-default-2026-12-02 -> incident-2026-12-02"
    )
    assert "        1  allow -> block (escalation added)" in out.splitlines()
    # The override written for the dish the model flags as violence (0.376 against 0.263).
    assert "        1  downrank -> allow" in out.splitlines()
    code, out, _ = run(capsys, "policy", "diff", INCIDENT, INCIDENT, queries, "-q", "--examples", "0")
    assert code == 0
    assert out.splitlines()[0].startswith("market jp: 0 of 6 queries change decision (0.00 %)")


def test_help_lists_the_policy_commands(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "decide" in out and "policy" in out and "policy diff found changes" in " ".join(out.split())
    code, out, _ = run(capsys, "policy", "diff", "--help")
    assert code == 0 and "--examples" in out and "Exit 0 nothing changes, 1 something does." in " ".join(out.split())
