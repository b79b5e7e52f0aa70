"""Route 53 tooling runs unchanged (issue 13): what tools such as octoDNS,
Terraform and certbot rely on beyond the basic calls, with boto3 against
the real binary."""

import json
import re
import tempfile
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Server, wait_until


def error_of(excinfo):
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def debug_server():
    with tempfile.TemporaryDirectory(prefix="eightfold-r53-debug-") as d:
        s = Server(d, log_level="info,eightfold=debug")
        try:
            yield s
        finally:
            s.stop()


def request_lines(server, what):
    """The request-log lines that contain every string of `what`."""
    return [line for line in server.logs if "api request" in line and all(w in line for w in what)]


def test_every_request_is_logged_with_its_operation_status_and_duration(debug_server):
    r53 = debug_server.client()
    r53.list_hosted_zones()
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id="ZNOSUCHZONE")
    assert error_of(e)[0] == "NoSuchHostedZone"
    with urllib.request.urlopen(debug_server.endpoint + "/v1/zones") as reply:
        assert json.load(reply) == {"zones": []}

    ok = wait_until(
        "the ListHostedZones line",
        lambda: request_lines(debug_server, ["method=GET", "path=/2013-04-01/hostedzone ",
                                              "operation=ListHostedZones", "status=200"]),
    )
    assert re.search(r"duration_ms=\d+\.\d", ok[0]), ok[0]
    wait_until(
        "the GetHostedZone line",
        lambda: request_lines(debug_server, ["path=/2013-04-01/hostedzone/ZNOSUCHZONE",
                                              "operation=GetHostedZone", "status=404"]),
    )
    wait_until(
        "the JSON API line",
        lambda: request_lines(debug_server, ["path=/v1/zones", "operation=-", "status=200"]),
    )
    # At debug, the body of the error reply: what the tool was told.
    bodies = wait_until(
        "the error body",
        lambda: [l for l in debug_server.logs if "api error reply" in l and "status=404" in l],
    )
    assert "<Code>NoSuchHostedZone</Code>" in bodies[0], bodies[0]
    # Successful replies are not dumped.
    assert not [l for l in debug_server.logs if "api error reply" in l and "status=200" in l]


def test_an_unimplemented_operation_is_named_in_route53_error_shape(debug_server):
    r53 = debug_server.client()
    with pytest.raises(ClientError) as e:
        r53.list_traffic_policies()
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidInput", 400)
    assert message.startswith("ListTrafficPolicies (GET /2013-04-01/trafficpolicies) is not an operation"), message
    assert "docs/route53.md" in message
