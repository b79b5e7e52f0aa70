"""Route 53 tooling runs unchanged (issue 13): what tools such as octoDNS,
Terraform and certbot rely on beyond the basic calls, with boto3 against
the real binary."""

import json
import re
import tempfile
import urllib.request

import dns.message
import dns.query
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
    # The same request again is the same check; with any field changed, a
    # conflict, even one eightfold's own schema has no field for.
    again = r53.create_health_check(CallerReference="tooling-all", HealthCheckConfig=config)["HealthCheck"]
    assert again == made
    with pytest.raises(ClientError) as e:
        r53.create_health_check(CallerReference="tooling-all", HealthCheckConfig=dict(config, MeasureLatency=False))
    assert error_of(e)[0::2] == ("HealthCheckAlreadyExists", 409)
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
        ({"RequestInterval": 20}, "Invalid value for RequestInterval: 20"),
        ({"RequestInterval": 5}, "check every 10 or 30 seconds"),
        ({"Type": "HTTP", "ResourcePath": "/" + "p" * 255},
         "at 'healthCheckConfig.resourcePath' failed to satisfy constraint: "
         "Member must have length less than or equal to 255"),
        ({"Type": "CALCULATED", "HealthThreshold": 1, "ChildHealthChecks": [f"c{i}" for i in range(257)]},
         "at 'healthCheckConfig.childHealthChecks' failed to satisfy constraint: "
         "Member must have length less than or equal to 256"),
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


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"ResourcePath": "/" + "p" * 255},
         "at 'resourcePath' failed to satisfy constraint: Member must have length less than or equal to 255"),
        ({"ChildHealthChecks": [f"c{i}" for i in range(257)]},
         "at 'childHealthChecks' failed to satisfy constraint: Member must have length less than or equal to 256"),
    ],
)
def test_health_check_updates_are_refused_as_route53_refuses_them(server, extra, says):
    r53 = server.client(Config(parameter_validation=False))
    config = {"IPAddress": "127.0.0.1", "Port": 9, "Type": "HTTP", "ResourcePath": "/" + "p" * 254,
              "RequestInterval": 10, "Disabled": True}
    made = r53.create_health_check(CallerReference=f"bounded-{says[6:20]}", HealthCheckConfig=config)["HealthCheck"]
    # The longest path Route 53 takes is taken.
    assert made["HealthCheckConfig"]["ResourcePath"] == config["ResourcePath"]
    with pytest.raises(ClientError) as e:
        r53.update_health_check(HealthCheckId=made["Id"], **extra)
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidInput", 400)
    assert says in message, message
    assert r53.get_health_check(HealthCheckId=made["Id"])["HealthCheck"] == made
    r53.delete_health_check(HealthCheckId=made["Id"])


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


def tags_of(r53, kind, rid):
    tag_set = r53.list_tags_for_resource(ResourceType=kind, ResourceId=rid)["ResourceTagSet"]
    assert (tag_set["ResourceType"], tag_set["ResourceId"]) == (kind, rid)
    return {t["Key"]: t["Value"] for t in tag_set.get("Tags", [])}


def test_zones_and_checks_are_tagged_as_in_route53(r53):
    zone = r53.create_hosted_zone(Name="tags.test", CallerReference="tags-zone")["HostedZone"]
    zid = zone["Id"].split("/")[-1]
    check = r53.create_health_check(
        CallerReference="tags-check",
        HealthCheckConfig={"IPAddress": "127.0.0.1", "Port": 9, "Type": "TCP", "Disabled": True},
    )["HealthCheck"]["Id"]
    # What octoDNS does right after creating a check: name it.
    r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check,
                                 AddTags=[{"Key": "Name", "Value": "www-pool"}, {"Key": "octodns", "Value": "1"}])
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                 AddTags=[{"Key": "team", "Value": "dns"}])
    assert tags_of(r53, "healthcheck", check) == {"Name": "www-pool", "octodns": "1"}
    assert tags_of(r53, "hostedzone", zid) == {"team": "dns"}
    # Replace one, remove one, in one request.
    r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check,
                                 AddTags=[{"Key": "Name", "Value": "web"}], RemoveTagKeys=["octodns"])
    assert tags_of(r53, "healthcheck", check) == {"Name": "web"}

    other = r53.create_health_check(
        CallerReference="tags-other",
        HealthCheckConfig={"IPAddress": "127.0.0.1", "Port": 9, "Type": "TCP", "Disabled": True},
    )["HealthCheck"]["Id"]
    sets = r53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[check, other])["ResourceTagSets"]
    assert [(s["ResourceId"], s.get("Tags", [])) for s in sets] == [
        (check, [{"Key": "Name", "Value": "web"}]),
        (other, []),
    ]

    # Unknown objects get Route 53's codes.
    with pytest.raises(ClientError) as e:
        r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId="no-such-check")
    assert error_of(e)[0::2] == ("NoSuchHealthCheck", 404)
    with pytest.raises(ClientError) as e:
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId="ZNOSUCH",
                                     AddTags=[{"Key": "a", "Value": "b"}])
    assert error_of(e)[0::2] == ("NoSuchHostedZone", 404)

    # Tags go with their object.
    r53.delete_health_check(HealthCheckId=other)
    with pytest.raises(ClientError) as e:
        r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=other)
    assert error_of(e)[0] == "NoSuchHealthCheck"
    r53.delete_health_check(HealthCheckId=check)
    r53.delete_hosted_zone(Id=zid)
    with pytest.raises(ClientError) as e:
        r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)
    assert error_of(e)[0] == "NoSuchHostedZone"


def test_a_check_made_again_under_its_id_starts_without_the_old_tags(server, r53):
    def v1(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(server.endpoint + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as reply:
            return reply.status

    check = {"id": "tagged-again", "type": "tcp", "ip": "127.0.0.1", "port": 9, "disabled": True}
    assert v1("POST", "/v1/health-checks", check) == 201
    r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId="tagged-again",
                                 AddTags=[{"Key": "owner", "Value": "old"}])
    assert v1("DELETE", "/v1/health-checks/tagged-again") == 204
    assert v1("POST", "/v1/health-checks", check) == 201
    assert tags_of(r53, "healthcheck", "tagged-again") == {}
    assert v1("DELETE", "/v1/health-checks/tagged-again") == 204


@pytest.mark.parametrize(
    "add, remove, says",
    [
        ([{"Key": f"k{i}", "Value": "v"} for i in range(11)], None, "AddTags: 11 tags, at most 10 per request"),
        (None, [f"k{i}" for i in range(11)], "RemoveTagKeys: 11 keys, at most 10 per request"),
        ([{"Key": "k" * 129, "Value": "v"}], None, "129 characters, 1 to 128 allowed"),
        ([{"Key": "k", "Value": "v" * 257}], None, "the value has 257 characters, at most 256 allowed"),
        ([{"Key": "aws:name", "Value": "v"}], None, "the prefix aws: is reserved"),
        ([{"Key": "a", "Value": "1"}], ["a"], 'tag key "a" is named twice'),
    ],
)
def test_tag_limits_are_route53s_and_a_refused_change_changes_nothing(server, add, remove, says):
    r53 = server.client(Config(parameter_validation=False))
    zid = r53.create_hosted_zone(Name="limits.tags.test", CallerReference=f"limits-{says[:16]}")["HostedZone"]["Id"]
    zid = zid.split("/")[-1]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid, AddTags=[{"Key": "keep", "Value": "me"}])
    params = {"ResourceType": "hostedzone", "ResourceId": zid}
    if add:
        params["AddTags"] = add
    if remove:
        params["RemoveTagKeys"] = remove
    with pytest.raises(ClientError) as e:
        r53.change_tags_for_resource(**params)
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidInput", 400)
    assert says in message, message
    assert tags_of(r53, "hostedzone", zid) == {"keep": "me"}
    r53.delete_hosted_zone(Id=zid)


def test_a_resource_holds_at_most_50_tags(r53):
    zid = r53.create_hosted_zone(Name="fifty.tags.test", CallerReference="fifty")["HostedZone"]["Id"].split("/")[-1]
    for start in range(0, 50, 10):
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                     AddTags=[{"Key": f"k{i:02}", "Value": "v"} for i in range(start, start + 10)])
    assert len(tags_of(r53, "hostedzone", zid)) == 50
    with pytest.raises(ClientError) as e:
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid, AddTags=[{"Key": "one-more", "Value": "v"}])
    assert "would hold 51 tags, at most 50 allowed" in error_of(e)[1]
    # Replacing a value or swapping a key stays within the limit.
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                 AddTags=[{"Key": "k00", "Value": "new"}, {"Key": "swap", "Value": "v"}],
                                 RemoveTagKeys=["k01"])
    tags = tags_of(r53, "hostedzone", zid)
    assert len(tags) == 50 and tags["k00"] == "new" and "swap" in tags and "k01" not in tags
    r53.delete_hosted_zone(Id=zid)


def test_reads_tools_make_on_their_usual_path(r53, backend_factory):
    zid = r53.create_hosted_zone(Name="reads.test", CallerReference="reads-zone")["HostedZone"]["Id"]
    # eightfold does not sign: NOT_SIGNING and no keys, as Route 53 says
    # for an unsigned zone.
    dnssec = r53.get_dnssec(HostedZoneId=zid)
    assert dnssec["Status"] == {"ServeSignature": "NOT_SIGNING"}
    assert dnssec["KeySigningKeys"] == []
    with pytest.raises(ClientError) as e:
        r53.get_dnssec(HostedZoneId="ZNOSUCH")
    assert error_of(e)[0::2] == ("NoSuchHostedZone", 404)

    limit = r53.get_hosted_zone_limit(HostedZoneId=zid, Type="MAX_RRSETS_BY_ZONE")
    assert limit["Limit"] == {"Type": "MAX_RRSETS_BY_ZONE", "Value": 2**31 - 1}
    assert limit["Count"] == 2  # the apex SOA and NS
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "www.reads.test", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})
    assert r53.get_hosted_zone_limit(HostedZoneId=zid, Type="MAX_RRSETS_BY_ZONE")["Count"] == 3
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone_limit(HostedZoneId=zid, Type="MAX_VPCS_ASSOCIATED_BY_ZONE")
    assert error_of(e)[0] == "HostedZoneNotPrivate"

    b = backend_factory()
    check = r53.create_health_check(
        CallerReference="reads-check",
        HealthCheckConfig={"IPAddress": "127.0.0.1", "Port": b.port, "Type": "TCP", "Disabled": True},
    )["HealthCheck"]["Id"]
    ranges = r53.get_checker_ip_ranges()["CheckerIpRanges"]
    assert "127.0.0.1/32" in ranges, ranges
    r53.delete_health_check(HealthCheckId=check)
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": {
        "Name": "www.reads.test", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})
    r53.delete_hosted_zone(Id=zid)


def alias(name, target, zid, rtype="A", evaluate=False, **routing):
    rrset = {"Name": name, "Type": rtype,
             "AliasTarget": {"HostedZoneId": zid, "DNSName": target, "EvaluateTargetHealth": evaluate}}
    rrset.update(routing)
    return rrset


def test_alias_record_sets_answer_with_their_targets(server, r53, backend_factory):
    """As octoDNS builds a dynamic record: two multivalue pools, a failover
    pair of aliases to them evaluating target health, and the name (and
    the apex) aliased to the failover pair."""
    zid = r53.create_hosted_zone(Name="alias.test", CallerReference="alias-zone")["HostedZone"]["Id"]
    bare = zid.split("/")[-1]
    primary, fallback = backend_factory(), backend_factory()
    checks = {}
    for name, b in (("primary", primary), ("fallback", fallback)):
        checks[name] = r53.create_health_check(CallerReference=f"alias-{name}", HealthCheckConfig={
            "IPAddress": "127.0.0.1", "Port": b.port, "Type": "HTTP", "ResourcePath": "/",
            "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]

    def pool(pool_name, values, check):
        return [{"Name": f"_pool-{pool_name}.www.alias.test.", "Type": "A", "SetIdentifier": v,
                 "MultiValueAnswer": True, "TTL": 60, "ResourceRecords": [{"Value": v}],
                 "HealthCheckId": check} for v in values]

    sets = (
        pool("a", ["192.0.2.1", "192.0.2.2"], checks["primary"])
        + pool("b", ["198.51.100.1"], checks["fallback"])
        + [
            alias("_failover.www.alias.test.", "_pool-a.www.alias.test.", bare, evaluate=True,
                  SetIdentifier="primary", Failover="PRIMARY"),
            alias("_failover.www.alias.test.", "_pool-b.www.alias.test.", bare, evaluate=True,
                  SetIdentifier="secondary", Failover="SECONDARY"),
            alias("www.alias.test.", "_failover.www.alias.test.", bare, evaluate=True),
            alias("alias.test.", "www.alias.test.", bare),
        ]
    )
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]})

    # Listed back as sent (AliasTarget, no TTL, no ResourceRecords).
    listed = r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
    www = [r for r in listed if r["Name"] == "www.alias.test." and r["Type"] == "A"]
    assert www == [alias("www.alias.test.", "_failover.www.alias.test.", bare, evaluate=True)]

    healthy_pool = lambda: sorted(server.query("www.alias.test.")) == ["192.0.2.1", "192.0.2.2"]
    wait_until("the primary pool answering", healthy_pool)
    assert sorted(server.query("alias.test.")) == ["192.0.2.1", "192.0.2.2"], "apex alias"
    # The primary pool's backend fails: the failover alias sees its
    # target without a healthy answer, and the fallback pool answers.
    primary.fail()
    wait_until("the fallback pool answering", lambda: server.query("www.alias.test.") == ["198.51.100.1"])
    assert server.query("alias.test.") == ["198.51.100.1"]
    primary.recover()
    wait_until("the primary pool again", healthy_pool)

    # Targets outside the zone, missing targets and loops are refused.
    refused = [
        (alias("x.alias.test.", "elb.amazonaws.com.", "Z35SXDOTRQ7X7K"), "is not this hosted zone"),
        (alias("x.alias.test.", "nothing.alias.test.", bare), "has no A records in the zone"),
        (alias("m.alias.test.", "www.alias.test.", bare, SetIdentifier="m", MultiValueAnswer=True),
         "a multivalue record cannot be an alias"),
        (alias("t.alias.test.", "www.alias.test.", bare, TTL=60), "an alias answers with its target's TTL"),
    ]
    for rrset, says in refused:
        with pytest.raises(ClientError) as e:
            r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})
        assert says in error_of(e)[1], error_of(e)[1]
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": alias("l1.alias.test.", "l2.alias.test.", bare)},
            {"Action": "CREATE", "ResourceRecordSet": alias("l2.alias.test.", "l1.alias.test.", bare)},
        ]})
    assert "aliases cannot form a loop" in error_of(e)[1], error_of(e)[1]

    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": s} for s in reversed(sets)]})
    r53.delete_hosted_zone(Id=zid)
    for check in checks.values():
        r53.delete_health_check(HealthCheckId=check)


def test_cname_alias_failover_pair_answers_with_the_healthy_target(server, r53, backend_factory):
    """As octoDNS builds a dynamic CNAME: a failover pair of CNAME aliases
    evaluating target health, to a checked CNAME and a fallback CNAME,
    and a name aliased to the pair (aliases chain)."""
    zid = r53.create_hosted_zone(Name="calias.test", CallerReference="calias-zone")["HostedZone"]["Id"]
    bare = zid.split("/")[-1]
    backend = backend_factory()
    check = r53.create_health_check(CallerReference="calias-primary", HealthCheckConfig={
        "IPAddress": "127.0.0.1", "Port": backend.port, "Type": "HTTP", "ResourcePath": "/",
        "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
    sets = [
        {"Name": "_primary.www.calias.test.", "Type": "CNAME", "SetIdentifier": "primary", "Weight": 1,
         "TTL": 60, "ResourceRecords": [{"Value": "primary.example."}], "HealthCheckId": check},
        {"Name": "_fallback.www.calias.test.", "Type": "CNAME", "TTL": 60,
         "ResourceRecords": [{"Value": "fallback.example."}]},
        alias("www.calias.test.", "_primary.www.calias.test.", bare, rtype="CNAME", evaluate=True,
              SetIdentifier="primary", Failover="PRIMARY"),
        alias("www.calias.test.", "_fallback.www.calias.test.", bare, rtype="CNAME", evaluate=True,
              SetIdentifier="secondary", Failover="SECONDARY"),
        alias("cdn.calias.test.", "www.calias.test.", bare, rtype="CNAME"),
    ]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]})
    listed = r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
    assert [r for r in listed if r["Name"] == "cdn.calias.test."] == [sets[-1]]

    def answers(name, want):
        # The target's CNAME, owned by the name asked for.
        q = dns.message.make_query(name, "A")
        host, port = server.dns
        r = dns.query.udp(q, host, port=port, timeout=2)
        return [(rrset.name.to_text(), rd.to_text()) for rrset in r.answer for rd in rrset] == [(name, want)]

    for name in ("www.calias.test.", "cdn.calias.test."):
        wait_until(f"{name} answering the primary", lambda: answers(name, "primary.example."))
    assert server.query("www.calias.test.", "CNAME") == ["primary.example."]
    backend.fail()
    wait_until("the fallback answering", lambda: answers("www.calias.test.", "fallback.example."))
    assert answers("cdn.calias.test.", "fallback.example.")
    backend.recover()
    wait_until("the primary again", lambda: answers("www.calias.test.", "primary.example."))

    refused = [
        (alias("calias.test.", "www.calias.test.", bare, rtype="CNAME"),
         "RRSet of type CNAME with DNS name calias.test. is not permitted at apex in zone calias.test."),
        (alias("x.calias.test.", "_primary.www.calias.test.", bare, rtype="A"), "has no A records in the zone"),
        (alias("x.calias.test.", "nothing.calias.test.", bare, rtype="CNAME"), "has no CNAME records in the zone"),
    ]
    for rrset, says in refused:
        with pytest.raises(ClientError) as e:
            r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})
        assert says in error_of(e)[1], error_of(e)[1]

    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": s} for s in reversed(sets)]})
    r53.delete_hosted_zone(Id=zid)
    r53.delete_health_check(HealthCheckId=check)


def test_geolocation_sets_answer_from_the_default_location(server, r53):
    zid = r53.create_hosted_zone(Name="geo.test", CallerReference="geo-zone")["HostedZone"]["Id"]
    sets = [
        {"Name": "www.geo.test.", "Type": "A", "SetIdentifier": "default", "GeoLocation": {"CountryCode": "*"},
         "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]},
        {"Name": "www.geo.test.", "Type": "A", "SetIdentifier": "de", "GeoLocation": {"CountryCode": "DE"},
         "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.2"}]},
        {"Name": "www.geo.test.", "Type": "A", "SetIdentifier": "eu", "GeoLocation": {"ContinentCode": "EU"},
         "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.3"}]},
        {"Name": "www.geo.test.", "Type": "A", "SetIdentifier": "us-ca",
         "GeoLocation": {"CountryCode": "US", "SubdivisionCode": "CA"},
         "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.4"}]},
    ]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]})
    listed = [r for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
              if r["Name"] == "www.geo.test."]
    assert sorted(listed, key=lambda r: r["SetIdentifier"]) == sorted(sets, key=lambda r: r["SetIdentifier"])
    # Without location data every client gets the default location's.
    for _ in range(5):
        assert server.query("www.geo.test.") == ["192.0.2.1"]
    for location, says in [({"CountryCode": "DE"}, "location country DE has a record already"),
                           ({"ContinentCode": "XX"}, "is not one of AF")]:
        with pytest.raises(ClientError) as e:
            r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "CREATE",
                "ResourceRecordSet": dict(sets[1], SetIdentifier="again", GeoLocation=location)}]})
        assert says in error_of(e)[1], error_of(e)[1]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": s} for s in sets]})
    r53.delete_hosted_zone(Id=zid)


def test_geolocations_are_the_ones_records_may_name(r53):
    get = lambda **codes: r53.get_geo_location(**codes)["GeoLocationDetails"]
    assert get(CountryCode="DE") == {"CountryCode": "DE", "CountryName": "Germany"}
    assert get(ContinentCode="EU") == {"ContinentCode": "EU", "ContinentName": "Europe"}
    assert get(CountryCode="*") == {"CountryCode": "*", "CountryName": "Default"}
    assert get(CountryCode="US", SubdivisionCode="CA") == {
        "CountryCode": "US", "CountryName": "United States", "SubdivisionCode": "CA"}
    for codes in [{"CountryCode": "XX"}, {"ContinentCode": "XX"}, {"CountryCode": "XX", "SubdivisionCode": "CA"}]:
        with pytest.raises(ClientError) as e:
            get(**codes)
        assert error_of(e)[0::2] == ("NoSuchGeoLocation", 404), codes

    # Continents, the default location, then every country; by pages.
    first = r53.list_geo_locations()
    assert first["IsTruncated"] and first["MaxItems"] == "100"
    listed = first["GeoLocationDetailsList"]
    assert [d.get("ContinentCode") for d in listed[:7]] == ["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
    assert listed[7] == {"CountryCode": "*", "CountryName": "Default"}
    page = first
    while page["IsTruncated"]:
        assert "NextContinentCode" not in page
        page = r53.list_geo_locations(StartCountryCode=page["NextCountryCode"], MaxItems="100")
        listed += page["GeoLocationDetailsList"]
    countries = [d["CountryCode"] for d in listed[8:]]
    assert len(countries) == 249 and countries == sorted(countries) and "DE" in countries
    small = r53.list_geo_locations(MaxItems="2")
    assert small["IsTruncated"] and small["NextContinentCode"] == "AS"
    rest = r53.list_geo_locations(StartContinentCode="AS", MaxItems="5")
    assert [d.get("ContinentCode") for d in rest["GeoLocationDetailsList"]] == ["AS", "EU", "NA", "OC", "SA"]
    assert rest["NextCountryCode"] == "*"
    with pytest.raises(ClientError) as e:
        r53.list_geo_locations(StartCountryCode="XX")
    assert error_of(e)[0] == "InvalidInput"


def test_the_delegation_set_is_the_configured_name_servers_written_as_route53_does():
    with tempfile.TemporaryDirectory(prefix="eightfold-r53-ns-") as d:
        s = Server(d, extra_config='nameservers = ["ns-1.example.net.", "ns-2.example.org."]\n')
        try:
            r53 = s.client()
            made = r53.create_hosted_zone(Name="delegated.test", CallerReference="delegated")
            servers = ["ns-1.example.net", "ns-2.example.org"]
            assert sorted(made["DelegationSet"]["NameServers"]) == servers
            got = r53.get_hosted_zone(Id=made["HostedZone"]["Id"])
            assert sorted(got["DelegationSet"]["NameServers"]) == servers
            # DNS answers the same servers, as absolute names.
            assert sorted(s.dig_values("delegated.test", "NS")) == [n + "." for n in servers]
        finally:
            s.stop()
