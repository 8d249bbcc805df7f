"""Sinks: one destination each, behind the tiny :class:`Sink` protocol."""

from ._base import ExportResult, Sink
from .file import FileSink
from .memory import InMemorySink
from .url import sink_from_url

__all__ = ["ExportResult", "FileSink", "InMemorySink", "Sink", "sink_from_url"]
