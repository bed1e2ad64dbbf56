"""Scoring: a pure library that compares two patient records with a data-driven scorecard.

No database, web or HL7 here; the service, the review queue and notebooks all call `score_pair`.
"""

from scoring.blocking import blocking_keys, probe_keys, record_keys
from scoring.engine import FieldScore, PairScore, score_pair
from scoring.scorecard import Scorecard, ScorecardError, load_scorecard, save_scorecard

__all__ = [
    "FieldScore",
    "PairScore",
    "Scorecard",
    "ScorecardError",
    "blocking_keys",
    "load_scorecard",
    "probe_keys",
    "record_keys",
    "save_scorecard",
    "score_pair",
]
