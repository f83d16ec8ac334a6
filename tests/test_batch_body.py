"""The batch POST body built from encoded pieces is the url-encoding of its form fields."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from hypothesis import given
from hypothesis import strategies as st

from exporter.batch import batch_body, form_encode
from exporter.redact import Secret
from tests.reference_batch import batch_form

# Everything that needs encoding at one level or the other: JSON's quote, backslash and
# control characters, the form's &, =, +, %, space, non-ASCII and astral characters.
_TEXT = st.text(alphabet=st.sampled_from(list("aZ09_.-~ &=+%?/,\"\\\n\x01éЖ€😀{}[]:")) | st.characters(exclude_categories=["Cs"]),
                max_size=12)
_PARAMS = st.dictionaries(_TEXT, _TEXT, max_size=4)
_TOKEN = st.builds(Secret, _TEXT | st.from_regex(r"EAA[A-Za-z0-9]{20,60}", fullmatch=True))
_OPERATION = st.tuples(_TEXT, _PARAMS, _TOKEN)


def _proof_of(token: Secret) -> str | None:
    return None if len(token.reveal()) % 3 == 0 else f"{len(token.reveal()):x}-proof {token.reveal()[:2]}"


@given(st.lists(_OPERATION, min_size=1, max_size=6), st.booleans())
def test_the_body_is_the_form_fields_url_encoded(operations: list[tuple[str, dict[str, str], Secret]],
                                                with_proof: bool) -> None:
    def proof(token: Secret) -> str | None:
        return _proof_of(token) if with_proof else None

    assert batch_body(operations, proof) == urlencode(batch_form(operations, proof)).encode()


def test_a_round_of_pages_shares_its_parameters_and_the_body_reads_back() -> None:
    params = {"metric": "page_messages_sent,page_messages_read_ratio", "period": "day",
              "since": "1780000000", "until": "1780600000", "breakdown": "messaging_channel"}
    operations = [(f"9{n:014d}/insights", params, Secret(f"EAAB{n:060d}")) for n in range(50)]
    body = batch_body(operations, lambda token: None)
    assert body == urlencode(batch_form(operations, lambda token: None)).encode()
    fields = parse_qs(body.decode(), strict_parsing=True)
    assert set(fields) == {"access_token", "batch", "include_headers"}
    assert form_encode(params.items()) == urlencode(params)
