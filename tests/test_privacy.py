"""ContextPolicy: allow/deny lists and LaunchDarkly-style private attributes never reach a row."""

from __future__ import annotations

import json

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export import ContextPolicy
from openfeature_s3_export.testing import capture_events

CONTEXT = {
    "email": "ada@example.com",
    "country": "fr",
    "plan": "pro",
    "address": {"street": "1 rue X", "city": "Paris"},
    "privateAttributes": ["plan", "/address/street"],
}


def _context_column(policy: ContextPolicy | None) -> dict[str, object]:
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("on", {"on": True})}))
    options = {} if policy is None else {"context_policy": policy}
    with capture_events(**options) as captured:
        for _ in range(2):  # the second evaluation takes the cached fast path
            api.get_client().get_boolean_value("f", False, EvaluationContext("user-1", CONTEXT))
        captured.exporter.track("purchase", EvaluationContext("user-1", CONTEXT), 5.0)
        rows = captured.rows()
    contexts = [json.loads(r["context"]) for r in rows]
    assert contexts[0] == contexts[1] == contexts[2]
    assert all(r["targeting_key"] == "user-1" for r in rows)  # the unit of analysis is kept
    return contexts[0]


def test_default_honours_private_attributes() -> None:
    assert _context_column(None) == {
        "email": "ada@example.com",
        "country": "fr",
        "address": {"city": "Paris"},
    }


def test_deny_list() -> None:
    assert _context_column(ContextPolicy(deny={"email"})) == {"country": "fr", "address": {"city": "Paris"}}


def test_allow_list_wins_over_everything_else() -> None:
    assert _context_column(ContextPolicy(allow={"country", "plan"}, deny={"plan"})) == {"country": "fr"}


def test_keep_everything_when_asked() -> None:
    assert _context_column(ContextPolicy(honour_private_attributes=False)) == CONTEXT


def test_the_apps_context_is_not_modified() -> None:
    _context_column(None)
    assert CONTEXT["address"] == {"street": "1 rue X", "city": "Paris"}


def test_removing_a_nested_private_attribute_copies_instead_of_mutating() -> None:
    """Copy-on-write: a ``/a/b`` reference removes the key from a copy of each dict on its path.

    A nested dict can be shared: between the app's context and the row (when nothing upstream
    copies it), or between two contexts and so two rows.  Mutating it in place would strip the
    key from the other holder too.
    """
    address = {"street": "1 rue X", "city": "Paris", "geo": {"lat": 48.8, "lon": 2.3}}
    redacted = {"address": address, "privateAttributes": ["/address/street", "/address/geo/lat"]}
    public = {"address": address}  # another context (another row) holding the same dict
    policy = ContextPolicy()
    assert policy.apply(redacted) == {"address": {"city": "Paris", "geo": {"lon": 2.3}}}
    assert address == {"street": "1 rue X", "city": "Paris", "geo": {"lat": 48.8, "lon": 2.3}}
    assert policy.apply(public) is public, "nothing to remove: the input as it is"
    assert public["address"]["street"] == "1 rue X"
    assert redacted["address"] is address


def test_two_rows_sharing_a_nested_dict_are_redacted_independently() -> None:
    """The same nested dict in two contexts: only the context that lists it private loses it."""
    address = {"street": "1 rue X", "city": "Paris"}
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("on", {"on": True})}))
    with capture_events() as captured:
        captured.exporter.track(
            "a", EvaluationContext("u1", {"address": address, "privateAttributes": ["/address/street"]})
        )
        captured.exporter.track("b", EvaluationContext("u2", {"address": address}))
        contexts = [json.loads(r["context"]) for r in captured.rows()]
    assert contexts == [{"address": {"city": "Paris"}}, {"address": {"street": "1 rue X", "city": "Paris"}}]
    assert address == {"street": "1 rue X", "city": "Paris"}
