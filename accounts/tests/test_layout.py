"""{% stacked %}: the column headings copied onto the body cells for the tablet's card layout."""

from django.template import Context, Template

from accounts.templatetags.layout import label_cells


def test_each_table_labels_its_cells_with_its_own_headings():
    html = label_cells(
        "<table><thead><tr><th>When</th><th>Who</th></tr></thead><tbody><tr><td>09:00</td><td>Ana</td></tr></tbody>"
        "</table><table><thead><tr><th scope='col'>Lot</th><th>Expiry</th></tr></thead>"
        "<tbody><tr><td>A1</td><td>2027-01-01</td></tr></tbody></table>"
    )
    assert '<td data-label="When">09:00</td><td data-label="Who">Ana</td>' in html
    assert '<td data-label="Lot">A1</td><td data-label="Expiry">2027-01-01</td>' in html


def test_spans_row_headers_and_footers_follow_the_columns():
    html = label_cells(
        "<table><thead><tr><th>Measure</th><th>Baseline</th><th>Visit</th></tr></thead><tbody>"
        '<tr><th scope="row">CK</th><td>980</td><td>900</td></tr>'
        '<tr><td colspan="3">No visits yet.</td></tr></tbody>'
        '<tfoot><tr><th colspan="2">Total</th><td>40</td></tr></tfoot></table>'
    )
    assert '<th scope="row" data-label="Measure">CK</th><td data-label="Baseline">980</td>' in html
    assert '<td colspan="3">No visits yet.</td>' in html  # a message across the row is not a value
    assert '<th colspan="2" data-label="Measure">Total</th><td data-label="Visit">40</td>' in html


def test_headings_are_plain_escaped_text_and_hidden_words_count():
    html = label_cells(
        '<table><thead><tr><th>Dose <span class="unit">g &amp; mL</span></th>'
        '<th><span class="visually-hidden">Correction</span></th></tr></thead>'
        '<tbody><tr><td>1</td><td><a href="/void">Void</a></td></tr></tbody></table>'
    )
    assert '<td data-label="Dose g &amp; mL">1</td>' in html
    assert '<td data-label="Correction"><a href="/void">Void</a></td>' in html


def test_the_tag_is_a_builtin_and_leaves_a_table_without_headings_alone():
    template = Template("{% stacked %}<table><tbody><tr><td>{{ value }}</td></tr></tbody></table>{% endstacked %}")
    assert template.render(Context({"value": "<b>"})) == "<table><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>"
