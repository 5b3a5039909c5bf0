import pytest

from risk.templatetags.risk_badges import severity_badge


@pytest.mark.parametrize(("severity", "html"), [
    ("high", '<span class="badge text-bg-danger">high</span>'),
    ("moderate", '<span class="badge text-bg-warning">moderate</span>'),
    ("info", '<span class="badge text-bg-secondary">info</span>'),
    ("<script>", '<span class="badge text-bg-secondary">info</span>'),  # never echoed
])  # fmt: skip
def test_severity_badge(severity, html):
    assert severity_badge(severity) == html
