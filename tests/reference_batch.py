"""The form fields of a batch POST, written plainly: what exporter.batch.batch_body must
url-encode, byte for byte (tests/test_batch_body.py), and the texts the scrubber must
clean (tests/test_units.py). Not shipped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from exporter.batch import relative_url
from exporter.redact import Secret


def batch_form(
    operations: Sequence[tuple[str, dict[str, str], Secret]],
    proof: Callable[[Secret], str | None],
) -> dict[str, str]:
    """The form fields of a batch POST for (relative path, params, token) operations."""
    def credentials(token: Secret) -> dict[str, str]:
        token_proof = proof(token)
        return {"access_token": token.reveal(), **({"appsecret_proof": token_proof} if token_proof is not None else {})}

    batch = [{"method": "GET", "relative_url": relative_url(path, {**params, **credentials(token)})}
             for path, params, token in operations]
    return {**{"access_token": operations[0][2].reveal(), "batch": json.dumps(batch, separators=(",", ":")),
               "include_headers": "true"},
            **({"appsecret_proof": top} if (top := proof(operations[0][2])) is not None else {})}
