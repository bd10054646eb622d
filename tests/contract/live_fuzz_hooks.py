"""schemathesis hooks for the live fuzzing run (loaded by `st run` through SCHEMATHESIS_HOOKS).

Streaming answers (`"stream": true` on the AI routes) are server-sent events that stay open while
the model writes; they have tests of their own, so generated requests ask for the JSON answer.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    """Turn `"stream": true` into `false`: everything else about the request is kept."""
    if isinstance(case.body, dict) and case.body.get("stream") is True:
        case.body["stream"] = False
