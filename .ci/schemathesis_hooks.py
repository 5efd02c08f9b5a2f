"""Schemathesis hooks for .ci/run: a 5xx fails the run, except the documented
502 provider_error (a provider that is refused or fails, as the OpenAPI document says)."""
import schemathesis


@schemathesis.check
def no_server_error_but_documented_502(ctx, response, case):
    status = response.status_code
    if status >= 500 and not (status == 502 and b'"provider_error"' in response.content):
        raise AssertionError(f"undocumented server error {status}: {response.content[:200]!r}")
