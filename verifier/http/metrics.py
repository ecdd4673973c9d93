"""Prometheus exposition built at scrape time from the service's own counters.

No personal data in labels: only outcomes, channels, driver names and states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verifier.service.core import Service


def _line(name: str, value: float | int | None, labels: dict[str, str] | None = None) -> str:
    if value is None:
        return ""
    lab = ""
    if labels:
        inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
        lab = "{" + inner + "}"
    return f"{name}{lab} {value}\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(service: Service) -> str:
    st = service.status()
    out = [
        "# HELP oms_verifications_total Verifications by outcome.\n",
        "# TYPE oms_verifications_total counter\n",
    ]
    for outcome, n in sorted((service.counters.by_outcome or {}).items()):
        out.append(_line("oms_verifications_total", n, {"outcome": outcome}))
    out += [
        "# TYPE oms_unrecognized_reads_total counter\n",
        _line("oms_unrecognized_reads_total", service.counters.unrecognized),
        "# TYPE oms_verify_latency_seconds gauge\n",
        _line("oms_verify_latency_seconds", service.latency.quantile(0.5), {"quantile": "0.5"}),
        _line("oms_verify_latency_seconds", service.latency.quantile(0.99), {"quantile": "0.99"}),
        "# TYPE oms_snapshot_sequence gauge\n",
        _line("oms_snapshot_sequence", st["snapshot"]["sequence"]),
        "# TYPE oms_snapshot_age_seconds gauge\n",
        _line("oms_snapshot_age_seconds", st["snapshot"]["age_s"]),
        "# TYPE oms_snapshot_fresh gauge\n",
    ]
    for state in ("fresh", "stale", "expired", "absent"):
        out.append(
            _line("oms_snapshot_fresh", int(st["snapshot"]["state"] == state), {"state": state})
        )
    out.append("# TYPE oms_driver_up gauge\n")
    for d in st["drivers"]:
        out.append(_line("oms_driver_up", int(d["state"] == "ok"), {"driver": str(d["name"])}))
        out.append(_line("oms_driver_reads_total", d["reads"], {"driver": str(d["name"])}))
    reg = st["registry"]
    if reg.get("configured"):
        out.append("# TYPE oms_registry_breaker_open gauge\n")
        out.append(_line("oms_registry_breaker_open", int(reg["breaker"] != "closed")))
    out.append("# TYPE oms_sse_subscribers gauge\n")
    out.append(_line("oms_sse_subscribers", st["events"]["subscribers"]))
    return "".join(out)
