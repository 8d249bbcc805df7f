from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export.testing import capture_events


def test_evaluation_is_captured_with_schema_columns() -> None:
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("on", {"on": True, "off": False})}))
    with capture_events() as captured:
        assert api.get_client().get_boolean_value("f", False, EvaluationContext("u1")) is True
        rows = captured.evaluations()
    assert len(rows) == 1
    assert rows[0]["flag_key"] == "f"
    assert rows[0]["value"] == "true"
    assert rows[0]["variant"] == "on"
    assert rows[0]["targeting_key"] == "u1"
    assert rows[0]["vendor"] == "in-memory"
