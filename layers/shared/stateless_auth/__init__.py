"""Stateless Auth: the shared package every function of the stack imports.

Modules are kept independent so that a function imports only what it uses: the
authorizer's import path must stay free of boto3 and pydantic (see tokens, keys).
"""
