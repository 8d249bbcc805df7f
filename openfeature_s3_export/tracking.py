"""``TrackingProvider``: records ``client.track`` calls, which OpenFeature hooks never see."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.hook import Hook
from openfeature.provider import FeatureProvider, Metadata
from openfeature.track import TrackingEventDetails

from ._capture import track_record

if TYPE_CHECKING:
    from .exporter import EventExporter, Intake


def record_track(
    intake: Intake,
    event_name: str,
    evaluation_context: Any,
    value: float | None,
    attributes: Mapping[str, Any] | None,
    provider_name: str | None,
    domain: str | None,
) -> None:
    """Capture a track event for ``EventExporter.track``; never raises.

    ``evaluation_context`` is merged over the OpenFeature API and transaction contexts, as
    ``client.track`` does.
    """
    try:
        context = _merged_context(evaluation_context)
        intake.submit(
            track_record(
                event_name,
                provider_name,
                domain,
                context.targeting_key,
                context.attributes,
                value,
                attributes,
            )
        )
    except Exception:
        intake.capture_failed()


def _merged_context(evaluation_context: Any) -> Any:
    """API context → transaction context → the given one, as ``client.track`` merges them."""
    context = api.get_evaluation_context().merge(api.get_transaction_context())
    if evaluation_context is not None:
        context = context.merge(evaluation_context)
    return context if context is not None else EvaluationContext()


class TrackingProvider:
    """Wraps any OpenFeature provider so that every ``client.track(...)`` is exported.

    The OpenFeature spec gives hooks no view of ``track``: only the provider sees it.  This
    wrapper records the event first, then forwards it to the wrapped provider when that
    provider implements tracking (LaunchDarkly does; Split and flagd do not, and the event is
    still recorded).  A provider whose ``track`` raises never breaks the caller.  Everything
    else (evaluation, lifecycle, metadata, provider hooks, provider events) is delegated, so the
    client sees the wrapped provider's status and metadata as this wrapper's.

    .. code-block:: python

        api.set_provider_and_wait(TrackingProvider(LaunchDarklyProvider(client), exporter))

    .. versionadded:: 0.1.0
    """

    def __init__(self, provider: FeatureProvider, exporter: EventExporter) -> None:
        self.provider = provider
        self._intake = exporter.intake

    def __getattr__(self, name: str) -> Any:
        # Vendor-specific extras (LaunchDarkly's client, flagd's options...) stay reachable.
        if name == "provider":  # not set yet (copy/pickle): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.provider, name)

    # -- tracking ---------------------------------------------------------------------------

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """Record the event, then forward it to the wrapped provider; never raises."""
        try:
            context = evaluation_context or EvaluationContext()
            details = tracking_event_details
            self._intake.submit(
                track_record(
                    tracking_event_name,
                    self._provider_name(),
                    None,
                    context.targeting_key,
                    context.attributes,
                    details.value if details is not None else None,
                    details.attributes if details is not None else None,
                )
            )
        except Exception:
            self._intake.capture_failed()
        forward = getattr(self.provider, "track", None)
        if forward is None:
            return
        try:
            forward(tracking_event_name, evaluation_context, tracking_event_details)
        except Exception as exc:  # client.track does not catch: a broken vendor track must not leak
            # Counted here, logged by the worker: a logging handler may do I/O.
            self._intake.vendor_track_failed(type(self.provider).__name__, exc)

    def _provider_name(self) -> str | None:
        try:
            return self.provider.get_metadata().name
        except Exception:
            return None

    # -- lifecycle and events ---------------------------------------------------------------

    def attach(
        self,
        on_emit: Callable[[FeatureProvider, ProviderEvent, ProviderEventDetails], None],
    ) -> None:
        """Re-bind the wrapped provider's events so they are reported as this wrapper's.

        The registry keys provider status by object: forwarding ``on_emit`` unchanged would
        record READY/STALE/ERROR under the inner provider and the client would never see them.
        """
        self.provider.attach(lambda _inner, event, details: on_emit(self, event, details))

    def detach(self) -> None:
        """Detach the wrapped provider from the event registry."""
        self.provider.detach()

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Initialise the wrapped provider."""
        self.provider.initialize(evaluation_context)

    def shutdown(self) -> None:
        """Shut the wrapped provider down (the exporter has its own lifecycle)."""
        self.provider.shutdown()

    def get_metadata(self) -> Metadata:
        """The wrapped provider's metadata, so rows name the real vendor."""
        return self.provider.get_metadata()

    def get_provider_hooks(self) -> list[Hook]:
        """The wrapped provider's own hooks."""
        return self.provider.get_provider_hooks()

    # -- evaluation -------------------------------------------------------------------------

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        """Delegate to the wrapped provider."""
        return self.provider.resolve_boolean_details(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """Delegate to the wrapped provider."""
        return self.provider.resolve_string_details(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """Delegate to the wrapped provider."""
        return self.provider.resolve_integer_details(flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        """Delegate to the wrapped provider."""
        return self.provider.resolve_float_details(flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """Delegate to the wrapped provider."""
        return self.provider.resolve_object_details(flag_key, default_value, evaluation_context)

    async def resolve_boolean_details_async(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        """Delegate to the wrapped provider."""
        return await self.provider.resolve_boolean_details_async(flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """Delegate to the wrapped provider."""
        return await self.provider.resolve_string_details_async(flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """Delegate to the wrapped provider."""
        return await self.provider.resolve_integer_details_async(flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        """Delegate to the wrapped provider."""
        return await self.provider.resolve_float_details_async(flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """Delegate to the wrapped provider."""
        return await self.provider.resolve_object_details_async(flag_key, default_value, evaluation_context)
