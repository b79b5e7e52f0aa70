"""Route 53 tooling runs unchanged (issue 13): what tools such as octoDNS,
Terraform and certbot rely on beyond the basic calls, with boto3 against
the real binary."""

import json
import re
import tempfile
import urllib.request

import pytest
from botocore.config import Config
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


REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


def test_every_health_check_field_round_trips_as_sent(r53, backend_factory):
    b = backend_factory()
    # octodns-route53's check: MeasureLatency on, as it sends by default.
    config = {
        "IPAddress": "127.0.0.1",
        "Port": b.port,
        "Type": "HTTP_STR_MATCH",
        "ResourcePath": "/_dns",
        "FullyQualifiedDomainName": "www.tooling.test",
        "SearchString": "OK",
        "RequestInterval": 10,
        "FailureThreshold": 2,
        "MeasureLatency": True,
        "Inverted": False,
        "Disabled": False,
        "EnableSNI": False,
        "Regions": REGIONS,
    }
    made = r53.create_health_check(CallerReference="tooling-all", HealthCheckConfig=config)["HealthCheck"]
    assert made["HealthCheckConfig"] == config
    got = r53.get_health_check(HealthCheckId=made["Id"])["HealthCheck"]
    assert got == made
    listed = {c["Id"]: c for c in r53.list_health_checks()["HealthChecks"]}
    assert listed[made["Id"]] == made

    # An update keeps what it does not name; ResetElements clears Regions.
    updated = r53.update_health_check(
        HealthCheckId=made["Id"], HealthCheckVersion=1, FailureThreshold=3,
        ResetElements=["Regions"],
    )["HealthCheck"]
    expected = dict(config, FailureThreshold=3)
    del expected["Regions"]
    assert updated["HealthCheckConfig"] == expected
    regions = list(reversed(REGIONS)) + ["sa-east-1"]
    again = r53.update_health_check(HealthCheckId=made["Id"], Regions=regions)["HealthCheck"]
    assert again["HealthCheckConfig"] == dict(expected, Regions=regions)
    assert r53.get_health_check(HealthCheckId=made["Id"])["HealthCheck"] == again
    r53.delete_health_check(HealthCheckId=made["Id"])


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"Regions": ["us-east-1", "eu-west-1"]}, "Regions: 2 regions given, at least 3 needed"),
        ({"Regions": ["us-east-1", "eu-west-1", "mars-1"]}, 'Regions: "mars-1" is not a health-checker region'),
        ({"Regions": ["us-east-1", "eu-west-1", "us-east-1"]}, 'Regions: "us-east-1" is listed twice'),
        ({"AlarmIdentifier": {"Region": "us-east-1", "Name": "a"}}, "AlarmIdentifier applies to CLOUDWATCH_METRIC"),
        ({"InsufficientDataHealthStatus": "Healthy"}, "InsufficientDataHealthStatus applies to CLOUDWATCH_METRIC"),
        ({"RoutingControlArn": "arn:aws:x"}, "RoutingControlArn applies to RECOVERY_CONTROL"),
        ({"Type": "CLOUDWATCH_METRIC"}, 'Type "CLOUDWATCH_METRIC" is not supported'),
    ],
)
def test_health_check_fields_are_refused_as_route53_refuses_them(server, extra, says):
    # boto3 would refuse some of these itself; the server must too.
    r53 = server.client(Config(parameter_validation=False))
    config = dict({"IPAddress": "127.0.0.1", "Port": 9, "Type": "TCP"}, **extra)
    before = len(r53.list_health_checks()["HealthChecks"])
    with pytest.raises(ClientError) as e:
        r53.create_health_check(CallerReference=f"refused-{says[:20]}", HealthCheckConfig=config)
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidInput", 400)
    assert says in message, message
    assert len(r53.list_health_checks()["HealthChecks"]) == before


def test_calculated_checks_refuse_what_they_cannot_use(r53):
    for field, value in [("Regions", REGIONS), ("MeasureLatency", True)]:
        config = {"Type": "CALCULATED", "HealthThreshold": 0, "ChildHealthChecks": [], field: value}
        with pytest.raises(ClientError) as e:
            r53.create_health_check(CallerReference=f"calc-{field}", HealthCheckConfig=config)
        code, message, _ = error_of(e)
        assert code == "InvalidInput" and f"{field} does not apply to CALCULATED" in message, message


def test_status_reads_like_route53_with_the_checkers_address(r53, backend_factory):
    b = backend_factory()
    config = {"IPAddress": "127.0.0.1", "Port": b.port, "Type": "HTTP", "ResourcePath": "/",
              "RequestInterval": 10, "FailureThreshold": 1}
    check = r53.create_health_check(CallerReference="tooling-status", HealthCheckConfig=config)["HealthCheck"]

    def observation():
        (obs,) = r53.get_health_check_status(HealthCheckId=check["Id"])["HealthCheckObservations"]
        return obs if obs["StatusReport"].get("CheckedTime") else None

    obs = wait_until("a first probe", observation)
    assert obs["IPAddress"] == "127.0.0.1"
    assert obs["StatusReport"]["Status"] == "Success: HTTP Status Code 200, OK"
    assert r53.get_health_check_last_failure_reason(HealthCheckId=check["Id"])["HealthCheckObservations"] == []

    b.fail()
    failed = wait_until(
        "a failed probe",
        lambda: (o := observation()) and o["StatusReport"]["Status"].startswith("Failure") and o,
    )
    assert failed["StatusReport"]["Status"] == "Failure: HTTP Status Code 503, Service Unavailable"
    (last,) = r53.get_health_check_last_failure_reason(HealthCheckId=check["Id"])["HealthCheckObservations"]
    assert last["IPAddress"] == "127.0.0.1"
    assert last["StatusReport"]["Status"] == "Failure: HTTP Status Code 503, Service Unavailable"
    r53.delete_health_check(HealthCheckId=check["Id"])
