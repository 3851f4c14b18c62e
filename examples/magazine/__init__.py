"""A demo magazine site: comments, ads, archive and digital edition gated by the service.

It uses only the Python SDK (`entitlements_client`) and the service's public HTTP API.
"""
