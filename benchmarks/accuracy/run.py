"""Accuracy benchmark: our scorecards beside splink and recordlinkage on FEBRL3 and FEBRL4.

One command runs everything side by side in one process and writes the table to docs/accuracy.md:

    .venv/bin/python benchmarks/accuracy/run.py

For FEBRL3 (deduplicate) and FEBRL4 (link), each with and without the SSN column, all methods see the
same candidate pairs: those the service's blocking keys find (`scoring.blocking`: one record's probe
key among the other's stored keys; splink gets one SQL rule per pair of key columns of a kind, both
ways, which yields exactly that set; recordlinkage gets the pair index). Methods:

* default     - the packaged card at its own thresholds (plus a stated-assumption `ssn` field);
* tuned-w     - the card's weights re-estimated without labels (u from random pairs, m by EM once per
                kind of blocking key, as splink trains), the card's thresholds and rules unchanged;
* tuned       - tuned-w, plus thresholds from the EM posterior (match at p >= 0.5, review down to
                p = 0.05) and the conflict rules the estimate contradicts dropped;
* tuned-nr    - tuned without any household conflict rule (twins, parent and child, siblings,
                housemates): the weights alone, as splink has no such rules;
* febrl2      - fitted *with labels*, but on FEBRL2 (never evaluated here): m from its labelled pairs,
                u from its random pairs, thresholds with the best F1 on FEBRL2 (a held-out check);
* splink      - EM-trained (DuckDB), match at p >= 0.5, no review band;
* rl-ecm      - recordlinkage ECM on binary comparison features, no review band.

No FEBRL3/FEBRL4 label is used to fit anything; they only score the results. Precision and recall count
automatic links only; recall is over all true pairs (pairs blocking missed included). "review" is the
share of true pairs sent to review, "queue" the review tasks (pairs). pairs/s is the scoring (or
prediction) step alone; wall is the method's whole time, blocking and training included.
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from scoring import Scorecard, load_scorecard, record_keys
from scoring import tuning as t

REPO = Path(__file__).resolve().parents[2]


def ssn_field(card: Scorecard) -> dict[str, object]:
    """An `ssn` field from stated assumptions, on the card's scale (not fitted): 90 % of a person's
    records carry the same number, 6 % one keying error; two people share a number 1 in 100,000 times."""
    scale = t.points_per_bit(card)

    def w(m: float, u: float) -> float:
        return round(scale * math.log2(m / u), 1)

    return {"name": "ssn", "normalizer": "text", "missing_weight": 0.0,
            "levels": [{"label": "exact", "comparator": "exact", "min_similarity": 1.0, "m": 0.9, "u": 1e-5,
                        "weight": w(0.9, 1e-5)},
                       {"label": "typo", "comparator": "damerau_levenshtein", "min_similarity": 0.85,
                        "m": 0.06, "u": 1e-4, "weight": w(0.06, 1e-4)}],
            "disagree_m": 0.04, "disagree_u": 0.9999, "disagree_weight": w(0.04, 0.9999)}


@dataclass
class Row:
    dataset: str
    ssn: bool
    method: str
    precision: float
    recall: float
    f1: float
    review: float | None
    queue: int | None
    pairs_per_s: float
    wall_s: float


def metrics(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth)
    return precision, recall, (2 * precision * recall / (precision + recall) if tp else 0.0)


def ordered(pairs: set[tuple[str, str]], dedup: bool) -> set[tuple[str, str]]:
    return {(x, y) if x < y else (y, x) for x, y in pairs} if dedup else pairs


def run_cards(name: str, ssn: bool, left: pd.DataFrame, right: pd.DataFrame | None, truth: set[tuple[str, str]],
              pairs: pd.DataFrame, block_s: float) -> list[Row]:
    base = load_scorecard()
    if ssn:
        base = t.with_field(base, ssn_field(base), version=f"{base.version}+ssn", created_from="benchmark")
    rows = []
    start = time.perf_counter()
    vectors = t.comparison_vectors(base, left, right, pairs)
    score_s = time.perf_counter() - start
    is_match = t.mark_truth(vectors, truth)
    rows.append(_card_row(name, ssn, "default", base, vectors, is_match, len(truth), score_s, block_s + score_s))

    start = time.perf_counter()
    chance = t.estimate_u_random(base, left, right, n_pairs=50_000, seed=1)
    em = t.estimate_em_by_blocks(base, vectors, t.pairs_by_key_kind(left, right), fixed_u=chance.u)
    train_s = time.perf_counter() - start + score_s  # EM needs the default card's vectors
    weights_only = t.card_from_estimate(base, em, version=f"{base.version}-em", created_from=f"EM on {name}")
    n_all = len(left) * (len(left) - 1) // 2 if right is None else len(left) * len(right)
    upper, lower = t.posterior_thresholds(weights_only, em, n_candidates=len(pairs), n_pairs=n_all)
    tuned = t.card_from_estimate(base, em, version=f"{base.version}-em-full", created_from=f"EM on {name}",
                                 upper=upper, lower=lower, drop_conflicts=t.unsupported_conflicts(base, em))
    # the same estimate with every household rule left out: what the weights reach on data with no
    # households (FEBRL), to set beside splink, which has no such rules
    no_rules = t.card_from_estimate(base, em, version=f"{base.version}-em-norules", created_from=f"EM on {name}",
                                    upper=upper, lower=lower, drop_conflicts=[c.name for c in base.conflicts])
    for label, card in (("tuned-w", weights_only), ("tuned", tuned), ("tuned-nr", no_rules)):
        start = time.perf_counter()
        tuned_vectors = t.comparison_vectors(card, left, right, pairs)
        s = time.perf_counter() - start
        rows.append(_card_row(name, ssn, label, card, tuned_vectors, is_match, len(truth), s, block_s + train_s + s))
    print(f"  tuned card: thresholds {tuned.lower}/{tuned.upper}, conflicts kept "
          f"{[c.name for c in tuned.conflicts]}, EM share of matches {em.prior:.3f}", file=sys.stderr)
    febrl2_card, train_s = card_from_febrl2(base, ssn)
    start = time.perf_counter()
    vectors = t.comparison_vectors(febrl2_card, left, right, pairs)
    s = time.perf_counter() - start
    rows.append(_card_row(name, ssn, "febrl2", febrl2_card, vectors, is_match, len(truth), s, block_s + train_s + s))
    return rows


_FEBRL2_CARDS: dict[bool, tuple[Scorecard, float]] = {}


def card_from_febrl2(base: Scorecard, ssn: bool) -> tuple[Scorecard, float]:
    """A card fitted with labels, but on FEBRL2 only (another FEBRL dataset, never evaluated here):
    m from its labelled candidate pairs, u from its random pairs, thresholds with the best F1 on it.
    Returns the card and the seconds its fitting took (fitted once per SSN variant)."""
    if ssn in _FEBRL2_CARDS:
        return _FEBRL2_CARDS[ssn]
    start = time.perf_counter()
    records, _, truth = t.load_febrl("febrl2", ssn=ssn)
    pairs = t.candidate_pairs(records)
    vectors = t.comparison_vectors(base, records, None, pairs)
    is_match = t.mark_truth(vectors, truth)
    chance = t.estimate_u_random(base, records, n_pairs=50_000, seed=1)
    estimate = t.estimate_from_labels(base, vectors, is_match, fixed_u=chance.u)
    weights = t.card_from_estimate(base, estimate, version=f"{base.version}-febrl2-w", created_from="FEBRL2 labels",
                                   drop_conflicts=t.unsupported_conflicts(base, estimate))
    fitted = t.comparison_vectors(weights, records, None, pairs)
    sweep = t.threshold_sweep(weights, fitted, is_match, lowers=range(0, 71, 2), uppers=range(10, 81, 2),
                              n_true=len(truth))
    best = sweep.sort_values(["f1", "review"], ascending=[False, True]).iloc[0]
    card = t.card_from_estimate(base, estimate, version=f"{base.version}-febrl2", created_from="FEBRL2 labels",
                                upper=float(best["upper"]), lower=float(best["lower"]),
                                drop_conflicts=t.unsupported_conflicts(base, estimate))
    print(f"  FEBRL2 card: thresholds {card.lower}/{card.upper} (F1 {best['f1']:.4f} on FEBRL2)", file=sys.stderr)
    _FEBRL2_CARDS[ssn] = card, time.perf_counter() - start
    return _FEBRL2_CARDS[ssn]


def _card_row(name: str, ssn: bool, method: str, card: Scorecard, vectors: pd.DataFrame, is_match: pd.Series,
              n_true: int, score_s: float, wall_s: float) -> Row:
    c = t.confusion(card, vectors, is_match, n_true=n_true)
    return Row(name, ssn, method, c.precision, c.recall, c.f1, c.review_share_of_true, c.review,
               len(vectors) / score_s, wall_s)


def with_keys(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The frame with one column per stored key (``s_<kind>_<n>``) and per probe key (``p_<kind>_<n>``),
    and the columns of each kind."""
    out = frame.copy()
    keys = [record_keys(r) for r in frame.to_dict("records")]
    columns: dict[str, list[str]] = {}
    for side, which in (("s", 0), ("p", 1)):
        per_kind = [_by_kind(ks[which]) for ks in keys]
        for kind in sorted({k for kinds in per_kind for k in kinds}):
            width = max(len(kinds.get(kind, ())) for kinds in per_kind)
            for n in range(width):
                name = f"{side}_{kind}_{n}"
                out[name] = [kinds[kind][n] if len(kinds.get(kind, ())) > n else None for kinds in per_kind]
                columns.setdefault(f"{side}_{kind}", []).append(name)
    out["unique_id"] = frame.index
    return out.reset_index(drop=True), columns


def _by_kind(keys: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in sorted(keys):
        out.setdefault(key.split(":", 1)[0], []).append(key)
    return out


def blocking_rules(columns: dict[str, list[str]]) -> list[str]:
    """SQL rules under which a pair meets when one record's probe key is among the other's stored keys,
    exactly as the service finds candidates: for each kind, every stored column against every probe
    column, both ways."""
    rules: list[str] = []
    for name, stored in columns.items():
        if name.startswith("s_"):
            for s in stored:
                for p in columns.get("p_" + name[2:], []):
                    rules += [f"l.{s} = r.{p}", f"l.{p} = r.{s}"]
    return list(dict.fromkeys(rules))


def run_splink(name: str, ssn: bool, left: pd.DataFrame, right: pd.DataFrame | None,
               truth: set[tuple[str, str]], candidates: set[tuple[str, str]]) -> Row:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    start = time.perf_counter()
    keyed = [with_keys(left)] + ([] if right is None else [with_keys(right)])
    frames = [f for f, _ in keyed]
    columns: dict[str, list[str]] = {}
    for _, cols in keyed:
        for kind, kind_columns in cols.items():
            columns[kind] = sorted(set(columns.get(kind, [])) | set(kind_columns))
    for frame in frames:  # every frame needs every column a rule names
        for kind_columns in columns.values():
            for column in kind_columns:
                if column not in frame:
                    frame[column] = None
    comparisons = [
        cl.JaroWinklerAtThresholds("given_name", [0.9, 0.8]), cl.JaroWinklerAtThresholds("family_name", [0.9, 0.8]),
        cl.DamerauLevenshteinAtThresholds("birth_date", [1, 2]),
        cl.JaroWinklerAtThresholds("address_line", [0.9, 0.8]), cl.JaroWinklerAtThresholds("city", [0.9]),
        cl.ExactMatch("province"), cl.DamerauLevenshteinAtThresholds("postal_code", [1]),
    ]
    if ssn:
        comparisons.append(cl.DamerauLevenshteinAtThresholds("ssn", [1]))
    settings = SettingsCreator(link_type="dedupe_only" if right is None else "link_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=blocking_rules(columns))
    db = DuckDBAPI()
    linker = Linker([db.register(f) for f in frames], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "birth_date")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "family_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    predict_start = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.0).as_pandas_dataframe()
    predict_s = time.perf_counter() - predict_start
    wall_s = time.perf_counter() - start
    scored = ordered(set(zip(predictions["unique_id_l"], predictions["unique_id_r"], strict=True)), right is None)
    if scored != candidates:
        print(f"  warning: splink scored {len(scored)} pairs, our blocking gives {len(candidates)}", file=sys.stderr)
    hits = predictions[predictions["match_probability"] >= 0.5]
    found = ordered(set(zip(hits["unique_id_l"], hits["unique_id_r"], strict=True)), right is None)
    return Row(name, ssn, "splink", *metrics(found, truth), None, None, len(predictions) / predict_s, wall_s)


def run_ecm(name: str, ssn: bool, left: pd.DataFrame, right: pd.DataFrame | None, truth: set[tuple[str, str]],
            pairs: pd.DataFrame, block_s: float) -> Row:
    import recordlinkage as rl

    start = time.perf_counter()
    index = pd.MultiIndex.from_frame(pairs, names=["left", "right"])
    compare = rl.Compare()
    for column in ("given_name", "family_name", "address_line", "city"):
        compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
    for column in ("birth_date", "province", "postal_code") + (("ssn",) if ssn else ()):
        compare.exact(column, column, label=column)
    features = compare.compute(index, left, left if right is None else right)
    ecm = rl.ECMClassifier(binarize=None)
    links = ecm.fit_predict(features)
    elapsed = time.perf_counter() - start
    found = ordered({(str(x), str(y)) for x, y in links}, right is None)
    return Row(name, ssn, "rl-ecm", *metrics(found, truth), None, None, len(pairs) / elapsed, block_s + elapsed)


def run(name: str, ssn: bool) -> list[Row]:
    left, right, truth = t.load_febrl(name, ssn=ssn)
    start = time.perf_counter()
    pairs = t.candidate_pairs(left, right)
    block_s = time.perf_counter() - start
    candidates = set(zip(pairs["left"], pairs["right"], strict=True))
    print(f"{name} {'with' if ssn else 'without'} SSN: {len(pairs)} candidate pairs, "
          f"{len(candidates & truth)}/{len(truth)} true pairs among them", file=sys.stderr)
    rows = run_cards(name, ssn, left, right, truth, pairs, block_s)
    rows.append(run_splink(name, ssn, left, right, truth, candidates))
    rows.append(run_ecm(name, ssn, left, right, truth, pairs, block_s))
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| dataset | SSN | method | precision | recall | F1 | review | queue | pairs/s | wall s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        review = "—" if r.review is None else f"{r.review:.2%}"
        queue = "—" if r.queue is None else str(r.queue)
        lines.append(f"| {r.dataset} | {'yes' if r.ssn else 'no'} | {r.method} | {r.precision:.4f} | {r.recall:.4f} "
                     f"| {r.f1:.4f} | {review} | {queue} | {r.pairs_per_s:,.0f} | {r.wall_s:.1f} |")
    return "\n".join(lines)


DOC = """# Accuracy: our scorecards beside splink and recordlinkage

Measured {date} on {machine} (2 cores shared with other work; timings are indicative), with
`{command}`. Card: `{card}`.

{table}

## What was run

{doc}

## How the tuned cards were fitted, and why no label leaks

Both tuned cards are fitted on the dataset they are judged on, *without its labels*, exactly as splink
is: u is the chance agreement of 50,000 random record pairs (almost all non-matches), m comes from
expectation-maximisation run once per kind of blocking key on the pairs that met under it, leaving
out the fields that key is built from, as splink trains (`scoring.tuning.estimate_u_random`,
`estimate_em_by_blocks`; one EM over all candidate pairs at once lets pairs that agree on a blocking
field by construction pass for matches: on FEBRL4 it takes 78 % of candidates for matches, against
74 % per blocking key and 72 % in truth; with the first, single-field blocking keys it took 96 %, against
54 % and 52 %), and the weights are written as a new card version on the packaged card's own scale
of points per bit (`card_from_estimate`). For `tuned`, the thresholds come from the EM model too
(`posterior_thresholds`: the posterior match probability, with the prior "two random records match"
taken from the EM share of matches among candidates), and a conflict rule is dropped only when the
estimate says the disagreement it forbids happens to more than 2 % of matches
(`unsupported_conflicts`). The labels are read only afterwards, to count precision and recall.
Nothing was tuned against FEBRL3/FEBRL4 labels, and the blocking is the service's own.

`febrl2` is the supervised alternative: `estimate_from_labels` on FEBRL2's labelled candidate pairs
(u from FEBRL2's random pairs) and the thresholds with the best F1 on FEBRL2, then judged unchanged on
FEBRL3 and FEBRL4 — weights learned from one dataset's labels, measured on others.

The conflict rules of the packaged card are a matching policy for our region: twins (given or
middle names differ outright while surname, birth date and street agree) and a parent and child
(birth dates differ outright while both names and the street agree) are never an automatic match.
FEBRL's duplicates often replace a given name or a birth date wholesale, which gives exactly those
shapes, so on FEBRL the rules cost recall: `benchmarks/scoring/trap_bound.py` shows that *any* card
honouring them is capped at F1 0.977 on FEBRL4 and 0.975 on FEBRL3 (and would put over 4 % of true
pairs in review if it sent them there instead). `tuned` shows what the weights alone achieve when the
estimate contradicts a rule. Whether to keep a rule in production is the analyst's decision
(notebook 02), not the estimate's.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["febrl3", "febrl4"])
    parser.add_argument("--output", default=str(REPO / "docs" / "accuracy.md"), help="'-' to skip writing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("splink").setLevel(logging.ERROR)
    rows: list[Row] = []
    for name in args.datasets:
        for ssn in (False, True):
            rows.extend(run(name, ssn))
    text = table(rows)
    print(text)
    if args.output != "-":
        card = load_scorecard()
        doc = DOC.format(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                         machine=f"{platform.machine()} Python {platform.python_version()}",
                         command="python benchmarks/accuracy/run.py", card=f"{card.id} v{card.version}",
                         table=text, doc=__doc__.split("\n\n", 2)[2].strip())
        Path(args.output).write_text(doc, encoding="utf-8")
        print(f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
