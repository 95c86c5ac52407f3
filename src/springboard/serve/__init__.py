"""Endpoints: one FastAPI/uvicorn server hosting many endpoints, each a generate.Engine behind a
dynamic batcher, spoken to in SageMaker runtime, JumpStart/TGI and OpenAI shapes. The routers
(routes.router, openai_api.router) are composed into the server by springboard.app."""

from springboard.serve.endpoints import Endpoint, EndpointManager
from springboard.serve.registry import EndpointConfig, EndpointRecord, EndpointRegistry

__all__ = ["Endpoint", "EndpointConfig", "EndpointManager", "EndpointRecord", "EndpointRegistry"]
