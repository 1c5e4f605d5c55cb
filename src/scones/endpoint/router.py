"""Which production variant answers a request: by weight, or the one the caller pins.

Smooth weighted round-robin (nginx's) rather than a random draw: each process's split follows
the weights within one request at every point, so 2,000 requests split 70/30 land at 70/30, not
at 70 +- 3. With several worker processes each keeps its own turn, and the sum is as close.

Every change (a new model, new weights, a variant added or removed) happens on the event loop
through `apply`, the one writer; the watcher thread only prepares services and calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence

from scones.endpoint.errors import ServiceUnavailable, ValidationError
from scones.endpoint.service import InferenceService
from scones.endpoint.slot import ModelSlot


class Router:
    """The slots of one endpoint process, in the order the endpoint config lists them."""

    def __init__(self, slots: Sequence[ModelSlot]) -> None:
        self.slots: dict[str, ModelSlot] = {slot.variant: slot for slot in slots}
        self._turn: dict[str, float] = {}  # smooth WRR's running score per variant

    @property
    def shadow(self) -> ModelSlot | None:
        """The shadow variant's slot (it takes no traffic of its own), if there is one."""
        return next((slot for slot in self.slots.values() if slot.shadow), None)

    @property
    def primary(self) -> ModelSlot:
        """The first variant (the one single-variant code and /ping speak of)."""
        return next(iter(self.slots.values()))

    def pick(self, target: str | None = None) -> ModelSlot:
        """The slot for one request: `target` if given (TargetVariant), else the next by weight."""
        if target:
            slot = self.slots.get(target)
            if slot is None or slot.shadow:
                raise ValidationError(
                    f"Target variant {target!r} is not a production variant of this endpoint; use one of "
                    + ", ".join(name for name, s in self.slots.items() if not s.shadow)
                )
            return slot
        total, best, best_score = 0.0, None, 0.0
        for name, slot in self.slots.items():
            if slot.weight <= 0 or slot.shadow:
                continue
            score = self._turn.get(name, 0.0) + slot.weight
            self._turn[name] = score
            total += slot.weight
            if best is None or score > best_score:
                best, best_score = slot, score
        if best is None:
            raise ServiceUnavailable("No variant of this endpoint has a positive weight; set weights with "
                                     "'scones update-endpoint-weights'")  # fmt: skip
        self._turn[best.variant] -= total
        return best

    def ready(self) -> None:
        """503 unless every variant has a service that takes requests."""
        for slot in self.slots.values():
            slot.ready()

    async def apply(
        self,
        weights: Mapping[str, float],
        services: Mapping[str, InferenceService],
        shadows: Collection[str] = (),
        compares: Mapping[str, tuple[str, float]] | None = None,
    ) -> None:
        """On the event loop: route by `weights` (in that order; `shadows` mirror) with `services` swapped or added.

        `compares`: variant -> (the variant it is compared with, the share of its requests mirrored there).

        Variants not in `weights` leave the routing at once and close once the requests inside them finish.
        """
        slots: dict[str, ModelSlot] = {}
        swaps = []
        for name, weight in weights.items():
            slot = self.slots.get(name) or ModelSlot(name)
            slot.weight, slot.shadow = weight, name in shadows
            slot.compare_with, slot.compare_share = (compares or {}).get(name, ("", 0.0))
            if name in services:
                if slot.service is None:
                    slot.service = services[name]
                else:
                    swaps.append(slot.swap(services[name]))
            slots[name] = slot
        gone = [slot for name, slot in self.slots.items() if name not in slots]
        self.slots, self._turn = slots, {}
        await asyncio.gather(*swaps, *(slot.retire() for slot in gone))

    def close(self) -> None:
        for slot in self.slots.values():
            slot.close()
