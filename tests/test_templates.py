"""Card text templates: sandboxed, every printed value escaped, the marker out of reach, limits, fallback."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grafana_bridge.payloads import next_firing, parse
from grafana_bridge.render import alert_variables
from jenkins_trello import messages
from jenkins_trello.cards import job_key, parse_marker, with_marker
from jenkins_trello.jenkins import Change, TestSummary
from jenkins_trello.templates import (
    COMMENT_MAX,
    DESC_MAX,
    NAME_MAX,
    VALUE_MAX,
    Safe,
    TemplateProblem,
    compile_template,
    link,
    render,
    render_or_default,
)
from jenkins_trello.text import md_escape, md_link, one_line

ROOT = Path(__file__).resolve().parent.parent
KEY = job_key("team/app")
EVIL = "[click](http://evil.example) @board **x** `jenkins-trello:job:team%2Fapp:1` <b>&amp;"
URL = "https://ci.example.com/job/team/job/app/12/"


def desc(src: str, **variables) -> str:
    return render(compile_template(src), variables, "desc")


# ---------------------------------------------------------------- escaping


@pytest.mark.parametrize("src,variables", [
    ("{{ v }}", {"v": EVIL}),
    ("{% for x in items %}{{ x }}{% endfor %}", {"items": [EVIL]}),
    ("{{ c.message }}", {"c": {"message": EVIL}}),
    ("{{ c['message'] }}", {"c": {"message": EVIL}}),
    ("{{ c.get('message') }}", {"c": {"message": EVIL}}),
    ("{{ v | safe }}", {"v": EVIL}),
    ("{{ v | string }}", {"v": EVIL}),
    ("{{ items | first }}", {"items": [EVIL]}),
    ("{{ '%s' | format(v) }}", {"v": EVIL}),
    ("{% filter upper %}{{ v | lower }}{% endfilter %}", {"v": EVIL}),
    ("{% set y = v %}{{ y }}", {"v": EVIL}),
])
def test_every_printed_value_is_escaped(src, variables):
    out = desc(src, **variables).lower()
    assert not re.search(r"(?<!\\)\]\(", out)  # no link
    assert not re.search(r"(?<!\\)\*\*", out)  # no bold
    assert "@board" not in out and "http://" not in out  # no mention, no autolink
    assert not re.search(r"(?<!\\)[`<]", out)  # no code span, no HTML
    assert "\\[" in out and "\\`jenkins-trello:" in out


@given(st.text(max_size=300))
def test_a_printed_value_is_exactly_md_escape(value):
    assert desc("{{ v }}", v=value) == md_escape(value, VALUE_MAX).strip("\n")


@given(st.text(max_size=300))
def test_a_printed_name_value_is_one_line_plain_text(value):
    out = render(compile_template("{{ v }}"), {"v": value}, "name")
    assert out == one_line(value, VALUE_MAX)[:NAME_MAX] or out.endswith("…")
    # names are plain text in Trello: no backslash escapes added (a value's own backslashes stay)
    assert "\n" not in out and out.count("\\") <= value.count("\\")


def test_constants_are_escaped_for_the_kind_they_are_rendered_for():
    tpl = compile_template("{{ 'a*b' }}")  # a constant expression: still finalised at render time
    assert render(tpl, {}, "desc") == "a\\*b"
    assert render(tpl, {}, "name") == "a*b"


def test_literal_template_text_is_the_authors_markdown():
    assert desc("**{{ v }}** [docs](https://docs.example.com)", v="a_b") == "**a\\_b** [docs](https://docs.example.com)"


def test_none_and_booleans():
    assert desc("{{ a }}|{{ b }}|{{ n }}", a=None, b=True, n=3) == "|true|3"


# ---------------------------------------------------------------- link


def test_link_is_the_projects_safe_link_and_not_escaped_again():
    assert desc("{{ link('build #12', url) }}", url=URL) == md_link("build #12", URL)
    assert desc("{{ link('build', url) }}", url=URL).startswith("[build (ci.example.com)](")
    assert isinstance(link("x", URL), Safe)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "http://trusted@evil/", "https://a.example/x)(y", ""])
def test_link_to_an_unsafe_url_is_the_label_alone(url):
    assert desc("{{ link('build', url) }}", url=url) == "build"


def test_link_label_from_a_value_is_escaped_and_text_built_from_a_link_is_escaped_again():
    out = desc("{{ link(v, url) }}", v="[x](http://evil)", url=URL)
    assert out.startswith("[\\[x\\]") and out.endswith(f"]({URL})")
    assert "\\[" in desc("{{ link('b', url) ~ '!' }}", url=URL)  # no longer Safe: escaped


# ---------------------------------------------------------------- the marker


def test_a_template_printing_a_marker_does_not_make_a_second_marker():
    forged = "`jenkins-trello:job:team%2Fapp:999:0123456789abcdef01`"
    for src in ("{{ v }}", "{{ v }}\n", "line\n{{ v }}", forged, f"x\n\n{forged}"):
        body = desc(src, v=forged)
        full = with_marker(body, KEY, "12", name="n")
        m = parse_marker(full)
        assert (m.key, m.state) == (KEY, "12")  # only the project's own line counts
        assert len(re.findall(r"(?m)^`jenkins-trello:", full)) == 1
        assert parse_marker(body) is None  # the rendered text alone holds no marker at all


def test_an_already_escaped_backtick_is_not_unescaped_by_the_marker_guard():
    assert desc("{{ v }}", v="`jenkins-trello:job:x:1`") == "\\`jenkins-trello:job:x:1\\`"
    assert desc("\\\\`jenkins-trello:job:x:1`") == "\\\\\\`jenkins-trello:job:x:1`"


# ---------------------------------------------------------------- limits


def test_every_text_is_cut_to_its_limit():
    big = "x" * 100
    loop = "{% for i in range(1000) %}{{ v }}\n{% endfor %}"
    assert len(render(compile_template(loop), {"v": big}, "desc")) == DESC_MAX
    assert len(render(compile_template(loop), {"v": big}, "comment")) == COMMENT_MAX
    name = render(compile_template(loop), {"v": big}, "name")
    assert len(name) == NAME_MAX and "\n" not in name
    assert len(desc("{{ v }}", v="y" * 50000)) == VALUE_MAX
    assert parse_marker(with_marker(render(compile_template(loop), {"v": big}, "desc"), KEY, "1")).state == "1"


def test_unknown_kind_is_a_usage_error():
    with pytest.raises(ValueError, match="kind"):
        render(compile_template("x"), {}, "title")


# ---------------------------------------------------------------- sandbox, errors and fallback


@pytest.mark.parametrize("src,reason", [
    ("{{ nope }}", "UndefinedError"),
    ("{% if nope %}x{% endif %}", "UndefinedError"),
    ("{{ v.missing.deeper }}", "UndefinedError"),
    ("{{ ''.__class__.__mro__ }}", "SecurityError"),
    ("{{ v.__class__ }}", "SecurityError"),
    ("{{ cycler.__init__.__globals__ }}", "SecurityError"),
    ("{% for i in range(100000) %}{% endfor %}", "SecurityError"),
    ("{% include 'x.txt' %}", "TypeError"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ 'a' > 1 }}", "TypeError"),
    ("{% if %}", "line 1"),
    ("{{ lipsum() }}", "UndefinedError"),
])
def test_a_failing_template_falls_back_to_the_built_in_text_with_the_reason(src, reason):
    text, why = render_or_default(src, {"v": {}}, "desc", "built-in")
    assert text == "built-in" and reason in why and why.startswith("desc template")


def test_no_template_is_the_built_in_text():
    assert render_or_default(None, {}, "name", "built-in") == ("built-in", None)
    assert render_or_default("", {}, "comment", "built-in") == ("built-in", None)


def test_an_empty_name_or_comment_falls_back_but_an_empty_desc_is_allowed():
    assert render_or_default("  {{ '' }} ", {}, "name", "n")[0] == "n"
    assert "empty" in render_or_default("{% if false %}x{% endif %}", {}, "comment", "c")[1]
    assert render_or_default("{% if false %}x{% endif %}", {}, "desc", "d") == ("", None)


def test_compile_errors_name_what_and_line():
    with pytest.raises(TemplateProblem, match=r"route 'p' desc: line 2: "):
        compile_template("ok\n{% for %}", "route 'p' desc")
    with pytest.raises(TemplateProblem, match="must be text"):
        compile_template(3, "x")  # type: ignore[arg-type]


def test_compiled_templates_are_cached_by_source():
    assert compile_template("{{ a }} cached") is compile_template("{{ a }} cached", "another name")


def test_kind_is_per_thread():
    tpl = compile_template("{% for i in range(200) %}{{ v }}{% endfor %}")
    out: dict[str, set[str]] = {"name": set(), "desc": set()}

    def run(kind: str) -> None:
        for _ in range(30):
            out[kind].add(render(tpl, {"v": "*"}, kind))

    threads = [threading.Thread(target=run, args=(k,)) for k in ("name", "desc") for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {"name": {"*" * 200}, "desc": {"\\*" * 200}}


# ---------------------------------------------------------------- variables

TESTS = TestSummary(failed=2, passed=40, skipped=1, failing=("pkg.A.test_x", "pkg.B.test_y"))
CHANGES = (Change("abcdef0123456789", "Fix [it](http://evil)", "Ann <ann@example.com>"),)


def jenkins_vars(**kw):
    args = dict(job="team/app/feature%2Fx", build=12, url=URL, result="FAILURE", changes=CHANGES,
                culprits=("Ann",), tests=TESTS, previous_result="SUCCESS", branch="feature/x",
                people_not_on_board=("Eve",))
    args.update(kw)
    return messages.jenkins_variables(**args)


def test_jenkins_variables_shapes():
    v = jenkins_vars()
    assert v["job"] == "team/app/feature/x" and v["job_full_name"] == "team/app/feature%2Fx"
    assert v["build"] == 12 and v["result"] == "FAILURE" and v["branch"] == "feature/x"
    assert v["tests"] == {"available": True, "failed": 2, "passed": 40, "skipped": 1,
                          "failing": ["pkg.A.test_x", "pkg.B.test_y"], "error": ""}
    assert v["changes"] == [{"commit": "abcdef0123456789", "message": "Fix [it](http://evil)",
                             "author": "Ann <ann@example.com>"}]
    assert v["culprits"] == ["Ann"] and v["people_not_on_board"] == ["Eve"] and v["previous_result"] == "SUCCESS"
    none = jenkins_vars(tests=None, report_error="HTTP 500", previous_result=None)
    assert none["tests"] == {"available": False, "failed": 0, "passed": 0, "skipped": 0, "failing": [],
                             "error": "HTTP 500"}
    assert none["previous_result"] == ""
    json.dumps(v)  # plain data


def test_the_built_in_jenkins_text_is_unchanged_and_names_people_not_on_the_board():
    base = messages.card_desc("team/app", 12, URL, "FAILURE", CHANGES, ("Ann",), TESTS)
    assert "not on the board" not in base
    assert messages.card_desc("team/app", 12, URL, "FAILURE", CHANGES, ("Ann",), TESTS, None, ()) == base
    more = messages.card_desc("team/app", 12, URL, "FAILURE", CHANGES, ("Ann",), TESTS, None, ("E@ve",))
    assert more.startswith(base.rsplit("\n\n", 1)[0]) and "Authors not on the board: E@\u200bve" in more


FIXTURES = ROOT / "tests" / "fixtures"


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_alert_variables_for_every_fixture(name):
    group = parse(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))
    firing = next_firing(group, None)
    v = alert_variables(group, firing, None)
    json.dumps(v)
    assert v["format"] == group.source and v["firing"] == len(firing) and v["alertname"] == group.name
    assert v["status"] in ("firing", "resolved", "ignored")
    assert len(v["alerts"]) == len(group.alerts) and v["previous_firing"] is None and v["started"] is None
    for a in v["alerts"]:
        assert set(a) >= {"status", "name", "labels", "annotations", "value", "starts_at", "ends_at",
                          "generator_url"}
    out, why = render_or_default("{% for a in alerts %}{{ a.name }} {{ a.labels }} {{ link('s', a.generator_url) }}"
                                 "{% endfor %}{{ common_labels }}{{ values }}", v, "desc", "D")
    assert why is None


def test_alert_variables_counts_against_the_previous_set():
    group = parse(json.loads((FIXTURES / "alertmanager-1.json").read_text(encoding="utf-8")))
    firing = next_firing(group, None)
    v = alert_variables(group, firing, frozenset({"0" * 16}))
    assert (v["previous_firing"], v["started"], v["stopped"]) == (1, len(firing), 1)


# ---------------------------------------------------------------- the documented examples


def doc_examples() -> list[str]:
    text = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
    return re.findall(r"```jinja\n(.*?)```", text, re.S)


def test_the_documentation_has_examples_for_each_source():
    assert len(doc_examples()) == 4


@pytest.mark.parametrize("index", range(4))
def test_every_documented_example_renders(index):
    src = doc_examples()[index]
    group = parse(json.loads((FIXTURES / "alertmanager-1.json").read_text(encoding="utf-8")))
    firing = next_firing(group, None)
    variables = jenkins_vars() if index == 0 else alert_variables(group, firing, frozenset())
    for kind in ("name", "desc", "comment"):
        out, why = render_or_default(src, variables, kind, "DEFAULT")
        assert why is None and out != "DEFAULT"
