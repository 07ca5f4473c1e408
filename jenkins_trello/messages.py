"""What a person reads on a Jenkins card: name, description and comments (pure).

The failure card answers the first questions: which build, which tests fail,
which changes went in and who made them. Everything from Jenkins (job, test and
suite names, commit messages, authors, error details) is escaped as card text,
and links show their own host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .cards import display_job
from .jenkins import Change, TestSummary
from .text import NAME_LIMIT, clip, md_escape, md_link, one_line

MAX_CHANGES = 15


def build_link(build: int, url: str) -> str:
    """``#12`` linked to the build, the link showing Jenkins' host; plain ``#12`` when the URL is not safe."""
    return md_link(f"#{build}", url) if url else f"#{build}"


def card_name(job: str, build: int, result: str) -> str:
    """``team/app #12 failed`` (the job's full name, ``%2F`` shown as ``/``)."""
    word = "unstable" if result == "UNSTABLE" else "failed"
    return clip(one_line(f"{display_job(job)} #{build} {word}", NAME_LIMIT), 500)


def fixed_name(job: str, opened: str, build: int) -> str:
    """``team/app #12 fixed in #14``: the title of a card whose job passes again (``opened``: the marker's state)."""
    first = f" #{opened}" if opened.isdigit() else ""
    return clip(one_line(f"{display_job(job)}{first} fixed in #{build}", NAME_LIMIT), 500)


def _changes(changes: Sequence[Change]) -> list[str]:
    if not changes:
        return ["No changes since the previous build."]
    lines = [f"**Changes** ({len(changes)}):"]
    for ch in changes[:MAX_CHANGES]:
        commit = md_escape(ch.commit[:10], 12)
        lines.append(f"- {md_escape(ch.message, 200)} ({md_escape(ch.author, 80)}{', ' + commit if commit else ''})")
    if len(changes) > MAX_CHANGES:
        lines.append(f"- … and {len(changes) - MAX_CHANGES} more")
    return lines


def _tests(tests: TestSummary | None, report_error: str | None) -> list[str]:
    if report_error:
        return [f"Test report unavailable: {md_escape(report_error, 200)}"]
    if tests is None:
        return ["No test report for this build."]
    if not tests.failed:
        return [f"Tests: none failing ({tests.passed} passed, {tests.skipped} skipped)."]
    lines = [f"**Failing tests: {tests.failed}** ({tests.passed} passed, {tests.skipped} skipped)"]
    lines += [f"- {md_escape(name, 200)}" for name in tests.failing]  # suite and test names come from the build
    if tests.failed > len(tests.failing):
        lines.append(f"- … and {tests.failed - len(tests.failing)} more")
    return lines


def card_desc(job: str, build: int, url: str, result: str, changes: Sequence[Change],
              culprits: Sequence[str], tests: TestSummary | None, report_error: str | None = None,
              people_not_on_board: Sequence[str] = ()) -> str:
    """The failure card's body; ``people_not_on_board`` (authors who could not be made members) get a line."""
    lines = [
        f"Jenkins job **{md_escape(display_job(job), 300)}** build {build_link(build, url)} ended **{result}**.",
        "",
        *_tests(tests, report_error),
        "",
        *_changes(changes),
    ]
    if culprits:
        lines += ["", "Authors since the last success: " + ", ".join(md_escape(c, 80) for c in culprits[:20])]
    if people_not_on_board:
        lines += ["", not_on_board(people_not_on_board)]
    lines += ["", "_Opened by jenkins-trello; commented while the job keeps failing, archived when it passes._"]
    return "\n".join(lines)


def _failure_comment(lead: str, build: int, url: str, result: str, changes: Sequence[Change]) -> str:
    head = f"{lead}: build {build_link(build, url)} ended **{result}**."
    if changes:
        who = sorted({md_escape(c.author, 80) for c in changes})
        head += f" {len(changes)} new change(s) by {', '.join(who[:10])}."
    return head


def still_failing(job: str, build: int, url: str, result: str, changes: Sequence[Change]) -> str:
    return _failure_comment("Still failing", build, url, result, changes)


def fixed(job: str, build: int, url: str, action: str = "archive", fix_list: str = "") -> str:
    """The comment when the job passes again; what happens next follows the route's ``on_fix``."""
    head = f"Fixed: build {build_link(build, url)} passed."
    if action == "move":
        return f"{head} Moving this card to {md_escape(fix_list, 200)}; it comes back if the job fails again."
    if action == "comment":
        return f"{head} This card stays here; it comes back into play if the job fails again."
    return f"{head} Archiving this card."


def failing_again(job: str, build: int, url: str, result: str, changes: Sequence[Change]) -> str:
    """The comment on a card that comes back (it was marked fixed, or archived within ``reopen_within``)."""
    return _failure_comment("Failing again", build, url, result, changes)


def moved_route(job: str, url: str) -> str:
    """The comment on a card left on a board its job's route no longer uses, before it is archived."""
    where = md_link("the card on the route's board", url) if url else "the card on the route's board"
    return (f"The route of **{md_escape(display_job(job), 300)}** now uses another board, which has its card: "
            f"{where} (found by reconcile). Archiving this one.")


def reconciled_fixed(build: int, url: str) -> str:
    return f"The job's last completed build {build_link(build, url)} passed (found by reconcile). Archiving this card."


def reconciled_gone(job: str) -> str:
    return f"Job **{md_escape(display_job(job), 300)}** no longer exists in Jenkins (found by reconcile). Archiving."


def jenkins_variables(job: str, build: int, url: str, result: str, changes: Sequence[Change] = (),
                      culprits: Sequence[str] = (), tests: TestSummary | None = None,
                      report_error: str | None = None, previous_result: str | None = None, branch: str = "",
                      people_not_on_board: Sequence[str] = ()) -> dict[str, Any]:
    """The variables a Jenkins route's templates see, as plain values (pure; see docs/templates.md).

    Raw values: ``templates`` escapes each one when it is printed. ``tests`` is
    always a mapping (zeros and ``available: false`` without a report) so a
    template can use ``tests.failed`` without first asking whether there is a
    report; ``job`` is the name people read (``%2F`` shown as ``/``),
    ``job_full_name`` the name as Jenkins spells it.
    """
    return {
        "job": display_job(job),
        "job_full_name": job,
        "build": build,
        "result": result,
        "url": url,
        "branch": branch,
        "previous_result": previous_result or "",
        "tests": {
            "available": tests is not None,
            "failed": tests.failed if tests else 0,
            "passed": tests.passed if tests else 0,
            "skipped": tests.skipped if tests else 0,
            "failing": list(tests.failing) if tests else [],
            "error": report_error or "",
        },
        "changes": [{"commit": c.commit, "message": c.message, "author": c.author} for c in changes],
        "culprits": list(culprits),
        "people_not_on_board": list(people_not_on_board),
    }


def not_on_board(people: Sequence[str]) -> str:
    """The line naming authors who could not be put on the card ("" when there are none)."""
    if not people:
        return ""
    return "Authors not on the board: " + ", ".join(md_escape(p, 80) for p in people[:20])
