"""``nurture forms snippet KEY``: an embeddable form, every text from the definition escaped."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nurture.cli import main
from nurture.definitions.form import Form
from nurture.forms.snippet import form_snippet
from tests.forms.conftest import write_forms_workspace

TRICKY = Form.model_validate(
    {
        "kind": "Form",
        "key": "tricky",
        "fields": [
            {"name": "email", "maps_to": "email", "type": "email", "required": True, "label": 'E-Mail "<b>"'},
            {"name": "size", "maps_to": "attributes.size", "type": "choice", "choices": ["<10", "10-50"]},
        ],
        "consent": {"text": "Ich stimme zu <script>alert(1)</script> & mehr", "version": "v1"},
        "thank_you": "https://www.example.com/danke",
        "submit_label": "Los <jetzt>",
    }
)


def test_every_text_is_escaped_and_the_honeypot_is_hidden_by_css() -> None:
    html = form_snippet(TRICKY, "https://n.example/", "de")
    assert html.startswith('<form class="nurture-form" action="https://n.example/forms/tricky" method="post"')
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; mehr" in html
    assert "E-Mail &#34;&lt;b&gt;&#34;" in html
    assert '<option value="&lt;10">&lt;10</option>' in html
    assert "Los &lt;jetzt&gt;" in html
    assert 'type="hidden"' not in html
    assert (
        '<div class="nurture-hp" aria-hidden="true">' in html
        and 'name="website" type="text" tabindex="-1"' in html
    )
    assert (
        '<label for="nf-tricky-email">' in html and 'id="nf-tricky-email" name="email" type="email"' in html
    )
    assert 'name="consent" type="checkbox" value="on" required' in html


def test_the_command_prints_the_snippet_or_names_the_nearest_form(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_forms_workspace(root, f"sqlite:///{tmp_path / 'n.db'}")
    runner = CliRunner()
    done = runner.invoke(main, ["--workspace", str(root), "forms", "snippet", "newsletter", "--lang", "en"])
    assert done.exit_code == 0, done.output
    assert 'action="https://nurture.taktwerk.example/forms/newsletter"' in done.output
    assert '<button type="submit">Submit</button>' in done.output
    wrong = runner.invoke(main, ["--workspace", str(root), "forms", "snippet", "newsleter"])
    assert wrong.exit_code == 1 and "no form 'newsleter'; did you mean 'newsletter'?" in wrong.output
