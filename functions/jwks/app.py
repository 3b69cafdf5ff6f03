"""GET /.well-known/jwks.json and /.well-known/openid-configuration: the public keys and
where to find them, so that any JOSE or OIDC library can verify our access tokens."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.http.handler import http_handler
from stateless_auth.http.responses import response

JWKS_PATH = "/.well-known/jwks.json"

logger = Logger()
settings = load_settings()
keys = wiring.public_key_store(settings)
issuer = wiring.issuer(settings)


@http_handler(logger, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    # The standby model publishes each key a rotation period before it signs, so clients
    # may cache the set for hours and still know tomorrow's key.
    cache = {"Cache-Control": f"public, max-age={settings.jwks_max_age}"}
    if event.raw_path.endswith("/openid-configuration"):
        # The fixed issuer, whatever Host the request sent (docs/tokens.md "Issuer").
        fixed = issuer()
        document = {
            "issuer": fixed,
            "jwks_uri": fixed + JWKS_PATH,
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": [
                "iss",
                "aud",
                "sub",
                "iat",
                "exp",
                "jti",
                "sid",
                "email",
                "email_verified",
                "roles",
            ],
        }
        return response(200, document, headers=cache)
    return response(200, keys.jwks(), headers=cache)
