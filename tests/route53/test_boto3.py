"""boto3 against eightfold's Route 53 API (SPEC §6, issue 5), end to end:
what a Route 53 user does, and DNS answers checked with dnspython."""

import tempfile
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import Server, wait_until

ZONE = "multi.test."
NAME = "web.multi.test."
VALUES = [f"192.0.2.{10 + i}" for i in range(10)]


def error_of(excinfo):
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def own(sets, zone):
    """The record sets a test made: without the apex SOA and NS that
    eightfold generates (Route 53 lists those too)."""
    return [r for r in sets if not (r["Name"] == zone and r["Type"] in ("SOA", "NS"))]


def zone_id(r53, name, reference):
    zone = r53.create_hosted_zone(Name=name, CallerReference=reference)
    assert zone["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert zone["HostedZone"]["Name"] == name.rstrip(".") + "."
    assert zone["HostedZone"]["Id"].startswith("/hostedzone/Z")
    assert zone["ChangeInfo"]["Status"] == "INSYNC"
    return zone["HostedZone"]["Id"]


def as_returned(config):
    """A HealthCheckConfig as Route 53 returns it: as sent, with
    MeasureLatency and EnableSNI at their defaults when not sent."""
    out = dict(config)
    out.setdefault("MeasureLatency", False)
    if config["Type"] != "CALCULATED":
        out.setdefault("EnableSNI", config["Type"].startswith("HTTPS"))
    return out


def http_check(port, **extra):
    config = {
        "IPAddress": "127.0.0.1",
        "Port": port,
        "Type": "HTTP",
        "ResourcePath": "/health",
        "RequestInterval": 10,
        "FailureThreshold": 1,
        "Inverted": False,
        "Disabled": False,
    }
    config.update(extra)
    return config


@pytest.fixture(scope="module")
def routed(server, r53, backend_factory_module):
    """A zone with 10 multivalue records of one name, six of them checked:
    two by `good`'s check, three by `flaky`'s, one by a TCP check."""
    good, flaky = backend_factory_module(), backend_factory_module()
    zid = zone_id(r53, ZONE, "routed-zone")
    configs = {
        "good": http_check(good.port),
        "flaky": http_check(
            flaky.port,
            Type="HTTP_STR_MATCH",
            SearchString="OK",
            FullyQualifiedDomainName="www.multi.test",
        ),
        "tcp": {
            "IPAddress": "127.0.0.1",
            "Port": good.port,
            "Type": "TCP",
            "RequestInterval": 10,
            "FailureThreshold": 1,
            "Inverted": False,
            "Disabled": False,
        },
    }
    checks = {}
    for name, config in configs.items():
        made = r53.create_health_check(CallerReference=f"routed-{name}", HealthCheckConfig=config)
        assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
        checks[name] = made["HealthCheck"]["Id"]
        uuid.UUID(checks[name])  # Route 53's form
    owners = ["good", "good", "flaky", "flaky", "flaky", "tcp", None, None, None, None]
    sets = []
    for i, (value, owner) in enumerate(zip(VALUES, owners)):
        rrset = {
            "Name": NAME,
            "Type": "A",
            "SetIdentifier": f"r{i}",
            "MultiValueAnswer": True,
            "TTL": 60,
            "ResourceRecords": [{"Value": value}],
        }
        if owner:
            rrset["HealthCheckId"] = checks[owner]
        sets.append(rrset)
    change = r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Comment": "ten multivalue records",
            "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets],
        },
    )
    info = change["ChangeInfo"]
    assert info["Status"] == "INSYNC"
    assert info["Comment"] == "ten multivalue records"
    assert r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    return {
        "zone": zid,
        "checks": checks,
        "configs": configs,
        "sets": sets,
        "good": good,
        "flaky": flaky,
        "values_of": {
            name: [v for v, o in zip(VALUES, owners) if o == name] for name in checks
        },
    }


def test_records_list_back_unchanged(r53, routed):
    listed = r53.list_resource_record_sets(HostedZoneId=routed["zone"])
    assert listed["IsTruncated"] is False
    assert own(listed["ResourceRecordSets"], ZONE) == routed["sets"]
    soa, ns = (
        [r for r in listed["ResourceRecordSets"] if r["Type"] == t and r["Name"] == ZONE]
        for t in ("SOA", "NS")
    )
    assert len(soa) == 1 and len(soa[0]["ResourceRecords"]) == 1
    assert len(ns) == 1 and ns[0]["ResourceRecords"]
    assert listed["ResourceRecordSets"][:2] == ns + soa


def test_health_checks_read_back_as_sent(r53, routed):
    for name, check_id in routed["checks"].items():
        got = r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
        assert got["Id"] == check_id
        assert got["CallerReference"] == f"routed-{name}"
        assert got["HealthCheckVersion"] == 1
        assert got["HealthCheckConfig"] == as_returned(routed["configs"][name])
    listed = {c["Id"]: c for c in r53.list_health_checks()["HealthChecks"]}
    for name, check_id in routed["checks"].items():
        assert listed[check_id]["HealthCheckConfig"] == as_returned(routed["configs"][name])


def test_dns_answers_eight_distinct_healthy_records(server, routed):
    seen = set()
    for _ in range(30):
        answer = server.query(NAME)
        assert len(answer) == 8, answer
        assert len(set(answer)) == 8, answer
        assert set(answer) <= set(VALUES)
        seen.update(answer)
    assert seen == set(VALUES)


def test_a_failing_backend_disappears_and_is_reported(server, r53, routed):
    flaky_values = set(routed["values_of"]["flaky"])
    routed["flaky"].fail()
    try:
        wait_until(
            "the flaky records to leave the answers",
            lambda: all(
                len(a) == 7 and not flaky_values & set(a)
                for a in (server.query(NAME) for _ in range(5))
            ),
            timeout=45,
        )
        for _ in range(20):
            answer = server.query(NAME)
            assert sorted(answer) == sorted(set(VALUES) - flaky_values)

        status = r53.get_health_check_status(HealthCheckId=routed["checks"]["flaky"])
        (observation,) = status["HealthCheckObservations"]
        assert observation["StatusReport"]["Status"].startswith("Failure"), observation
        assert "CheckedTime" in observation["StatusReport"]
        reason = r53.get_health_check_last_failure_reason(HealthCheckId=routed["checks"]["flaky"])
        (last,) = reason["HealthCheckObservations"]
        assert last["StatusReport"]["Status"].startswith("Failure"), last
        good = r53.get_health_check_status(HealthCheckId=routed["checks"]["good"])
        assert good["HealthCheckObservations"][0]["StatusReport"]["Status"].startswith("Success")

        answer = r53.test_dns_answer(HostedZoneId=routed["zone"], RecordName=NAME, RecordType="A")
        assert answer["ResponseCode"] == "NOERROR"
        assert answer["Protocol"] == "UDP"
        assert sorted(answer["RecordData"]) == sorted(set(VALUES) - flaky_values)
    finally:
        routed["flaky"].recover()
    wait_until("the flaky records to come back", lambda: len(server.query(NAME)) == 8)


def test_invalid_batches_raise_invalid_change_batch(r53, routed):
    zid = routed["zone"]
    duplicate = dict(routed["sets"][6])
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(
            HostedZoneId=zid,
            ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": duplicate}]},
        )
    code, message, status = error_of(e)
    assert (code, status) == ("InvalidChangeBatch", 400)
    assert "Tried to create resource record set" in message
    assert "but it already exists" in message
    assert "Messages" in e.value.response["Error"]

    missing = {"Name": "nope.multi.test.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(
            HostedZoneId=zid,
            ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": missing}]},
        )
    code, message, _ = error_of(e)
    assert code == "InvalidChangeBatch"
    assert "but it was not found" in message

    # All or nothing: a valid change beside an invalid one is not applied.
    fresh = {"Name": "new.multi.test.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.99"}]}
    bad = {"Name": "bad.multi.test.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "not-an-ip"}]}
    with pytest.raises(ClientError) as e:
        r53.change_resource_record_sets(
            HostedZoneId=zid,
            ChangeBatch={
                "Changes": [
                    {"Action": "CREATE", "ResourceRecordSet": fresh},
                    {"Action": "CREATE", "ResourceRecordSet": bad},
                ]
            },
        )
    code, message, _ = error_of(e)
    assert code == "InvalidChangeBatch"
    # The problem is named in Route 53's words, with the change it is in.
    assert "change 2 (create bad.multi.test. A): ResourceRecords[0]:" in message, message
    assert 'invalid IPv4 address "not-an-ip"' in message, message
    listed = r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
    assert own(listed, ZONE) == routed["sets"]


def test_errors_have_route53_codes_and_statuses(r53, routed):
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id="ZNOSUCHZONE0000")
    assert error_of(e)[0::2] == ("NoSuchHostedZone", 404)
    with pytest.raises(ClientError) as e:
        r53.get_health_check(HealthCheckId=str(uuid.uuid4()))
    assert error_of(e)[0::2] == ("NoSuchHealthCheck", 404)
    with pytest.raises(ClientError) as e:
        r53.delete_hosted_zone(Id=routed["zone"])
    assert error_of(e)[0::2] == ("HostedZoneNotEmpty", 400)
    with pytest.raises(ClientError) as e:
        r53.delete_health_check(HealthCheckId=routed["checks"]["good"])
    assert error_of(e)[0::2] == ("HealthCheckInUse", 400)
    with pytest.raises(ClientError) as e:
        r53.create_health_check(
            CallerReference="bad-type",
            HealthCheckConfig={"Type": "CLOUDWATCH_METRIC"},
        )
    assert error_of(e)[0::2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as e:
        r53.list_resource_record_sets(HostedZoneId=routed["zone"], StartRecordType="A")
    assert error_of(e)[0::2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as e:
        r53.get_change(Id="CNOSUCHCHANGE00")
    assert error_of(e)[0::2] == ("NoSuchChange", 404)


def test_zones_are_listed_and_deleted(r53):
    zid = zone_id(r53, "short-lived.test", "short-lived")
    got = r53.get_hosted_zone(Id=zid)
    assert got["HostedZone"]["Name"] == "short-lived.test."
    assert got["HostedZone"]["ResourceRecordSetCount"] == 2  # SOA and NS
    assert got["HostedZone"]["CallerReference"] == "short-lived"
    assert got["DelegationSet"]["NameServers"], got
    ids = [z["Id"] for z in r53.list_hosted_zones()["HostedZones"]]
    assert zid in ids
    page = r53.list_hosted_zones(MaxItems="1")
    assert page["IsTruncated"] is True and len(page["HostedZones"]) == 1
    every = [z["Id"] for p in r53.get_paginator("list_hosted_zones").paginate(PaginationConfig={"PageSize": 1}) for z in p["HostedZones"]]
    assert every == ids
    assert r53.get_hosted_zone_count()["HostedZoneCount"] == len(ids)
    by_name = r53.list_hosted_zones_by_name(DNSName="short-lived.test")
    assert by_name["HostedZones"][0]["Id"] == zid
    names = [z["Name"] for z in r53.list_hosted_zones_by_name()["HostedZones"]]
    assert names == sorted(names, key=lambda n: list(reversed(n.rstrip(".").split("."))))
    deleted = r53.delete_hosted_zone(Id=zid)
    assert deleted["ChangeInfo"]["Status"] == "INSYNC"
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id=zid)
    assert error_of(e)[0] == "NoSuchHostedZone"


def test_create_health_check_is_idempotent_by_caller_reference(r53, backend_factory):
    b = backend_factory()
    config = http_check(b.port)
    first = r53.create_health_check(CallerReference="idem-1", HealthCheckConfig=config)["HealthCheck"]
    again = r53.create_health_check(CallerReference="idem-1", HealthCheckConfig=config)["HealthCheck"]
    assert again["Id"] == first["Id"]
    with pytest.raises(ClientError) as e:
        r53.create_health_check(
            CallerReference="idem-1", HealthCheckConfig=dict(config, FailureThreshold=5)
        )
    assert error_of(e)[0::2] == ("HealthCheckAlreadyExists", 409)
    r53.delete_health_check(HealthCheckId=first["Id"])


def test_update_health_check_follows_its_version(r53, backend_factory):
    b = backend_factory()
    config = {
        "IPAddress": "127.0.0.1",
        "Port": b.port,
        "Type": "HTTPS",
        "ResourcePath": "/",
        "FullyQualifiedDomainName": "secure.example.test",
        "RequestInterval": 30,
        "FailureThreshold": 3,
        "Inverted": False,
        "Disabled": True,
        "EnableSNI": False,
    }
    made = r53.create_health_check(CallerReference="update-1", HealthCheckConfig=config)["HealthCheck"]
    assert made["HealthCheckConfig"] == as_returned(config)
    with pytest.raises(ClientError) as e:
        r53.update_health_check(HealthCheckId=made["Id"], HealthCheckVersion=7, FailureThreshold=2)
    assert error_of(e)[0::2] == ("HealthCheckVersionMismatch", 409)
    updated = r53.update_health_check(
        HealthCheckId=made["Id"],
        HealthCheckVersion=1,
        FailureThreshold=2,
        Inverted=True,
        ResetElements=["FullyQualifiedDomainName"],
    )["HealthCheck"]
    assert updated["HealthCheckVersion"] == 2
    expected = dict(config, FailureThreshold=2, Inverted=True)
    del expected["FullyQualifiedDomainName"]
    assert updated["HealthCheckConfig"] == as_returned(expected)
    assert r53.get_health_check(HealthCheckId=made["Id"])["HealthCheck"] == updated

    # Defaults are Route 53's: port 443, interval 30, threshold 3, SNI on.
    plain = r53.create_health_check(
        CallerReference="update-2",
        HealthCheckConfig={"IPAddress": "127.0.0.1", "Type": "HTTPS", "Disabled": True},
    )["HealthCheck"]["HealthCheckConfig"]
    assert plain == {
        "IPAddress": "127.0.0.1",
        "Port": 443,
        "Type": "HTTPS",
        "RequestInterval": 30,
        "FailureThreshold": 3,
        "MeasureLatency": False,
        "Inverted": False,
        "Disabled": True,
        "EnableSNI": True,
    }


def test_calculated_checks_round_trip(r53, routed):
    config = {
        "Type": "CALCULATED",
        "Inverted": False,
        "Disabled": False,
        "HealthThreshold": 1,
        "ChildHealthChecks": [routed["checks"]["good"], routed["checks"]["tcp"]],
    }
    made = r53.create_health_check(CallerReference="calc-1", HealthCheckConfig=config)["HealthCheck"]
    assert made["HealthCheckConfig"] == as_returned(config)
    assert r53.get_health_check(HealthCheckId=made["Id"])["HealthCheck"]["HealthCheckConfig"] == as_returned(config)
    r53.delete_health_check(HealthCheckId=made["Id"])


def route53_order(rrset):
    labels = rrset["Name"].rstrip(".").split(".")
    return (".".join(reversed(labels)) + ".", rrset["Type"], rrset.get("SetIdentifier", ""))


def test_list_resource_record_sets_paginates_over_300_records(r53):
    zid = zone_id(r53, "pages.test.", "pages-zone")
    sets = [
        {"Name": f"h{i:03}.pages.test.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": f"198.51.100.{i % 250}"}]}
        for i in range(320)
    ]
    sets += [
        {
            "Name": "w.pages.test.",
            "Type": "A",
            "SetIdentifier": f"s{i:02}",
            "Weight": i,
            "TTL": 60,
            "ResourceRecords": [{"Value": f"203.0.113.{i}"}],
        }
        for i in range(30)
    ]
    sets.append({"Name": "pages.test.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"v=1 apex"'}]})
    sets.append({"Name": "a-b.pages.test.", "Type": "MX", "TTL": 60, "ResourceRecords": [{"Value": "10 mail.pages.test."}]})
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]},
    )
    expected = sorted(sets, key=route53_order)
    generated = 2  # the apex SOA and NS, listed first

    # By hand, 100 at a time, following NextRecord*.
    got, pages, params = [], 0, {}
    while True:
        page = r53.list_resource_record_sets(HostedZoneId=zid, MaxItems="100", **params)
        pages += 1
        assert page["MaxItems"] == "100"
        got += page["ResourceRecordSets"]
        if not page["IsTruncated"]:
            break
        assert len(page["ResourceRecordSets"]) == 100
        params = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
        if "NextRecordIdentifier" in page:
            params["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    assert pages == 4
    assert [(r["Name"], r["Type"]) for r in got[:2]] == [("pages.test.", "NS"), ("pages.test.", "SOA")]
    assert own(got, "pages.test.") == expected
    assert len(got) == len(expected) + generated

    # boto3's paginator, at the default page size of 300.
    pages = list(r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zid))
    assert [len(p["ResourceRecordSets"]) for p in pages] == [300, 52 + generated]
    assert [r for p in pages for r in p["ResourceRecordSets"]] == got

    # Starting inside a weighted group.
    page = r53.list_resource_record_sets(
        HostedZoneId=zid,
        StartRecordName="w.pages.test",
        StartRecordType="A",
        StartRecordIdentifier="s10",
        MaxItems="5",
    )
    assert [r["SetIdentifier"] for r in page["ResourceRecordSets"]] == ["s10", "s11", "s12", "s13", "s14"]
    assert (page["NextRecordName"], page["NextRecordType"], page["NextRecordIdentifier"]) == (
        "w.pages.test.",
        "A",
        "s15",
    )


def test_ids_and_settings_survive_a_restart():
    with tempfile.TemporaryDirectory(prefix="eightfold-r53-restart-") as d:
        server = Server(d)
        try:
            r53 = server.client()
            zid = zone_id(r53, "durable.test.", "durable-zone")
            config = {
                "IPAddress": "127.0.0.1",
                "Port": 9,
                "Type": "HTTPS",
                "FullyQualifiedDomainName": "durable.test",
                "RequestInterval": 10,
                "FailureThreshold": 2,
                "Inverted": False,
                "Disabled": True,
                "EnableSNI": False,
            }
            check = r53.create_health_check(CallerReference="durable-check", HealthCheckConfig=config)["HealthCheck"]
            rrset = {
                "Name": "www.durable.test.",
                "Type": "A",
                "SetIdentifier": "one",
                "Failover": "PRIMARY",
                "TTL": 30,
                "ResourceRecords": [{"Value": "192.0.2.7"}],
                "HealthCheckId": check["Id"],
            }
            change = r53.change_resource_record_sets(
                HostedZoneId=zid,
                ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrset}]},
            )["ChangeInfo"]

            server.restart()
            r53 = server.client()
            assert r53.get_health_check(HealthCheckId=check["Id"])["HealthCheck"] == check
            assert r53.get_hosted_zone(Id=zid)["HostedZone"]["Name"] == "durable.test."
            listed = r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
            assert own(listed, "durable.test.") == [rrset]
            assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"
            assert server.query("www.durable.test.") == ["192.0.2.7"]
        finally:
            server.stop()


def test_names_and_values_take_route53_forms(server, r53):
    zid = zone_id(r53, "forms.test.", "forms-zone")
    sent = [
        {"Name": "*.forms.test.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.42"}]},
        {"Name": "txt.forms.test.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"a <b> & \\"c\\""'}, {"Value": '"second"'}]},
        {"Name": "alias.forms.test", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "target.elsewhere.test"}]},
        {"Name": "v6.forms.test.", "Type": "AAAA", "TTL": 60, "ResourceRecords": [{"Value": "2001:db8::1"}]},
        {"Name": "forms.test.", "Type": "MX", "TTL": 60, "ResourceRecords": [{"Value": "10 mail.elsewhere.test"}, {"Value": "20 backup.elsewhere.test."}]},
        {"Name": "forms.test.", "Type": "SPF", "TTL": 60, "ResourceRecords": [{"Value": '"v=spf1 ip4:192.0.2.0/24 -all"'}]},
    ]
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sent]},
    )
    listed = own(r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"], "forms.test.")
    by_type = {r["Type"]: r for r in listed}
    # Route 53 escapes `*` as \052 and returns names absolute.
    assert by_type["A"]["Name"] == "\\052.forms.test."
    assert by_type["TXT"] == sent[1]
    assert by_type["AAAA"] == sent[3]
    # A name in a value is absolute, with or without its dot, and is
    # listed as it was sent, so an idempotent tool sees no change.
    assert by_type["CNAME"]["Name"] == "alias.forms.test."
    assert by_type["CNAME"]["ResourceRecords"] == [{"Value": "target.elsewhere.test"}]
    assert by_type["MX"] == sent[4]
    assert by_type["SPF"] == sent[5]
    assert server.query("anything.forms.test.") == ["192.0.2.42"]
    assert server.query("alias.forms.test.", "CNAME") == ["target.elsewhere.test."]
    assert sorted(server.query("forms.test.", "MX")) == ["10 mail.elsewhere.test.", "20 backup.elsewhere.test."]
    # SPF is served as its own type, 99, with TXT's data.
    assert server.query("forms.test.", "SPF") == ['"v=spf1 ip4:192.0.2.0/24 -all"']
    # DELETE matches by meaning: the dotted form names the same target.
    dotted = dict(by_type["CNAME"], ResourceRecords=[{"Value": "target.elsewhere.test."}])
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": dotted}]},
    )
    listed = [r for r in listed if r["Type"] != "CNAME"]
    # The listed form is accepted back: DELETE with what LIST returned.
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in listed]},
    )
    assert own(r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"], "forms.test.") == []
    r53.delete_hosted_zone(Id=zid)


def test_file_managed_zones_are_listed_but_read_only():
    config = (
        "\n[[zone]]\n"
        'name = "file.test."\n'
        "[[zone.record]]\n"
        'name = "www"\n'
        'type = "A"\n'
        "ttl = 120\n"
        'values = ["192.0.2.80", "192.0.2.81"]\n'
    )
    with tempfile.TemporaryDirectory(prefix="eightfold-r53-file-") as d:
        server = Server(d, config)
        try:
            r53 = server.client()
            (zone,) = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "file.test."]
            listed = own(r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"], "file.test.")
            assert listed == [
                {
                    "Name": "www.file.test.",
                    "Type": "A",
                    "TTL": 120,
                    "ResourceRecords": [{"Value": "192.0.2.80"}, {"Value": "192.0.2.81"}],
                }
            ]
            with pytest.raises(ClientError) as e:
                r53.create_hosted_zone(Name="file.test", CallerReference="clash")
            assert error_of(e)[0] == "ConflictingDomainExists"
            with pytest.raises(ClientError) as e:
                r53.change_resource_record_sets(
                    HostedZoneId=zone["Id"],
                    ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": listed[0]}]},
                )
            code, message, status = error_of(e)
            assert (code, status) == ("InvalidInput", 400)
            assert "config file" in message
            # The derived id is stable across restarts.
            server.restart()
            assert server.client().get_hosted_zone(Id=zone["Id"])["HostedZone"]["Name"] == "file.test."
        finally:
            server.stop()


def test_a_check_by_name_alone_probes_that_name(r53, backend_factory):
    b = backend_factory()
    config = {
        "Port": b.port,
        "Type": "HTTP_STR_MATCH",
        "ResourcePath": "/ready",
        "FullyQualifiedDomainName": "localhost",
        "SearchString": "healthy",
        "RequestInterval": 10,
        "FailureThreshold": 1,
        "Inverted": False,
        "Disabled": False,
    }
    made = r53.create_health_check(CallerReference="by-name", HealthCheckConfig=config)["HealthCheck"]
    assert made["HealthCheckConfig"] == as_returned(config)

    def report():
        (obs,) = r53.get_health_check_status(HealthCheckId=made["Id"])["HealthCheckObservations"]
        return obs["StatusReport"].get("CheckedTime") and obs["StatusReport"]["Status"]

    assert wait_until("a probe of localhost", report, timeout=30).startswith("Success"), report()
    r53.delete_health_check(HealthCheckId=made["Id"])
    with pytest.raises(ClientError) as e:
        r53.get_health_check_status(HealthCheckId=made["Id"])
    assert error_of(e)[0] == "NoSuchHealthCheck"


def test_enable_sni_decides_whether_the_probe_sends_a_server_name(r53, tls_backend):
    config = {
        "IPAddress": "127.0.0.1",
        "Port": tls_backend.port,
        "Type": "HTTPS",
        "FullyQualifiedDomainName": "secure.example.test",
        "RequestInterval": 10,
        "FailureThreshold": 1,
        "EnableSNI": False,
    }
    check = r53.create_health_check(CallerReference="sni-off", HealthCheckConfig=config)["HealthCheck"]
    # A check's first probe comes within one interval (a random offset).
    wait_until("a probe without SNI", lambda: tls_backend.server_names)
    assert set(tls_backend.server_names) == {None}, tls_backend.server_names

    r53.update_health_check(HealthCheckId=check["Id"], HealthCheckVersion=1, EnableSNI=True)
    wait_until("a probe with SNI", lambda: "secure.example.test" in tls_backend.server_names)
    got = r53.get_health_check(HealthCheckId=check["Id"])["HealthCheck"]["HealthCheckConfig"]
    assert got["EnableSNI"] is True
    r53.delete_health_check(HealthCheckId=check["Id"])
