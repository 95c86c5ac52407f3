"""The server's front door, used by `springboard.app`: Host/Origin checks, body limits and
authentication (Bearer; SigV4 exactly as AWS canonicalizes) as ASGI middleware."""

from springboard.guard.middleware import MAX_BODY_BYTES, Guard, HostOriginCheck, is_loopback

__all__ = ["MAX_BODY_BYTES", "Guard", "HostOriginCheck", "is_loopback"]
