"""A local stand-in for the Graph API's Page insights endpoint.

It answers like Meta's Messenger Insights API (deterministic, plausible numbers; Pacific
day boundaries; Graph-shaped errors) and can be told, per Page, to misbehave: errors,
usage headers, slow or broken connections. Around insights it also serves batch requests,
token checks (debug_token, appsecret_proof) and Page discovery (me/accounts). The
exporter's tests and its --demo mode talk to it over loopback HTTP.
"""

from exporter.simulator.requestlog import RecordedRequest
from exporter.simulator.scenarios import Scenario
from exporter.simulator.server import Simulator

__all__ = ["RecordedRequest", "Scenario", "Simulator"]
