"""What a person reads on a Jenkins card: name, description and comments (pure).

The failure card answers the first questions: which build, which tests fail,
which changes went in and who made them. Everything from Jenkins (job, test and
suite names, commit messages, authors, error details) is escaped as card text,
and links show their own host.
"""

from __future__ import annotations

from collections.abc import Sequence

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
              culprits: Sequence[str], tests: TestSummary | None, report_error: str | None = None) -> str:
    lines = [
        f"Jenkins job **{md_escape(display_job(job), 300)}** build {build_link(build, url)} ended **{result}**.",
        "",
        *_tests(tests, report_error),
        "",
        *_changes(changes),
    ]
    if culprits:
        lines += ["", "Authors since the last success: " + ", ".join(md_escape(c, 80) for c in culprits[:20])]
    lines += ["", "_Opened by jenkins-trello; commented while the job keeps failing, archived when it passes._"]
    return "\n".join(lines)


def still_failing(job: str, build: int, url: str, result: str, changes: Sequence[Change]) -> str:
    head = f"Still failing: build {build_link(build, url)} ended **{result}**."
    if changes:
        who = sorted({md_escape(c.author, 80) for c in changes})
        head += f" {len(changes)} new change(s) by {', '.join(who[:10])}."
    return head


def fixed(job: str, build: int, url: str) -> str:
    return f"Fixed: build {build_link(build, url)} passed. Archiving this card."


def reconciled_fixed(build: int, url: str) -> str:
    return f"The job's last completed build {build_link(build, url)} passed (found by reconcile). Archiving this card."


def reconciled_gone(job: str) -> str:
    return f"Job **{md_escape(display_job(job), 300)}** no longer exists in Jenkins (found by reconcile). Archiving."
