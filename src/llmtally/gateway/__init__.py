"""The gateway: OpenAI-, Anthropic- and Gemini-compatible endpoints that forward and record."""

from llmtally.gateway.app import Gateway, Recorder
from llmtally.gateway.config import GatewayConfig, Route, RouteError, Upstream, load_config

__all__ = ["Gateway", "GatewayConfig", "Recorder", "Route", "RouteError", "Upstream", "load_config"]
