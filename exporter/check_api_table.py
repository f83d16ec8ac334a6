"""--check-api's output: one table (a row per Page, a row per metric entry under it), the
usage headers, and every problem with its fix. Scrubbed: no token can appear."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.check_api import ACCEPTED, UNANSWERED, ApiReport, PageReport
from exporter.check_api_fixes import Problem, moment
from exporter.redact import scrub

HEADER = ("PAGE / METRIC", "PERIOD", "RESULT", "TOKEN", "EXPIRES", "MISSING SCOPES", "SINGLE = BATCH")


def render(report: ApiReport, source: str) -> str:
    lines = [f"--check-api of {source}", "", *_api_lines(report), ""]
    lines += _table([HEADER, *(row for page in report.pages for row in _page_rows(page))])
    if report.one_token:
        lines += ["", "SINGLE = BATCH: with one token, the batch's fallback token is that same token: "
                  "this proves the batch format, not that each operation authenticates as its Page."]
    lines += ["", *_usage_lines(report), ""]
    problems = [*report.problems, *(p for page in report.pages for p in page.problems)]
    lines += _problem_lines(problems)
    return scrub("\n".join(lines)) + "\n"


def _api_lines(report: ApiReport) -> list[str]:
    answered = report.answered_version or "none (no answer)"
    checked = ("/debug_token with the app's token: validity, expiry and permissions"
               if report.app_checked else
               "not possible without graph_api.app_id and an app secret: validity only from the "
               "answers, no expiry or permissions")
    shown = f"{len(report.pages)} of {report.pages_total}"
    more = " (--check-api.pages=N checks more)" if len(report.pages) < report.pages_total else ""
    return [
        f"Graph API:    {report.base_url}  TLS: {'yes' if report.tls else 'no'}  "
        f"version asked: {report.version}  answered: {answered}",
        f"Token checks: {checked}",
        f"Pages:        {shown} checked{more}",
    ]


def _page_rows(page: PageReport) -> list[tuple[str, ...]]:
    name = f"{page.page.id} {page.page.name or ''}".strip() + (" (discovered)" if page.discovered else "")
    status = page.token_status
    token = {True: "valid", False: "INVALID", None: "unknown"}[page.token_valid]
    expires = "-" if status is None else ("never" if status.expires_at == 0 else moment(status.expires_at))
    missing = "-" if status is None else (",".join(sorted(status.missing_scopes)) or "none")
    if page.throttled_until is not None:
        result = f"THROTTLED until {moment(page.throttled_until)}"
    else:
        result = "OK" if page.ok else "FAIL"
    batch = page.batch if not page.batch.startswith("failed") else "FAILED"
    rows: list[tuple[str, ...]] = [(name, "", result, token, expires, missing,
                                    batch.upper() if batch == "differ" else batch)]
    for spec in page.page.metrics:
        verdict = page.verdicts.get(spec, UNANSWERED)
        breakdowns = f" by {','.join(spec.breakdowns)}" if spec.breakdowns else ""
        shown = verdict if verdict in (ACCEPTED, UNANSWERED) else verdict.upper()
        rows.append((f"  {spec.name}{breakdowns}", spec.period, shown, "", "", "", ""))
    return rows


def _usage_lines(report: ApiReport) -> list[str]:
    if not report.usage:
        return ["Usage now: no usage headers in the answers (Meta sends them once enough calls "
                "were made)"]
    lines = ["Usage now (percent of the quota, from the last answers' headers):"]
    by_scope: dict[tuple[str, str], list[str]] = {}
    for source, scope, kind, ratio in report.usage:
        by_scope.setdefault((source, scope), []).append(f"{kind} {ratio * 100:g}%")
    lines += [f"  {source}{f' {scope}' if scope else ''}: {', '.join(figures)}"
              for (source, scope), figures in sorted(by_scope.items())]
    return lines


def _problem_lines(problems: Sequence[Problem]) -> list[str]:
    fatal = [p for p in problems if p.fatal]
    if not problems:
        return ["All is well: every Page answered, every metric entry was accepted, and the "
                "batches agree with the single requests."]
    lines = []
    for problem in problems:
        lines += [f"{'error' if problem.fatal else 'warning'}: {problem.where}: {problem.what}",
                  f"  fix: {problem.fix}"]
    verdict = (f"{len(fatal)} problem(s) to fix" if fatal else "no errors") + (
        f", {len(problems) - len(fatal)} warning(s)" if len(problems) > len(fatal) else "")
    return [*lines, "", verdict]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]
