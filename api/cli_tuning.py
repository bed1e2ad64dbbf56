"""`empi export-labels` and `empi rescore`: the command-line side of scorecard tuning."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any

from api.cli import CliError, add_common, runtime_from


def _export_labels(args: argparse.Namespace) -> int:
    from empi.labels import export_labels

    rt = runtime_from(args)
    try:
        target: Any = nullcontext(sys.stdout) if args.output == "-" else _open_output(Path(args.output))
        with target as out, rt.read() as session:
            counts = export_labels(session, out)
    finally:
        rt.close()
    detail = ", ".join(f"{k} {v}" for k, v in counts.items() if k not in ("pairs", "match", "non-match"))
    print(f"exported {counts['pairs']} labelled pairs ({counts['match']} match, {counts['non-match']} non-match"
          f"{'; ' + detail if detail else ''})", file=sys.stderr)
    return 0


def _open_output(path: Path) -> IO[str]:
    if path.parent and not path.parent.exists():
        raise CliError(f"the output directory {path.parent} does not exist")
    try:
        return path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from exc


def _rescore(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from empi import rescore
    from scoring import ScorecardError, load_scorecard

    if args.chunk_size < 1 or args.sample < 0:
        raise CliError("--chunk-size must be at least 1 and --sample at least 0")
    try:
        card = load_scorecard(args.scorecard)
    except FileNotFoundError as exc:
        raise CliError(f"no scorecard file at {args.scorecard}") from exc
    except ScorecardError as exc:
        raise CliError(str(exc)) from exc
    rt = runtime_from(args)
    try:
        with rt.read() as session:
            total = rescore._count(session)
        bar = tqdm(total=total, unit="record", desc="dry run" if args.dry_run else "rescoring",
                   disable=args.quiet, file=sys.stderr)
        with bar:
            run = rescore.dry_run if args.dry_run else rescore.apply
            report = run(rt, card, chunk_size=args.chunk_size, sample_size=args.sample, progress=bar.update)
    finally:
        rt.close()
    _print_report(report, current=f"{rt.card.id} v{rt.card.version}")
    return 0


def _print_report(report: Any, *, current: str) -> None:
    verb = "would" if report.dry_run else "did"
    print(f"scorecard {report.card_id} v{report.card_version} (service card: {current}); "
          f"{'dry run, nothing changed' if report.dry_run else 'applied'}")
    print(f"records examined: {report.examined}; manual or merge links left alone: {report.kept_manual}; "
          f"unchanged: {report.unchanged}")
    labels = {"make": "join another person (link made)", "break": "leave their person (link broken)",
              "move": "move to another person", "review": "go to review (new card uncertain)"}
    for kind in ("make", "break", "move", "review"):
        print(f"  {report.counts.get(kind, 0):>7}  {verb} {labels[kind]}")
    if not report.dry_run:
        print(f"review tasks opened: {report.tasks_opened}")
    if report.sample:
        print("sample (internal record and person ids; scores old -> new):")
        for c in report.sample:
            to = "new person" if c.to_person is None and c.kind == "break" else (c.to_person or "-")
            why = f" ({c.reason})" if c.reason else ""
            print(f"  {c.kind:<6} record {c.record_id}: person {c.from_person} -> {to}; "
                  f"score {_fmt(c.old_score)} -> {_fmt(c.new_score)}{why}")


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.1f}"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export-labels", help="steward decisions as labelled record pairs (CSV with demographics)",
                       description="Write resolved review tasks, keep-apart decisions and manual links as "
                       "labelled pairs with both records' demographics, for scoring.tuning.load_labels. "
                       "The file holds patient data.")
    add_common(p)
    p.add_argument("--output", "-o", default="-", help="CSV file to write (default: standard output)")
    p.set_defaults(func=_export_labels)

    p = sub.add_parser("rescore", help="re-match automatic links with another scorecard",
                       description="Report (--dry-run) or apply the links a new scorecard would make or "
                       "break. Manual and merge links are left alone; uncertain records are queued for review.")
    add_common(p)
    p.add_argument("--scorecard", required=True, help="scorecard file (JSON) to re-score with")
    p.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    p.add_argument("--chunk-size", type=int, default=200, help="records per transaction (default 200)")
    p.add_argument("--sample", type=int, default=20, help="changes to list in the report (default 20)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_rescore)
