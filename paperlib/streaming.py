"""Streaming base class with an explicit typed state (after kyutai moshi's StreamingModule).

    with model.streaming(batch_size=1):
        for chunk in chunks:
            out = model.step(chunk)
    # leaving the block drops every state: nothing leaks into the next utterance

Every streaming module declares a dataclass state with ``reset()``; the
``streaming`` context creates the states of a module and all its streaming
children, and removes them on exit, even on error.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Generic, Iterator, TypeVar

from torch import nn


@dataclass
class StreamingState:
    batch_size: int

    def reset(self) -> None:
        raise NotImplementedError


@dataclass
class NoState(StreamingState):
    """The state of a module whose streaming state lives in its children."""

    def reset(self) -> None:
        pass


S = TypeVar("S", bound=StreamingState)


class StreamingModule(nn.Module, Generic[S]):
    def __init__(self) -> None:
        super().__init__()
        self._streaming_state: S | None = None

    def _init_streaming_state(self, batch_size: int) -> S:
        raise NotImplementedError

    @property
    def is_streaming(self) -> bool:
        return self._streaming_state is not None

    @property
    def state(self) -> S:
        if self._streaming_state is None:
            raise RuntimeError(f"{type(self).__name__} is not streaming; use `with module.streaming(batch):`")
        return self._streaming_state

    def _streaming_children(self) -> Iterator["StreamingModule"]:
        for module in self.modules():
            if isinstance(module, StreamingModule):
                yield module

    @contextlib.contextmanager
    def streaming(self, batch_size: int) -> Iterator[None]:
        modules = list(self._streaming_children())
        if any(m.is_streaming for m in modules):
            raise RuntimeError(f"{type(self).__name__} is already streaming")
        try:
            for module in modules:
                module._streaming_state = module._init_streaming_state(batch_size)
            yield
        finally:
            for module in modules:
                module._streaming_state = None

    def reset_streaming(self) -> None:
        for module in self._streaming_children():
            if module._streaming_state is not None:
                module._streaming_state.reset()
