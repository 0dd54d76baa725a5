"""Write the example inputs of the README's operations walkthrough (dashboard, labelers, rca).

    python examples/make_ops.py

Deterministic: the same data/test.jsonl and seed give byte-identical files.
Pools are ordered, and the quiz, the incident and the rca rows are chosen, by a
stable hash of each row's language and text (make_labels.py's ``rank``), and each
trainee's answer is drawn by the item itself, so a rebuilt dataset changes these
files only around the rows it added or removed. (Until stop 31 the pools were
shuffled by position, and any change to data/ redrew every file and with it every
figure of the README's operations walkthrough.) Queries come from the repo's held-out split (data/test.jsonl), without the rows
mapped from public corpora; the files go to ``examples/out/``, which git ignores
(they contain harmful queries, which stay out of the repository).

- ``logs.jsonl``    14 days of search logs (``ts`` in UTC, ``market``
  jp/kr, ``lang``, ``text``), about 2,000 queries a day: popular benign queries
  repeat, a few percent are harmful. On the last day self-harm searches surge
  (an incident: 80 different queries, and one phrasing 60 times) and one benign
  query trends, so the dashboard has a rate alert and rising queries to show.
- ``quiz_gold.csv`` 200 adjudicated items (``id,text,labels``): a labeler quiz.
- ``quiz_<name>.csv`` the quiz as three trainees answered it: one careful, one who
  confuses neighbouring categories, one who misses self-harm and skips items.
- ``rca.csv``       1,000 held-out rows with ``text,labels,tags,group,lang`` for
  ``searchsafe rca`` (the group names each hard negative's family).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
from pathlib import Path

# make_labels.py's writer: each file appears whole or not at all (temporary file beside it, then os.replace).
# Both scripts are run as `python examples/<script>.py` (or `python ../make_ops.py` from examples/out), so
# examples/ is sys.path[0] and the sibling imports without a package.
from make_labels import atomic, rank, row_random, sample

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
DAYS = 14
PER_DAY = 2000
HARMFUL_SHARE = 0.03
NEIGHBOURS = {"hate": "harassment", "harassment": "hate",
              "violence": "violent_extremism", "violent_extremism": "violence"}


def read_rows(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            text = rec["text"]
            if rec.get("source", "").startswith("public") or not text.strip() or "\n" in text or "\r" in text:
                continue
            rows.append(rec)
    return rows


def zipf_weights(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights over a pool's order: search traffic repeats its head queries."""
    out, total = [], 0.0
    for k in range(n):
        total += 1 / (k + 1) ** s
        out.append(total)
    return out


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with atomic(path) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def trainee(gold: list[dict], seed: int, name: str, *, miss: float, neighbour: float, false_flag: float,
            skip: float = 0.0, blind_spot: str | None = None) -> list[list[str]]:
    """A trainee's answers to the quiz: deterministic mistakes at the given rates, drawn per item."""
    out = []
    for item in gold:
        rng = row_random(item, seed, f"quiz:{name}")
        if rng.random() < skip:
            continue
        labels = list(item["labels"])
        r = rng.random()
        if blind_spot and blind_spot in labels:
            labels.remove(blind_spot)
        elif labels and r < miss:
            labels = labels[1:]
        elif labels and r < miss + neighbour:
            labels = sorted({NEIGHBOURS.get(c, c) for c in labels})
        elif not labels and r < false_flag:
            looks_like = item.get("group", "").split(":")[1:2]
            labels = looks_like if looks_like and looks_like[0] in NEIGHBOURS else ["harassment"]
        out.append([item["id"], item["text"], ",".join(labels)])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--out", type=Path, default=HERE / "out")
    args = p.parse_args()
    seed = args.seed
    rng = random.Random(seed)
    rows = read_rows(DATA / "test.jsonl")
    benign = [r for r in rows if not r["labels"] and "hard_negative" not in (r.get("tags") or [])]
    harmful = [r for r in rows if r["labels"] and not r.get("tags")]
    # Each pool in hash order: the Zipf head (the most searched queries) is a row's own draw.
    benign = [benign[i] for i in rank(benign, seed, "benign")]
    harmful = [harmful[i] for i in rank(harmful, seed, "harmful")]
    args.out.mkdir(parents=True, exist_ok=True)

    # -- logs: 14 days, one incident on the last day
    start = dt.datetime(2026, 11, 17, tzinfo=dt.timezone.utc)
    burst = next(r for r in harmful if r["labels"] == ["self_harm"] and r["lang"] == "ja")
    trend = benign[-1]  # a benign query nobody searched before the last day
    head, head_w = benign[:-1], zipf_weights(len(benign) - 1, 1.1)
    harmful_w = zipf_weights(len(harmful), 0.6)
    logs = []
    for day in range(DAYS):
        events = [rng.choices(head, cum_weights=head_w)[0] if rng.random() > HARMFUL_SHARE
                  else rng.choices(harmful, cum_weights=harmful_w)[0]
                  for _ in range(PER_DAY + rng.randint(-150, 150))]
        if day == DAYS - 1:
            # The incident: self-harm searches surge (many phrasings), one phrasing above all.
            surge = [r for r in harmful if "self_harm" in r["labels"]]
            events += sample(surge, 80, seed, "surge") + [burst] * 60 + [trend] * 40
        for r in events:
            ts = start + dt.timedelta(days=day, seconds=rng.randrange(86400))
            logs.append((ts, r))
    logs.sort(key=lambda e: e[0])
    with atomic(args.out / "logs.jsonl") as f:  # newline="": written as is, like the newline="\n" it had
        for ts, r in logs:
            f.write(json.dumps({"ts": ts.isoformat().replace("+00:00", "Z"), "market": "jp" if r["lang"] == "ja" else "kr",
                                "lang": r["lang"], "text": r["text"]}, ensure_ascii=False) + "\n")

    # -- quiz: 200 gold items (half harmful) and three trainees
    gold = [dict(r, id=f"q{k:03d}") for k, r in enumerate(harmful[-100:] + benign[1000:1100])]
    gold = [gold[i] for i in rank(gold, seed, "quiz")]
    write_csv(args.out / "quiz_gold.csv", ["id", "text", "labels"],
              [[g["id"], g["text"], ",".join(g["labels"])] for g in gold])
    trainees = {
        "akiko": dict(miss=0.02, neighbour=0.02, false_flag=0.01),
        "minjun": dict(miss=0.03, neighbour=0.25, false_flag=0.03),
        "kenji": dict(miss=0.10, neighbour=0.05, false_flag=0.06, skip=0.05, blind_spot="self_harm"),
    }
    for name, rates in trainees.items():
        write_csv(args.out / f"quiz_{name}.csv", ["id", "text", "labels"], trainee(gold, seed, name, **rates))

    # -- rca: held-out rows with their group and tags
    write_csv(args.out / "rca.csv", ["text", "labels", "tags", "group", "lang"],
              [[r["text"], ",".join(r["labels"]),
                ",".join(t for t in r.get("tags") or [] if t == "hard_negative" or t.startswith("evasion:")),
                r.get("group", ""), r["lang"]] for r in sample(rows, 1000, seed, "rca")])

    for name in ["logs.jsonl", "quiz_gold.csv", *(f"quiz_{n}.csv" for n in trainees), "rca.csv"]:
        path = args.out / name
        with path.open(encoding="utf-8") as f:
            n = sum(1 for _ in f) - (not name.endswith(".jsonl"))
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        print(f"wrote {shown} ({n} rows)")


if __name__ == "__main__":
    main()
