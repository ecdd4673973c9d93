"""The daemon hands what start-up made to the collector's permanent generation (gc.freeze):
full collections under load then walk only what requests made."""

from __future__ import annotations

import gc

from tests.http.conftest import Server


def test_start_up_objects_are_frozen(api: Server) -> None:
    service = api.live.daemon.service
    assert service is not None and service.ready  # the in-process daemon is up
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the app, the stores, the keys and every module's objects
    assert gc.isenabled()  # frozen, not switched off: requests' garbage is still collected
