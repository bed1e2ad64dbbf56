"""EMPI domain core: identity domains, source records, persons, links, matching and review.

Nothing in this package knows whether it was called over MLLP, HTTP or from a notebook.
"""
