"""A local HubSpot CRM v3 + Mailchimp Marketing 3.0 that the official SDKs accept as the real thing.

`World` holds the simulated state; `build_app(world)` is the ASGI app; `SandboxServer` runs it on a
loopback port in a background thread (tests, `syncd demo`) or in the foreground (`syncd sandbox`).
"""
