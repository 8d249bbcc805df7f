"""ContextPolicy: allow/deny lists and LaunchDarkly-style private attributes never reach a row."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export import ContextPolicy, EventExporter, Hashing, InMemorySink
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


# -- dotted paths ---------------------------------------------------------------------------

NESTED = {
    "kind": "user",
    "email": "ada@example.com",
    "address": {"street": "1 rue X", "city": "Paris", "geo": {"lat": 48.8, "lon": 2.3}},
    "devices": [{"id": "d1", "serial": "S-1"}, {"id": "d2", "serial": "S-2"}, "plain"],
    "user.email": "literal@example.com",
}


def test_deny_by_dotted_path_removes_nested_values_and_copies() -> None:
    policy = ContextPolicy(deny={"address.street", "address.geo.lat", "devices.serial"})
    kept = policy.apply(NESTED)
    assert kept["address"] == {"city": "Paris", "geo": {"lon": 2.3}}
    assert kept["devices"] == [{"id": "d1"}, {"id": "d2"}, "plain"]
    assert NESTED["address"]["street"] == "1 rue X"  # type: ignore[index]
    assert NESTED["devices"][0] == {"id": "d1", "serial": "S-1"}  # type: ignore[index]


def test_a_dotted_name_still_matches_a_top_level_key_spelt_with_dots() -> None:
    """Backward compatible: before dotted paths, deny={"user.email"} removed that top-level key."""
    kept = ContextPolicy(deny={"user.email"}).apply(NESTED)
    assert "user.email" not in kept and kept["email"] == "ada@example.com"


def test_allow_by_dotted_path_keeps_only_the_named_nested_values() -> None:
    kept = ContextPolicy(allow={"kind", "address.city", "devices.id"}, honour_private_attributes=False).apply(
        NESTED
    )
    assert kept == {"kind": "user", "address": {"city": "Paris"}, "devices": [{"id": "d1"}, {"id": "d2"}]}


def test_a_shorter_path_covers_the_longer_ones() -> None:
    kept = ContextPolicy(deny={"address.geo.lat", "address"}).apply(NESTED)
    assert "address" not in kept
    kept = ContextPolicy(allow={"address", "address.city"}).apply(NESTED)
    assert kept == {"address": NESTED["address"]}


def test_hashed_paths_without_a_hasher_are_removed_not_written_in_clear() -> None:
    kept = ContextPolicy(hashed={"email", "address.street"}).apply(NESTED)
    assert "email" not in kept and "street" not in kept["address"]


# -- keyed hashing --------------------------------------------------------------------------

SECRET = "correct horse battery staple 0123456789"


def _hmac(text: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _export(**options: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("on", {"on": True})}))
    with capture_events(**options) as captured:
        for _ in range(2):  # the second evaluation takes the cached fast path
            api.get_client().get_boolean_value("f", False, EvaluationContext("ada@example.com", NESTED))
        captured.exporter.track(
            "purchase",
            EvaluationContext("ada@example.com", NESTED),
            5.0,
            {"card": {"last4": "4242", "brand": "visa"}, "coupon": "SPRING", "items": 3},
        )
        rows = captured.rows()
        stats = dict(captured.exporter.stats())
    return rows, stats


def test_hashing_the_targeting_key_and_attributes_with_a_key_id() -> None:
    rows, stats = _export(
        hashing=Hashing(SECRET, key_id="2026-11"),
        context_policy=ContextPolicy(hashed={"email", "address.street"}),
        attributes_policy=ContextPolicy(deny={"coupon"}, hashed={"card.last4"}),
    )
    assert len(rows) == 3 and stats["hashed"] == 3
    for row in rows:
        assert row["hash_key_id"] == "2026-11"
        assert row["targeting_key"] == _hmac("ada@example.com")
        context = json.loads(row["context"])
        # A hashed e-mail attribute equals the hashed targeting key that is the same e-mail.
        assert context["email"] == row["targeting_key"]
        assert context["address"]["street"] == _hmac("1 rue X")
        assert context["address"]["city"] == "Paris"
    (track,) = [r for r in rows if r["kind"] == "track"]
    assert json.loads(track["attributes"]) == {"card": {"last4": _hmac("4242"), "brand": "visa"}, "items": 3}


def test_non_string_values_are_hashed_as_their_sorted_json() -> None:
    rows, _ = _export(hashing=Hashing(SECRET), context_policy=ContextPolicy(hashed={"address.geo"}))
    assert json.loads(rows[0]["context"])["address"]["geo"] == _hmac('{"lat":48.8,"lon":2.3}')


def test_key_id_is_derived_from_the_secret_when_not_given_and_changes_with_it() -> None:
    first, second = Hashing(SECRET), Hashing(SECRET + "!")
    assert first.key_id.startswith("k-") and first.key_id != second.key_id
    assert first.key_id == Hashing(SECRET).key_id
    rows, _ = _export(hashing=Hashing(SECRET + "!"))
    assert {r["hash_key_id"] for r in rows} == {second.key_id}
    assert rows[0]["targeting_key"] == _hmac("ada@example.com", SECRET + "!")


def test_only_attributes_hashed_when_the_targeting_key_is_kept() -> None:
    rows, stats = _export(
        hashing=Hashing(SECRET, targeting_key=False), context_policy=ContextPolicy(hashed={"email"})
    )
    assert rows[0]["targeting_key"] == "ada@example.com"
    assert json.loads(rows[0]["context"])["email"] == _hmac("ada@example.com")
    assert stats["hashed"] == 3


def test_no_hashing_means_null_key_id_and_zero_counts() -> None:
    rows, stats = _export()
    assert {r["hash_key_id"] for r in rows} == {None} and {r["sample_rate"] for r in rows} == {None}
    assert {k: stats[k] for k in ("filtered", "hashed", "deduplicated", "sampled_out")} == dict.fromkeys(
        ("filtered", "hashed", "deduplicated", "sampled_out"), 0
    )


def test_the_secret_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    hashing = Hashing(SECRET)
    assert SECRET not in repr(hashing) and SECRET not in str(hashing)
    assert SECRET not in repr(hashing.hasher())
    with pytest.raises(ValueError) as error:
        Hashing("tiny-pass")
    assert "tiny-pass" not in str(error.value)
    rows, _ = _export(hashing=hashing)
    assert SECRET not in json.dumps(rows) and SECRET not in caplog.text


def test_hashed_paths_need_a_key() -> None:
    with pytest.raises(ValueError, match="hashing=Hashing"):
        EventExporter(InMemorySink(), context_policy=ContextPolicy(hashed={"email"}), register_atexit=False)


# -- environment variables ------------------------------------------------------------------


def test_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENFEATURE_S3_EXPORT_HASH_SECRET", SECRET)
    monkeypatch.setenv("OPENFEATURE_S3_EXPORT_HASH_KEY_ID", "env-key")
    monkeypatch.setenv("OPENFEATURE_S3_EXPORT_CONTEXT_DENY", "address.geo, devices")
    monkeypatch.setenv("OPENFEATURE_S3_EXPORT_CONTEXT_HASH", "email")
    rows, _ = _export()
    assert rows[0]["hash_key_id"] == "env-key" and rows[0]["targeting_key"] == _hmac("ada@example.com")
    context = json.loads(rows[0]["context"])
    assert context["email"] == _hmac("ada@example.com")
    assert "devices" not in context and "geo" not in context["address"]
    # An argument wins over the environment.
    rows, _ = _export(context_policy=ContextPolicy(deny={"email"}))
    assert "email" not in json.loads(rows[0]["context"]) and "devices" in json.loads(rows[0]["context"])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENFEATURE_S3_EXPORT_SAMPLE_RATE", "1.5"),
        ("OPENFEATURE_S3_EXPORT_DEDUP_WINDOW", "soon"),
        ("OPENFEATURE_S3_EXPORT_EXPERIMENTS_ONLY", "maybe"),
        ("OPENFEATURE_S3_EXPORT_HASH_SECRET", "tiny-pass"),
    ],
)
def test_a_bad_environment_value_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name) as error:
        EventExporter(InMemorySink(), register_atexit=False)
    if name.endswith("SECRET"):
        assert value not in str(error.value).replace("$" + name, "")


def test_sinks_that_shard_by_targeting_key_get_the_hashed_key() -> None:
    """Kinesis partitions by the line's routing key: the clear key must not travel there."""
    from openfeature_s3_export._capture import track_record
    from openfeature_s3_export._gate import Gate
    from openfeature_s3_export._rows import RowBuilder
    from openfeature_s3_export._source import Source

    rows = RowBuilder(Source(host="h"), gate=Gate(hashing=Hashing(SECRET)))
    line = rows.encode_gated(track_record("buy", None, None, "ada@example.com", None, None, None))
    assert line is not None and line.routing_key == _hmac("ada@example.com")
    assert b"ada@example.com" not in line.data
