"""Transport: how messages travel: X-DIP signatures, certificates and TLS, API keys, HTTP clients.

The DIP's wire conventions (headers, StandardResponse codes) live here so the DIP, the reference
participants and the run all speak them the same way.
"""
