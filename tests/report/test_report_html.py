"""The HTML report: one self-contained page that hostile text cannot change."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from remediate.report.evidence import read_bundle
from remediate.report.render import render_html
from remediate.report.view import build_view
from tests.report.incident_journal import REPORTED, write_incident

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</td></tr></table><h1>Incident closed</h1>",
    "' onmouseover='alert(1)",
    "<svg onload=alert(1)>",
    "<a href=javascript:alert(1)>click</a>",
    "&lt;b&gt; already escaped",
    "\x1b]0;owned\x07 \x9b31m",
    "{{ 7 * 7 }} {% raw %}",
]
CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">"
)


class Structure(HTMLParser):
    """Collects every tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def html_of(directory: Path, hostile: str = "mallory") -> str:
    journal = write_incident(directory, hostile)
    return render_html(build_view(journal.records, REPORTED, read_bundle(directory / "evidence")))


def parse(html: str) -> Structure:
    structure = Structure()
    structure.feed(html)
    structure.close()
    return structure


def test_hostile_text_adds_no_markup(tmp_path: Path) -> None:
    baseline = parse(html_of(tmp_path / "plain")).tags

    for index, hostile in enumerate(HOSTILE):
        html = html_of(tmp_path / str(index), hostile)

        assert parse(html).tags == baseline, hostile
        assert re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", html) is None, hostile


def test_hostile_text_shown_as_text(tmp_path: Path) -> None:
    html = html_of(tmp_path, '<script>alert("x")</script> & \x1b[31m')

    text = "".join(parse(html).text)
    assert '<script>alert("x")</script> & \\x1b[31m' in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; \\x1b[31m" in html


def test_page_is_self_contained(tmp_path: Path) -> None:
    html = html_of(tmp_path)
    tags = parse(html).tags

    assert html.startswith("<!DOCTYPE html>\n")
    assert CSP in html
    assert {tag for tag, _ in tags} >= {"svg", "style", "table"}
    assert "script" not in {tag for tag, _ in tags}
    for tag, attributes in tags:
        for name, value in attributes:
            assert name not in {"src", "srcset", "action", "formaction"}, (tag, name)
            assert not name.startswith("on"), (tag, name)
            if name == "href":
                assert value is not None
                assert value.startswith("#"), (tag, value)
    assert "url(" not in html
    assert "@import" not in html


def test_chart_has_panels_and_window(tmp_path: Path) -> None:
    tags = parse(html_of(tmp_path)).tags

    svg = [dict(attributes) for tag, attributes in tags if tag == "svg"]
    assert svg == [
        {
            "id": "sending-chart",
            "xmlns": "http://www.w3.org/2000/svg",
            "width": "960",
            "height": "202.0",
            "viewbox": "0 0 960 202.0",
            "role": "img",
            "aria-labelledby": "sending-chart-title sending-chart-desc",
        }
    ]
    abuse = [dict(attributes) for tag, attributes in tags if ("class", "abuse") in attributes]
    assert abuse == [
        {"class": "abuse", "x": "932.9", "y": "22.0", "width": "4.0", "height": "60.0"}
    ]
    volume = [tag for tag, attributes in tags if ("class", "volume") in attributes]
    assert volume == ["path", "path"]


def test_print_styles_present(tmp_path: Path) -> None:
    html = html_of(tmp_path)

    assert "@media print {" in html
    assert "print-color-adjust: exact;" in html
