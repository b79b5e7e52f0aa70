"""Geolocation record sets through the Route 53 API (boto3), answered by
where each client is: a server with the test database of
tests/geo/make_db.py, and dnspython queries carrying EDNS Client Subnet
options (RFC 7871) for clients in several countries."""

from conftest import CALIFORNIA, GERMANY, JAPAN, NEW_YORK, UNKNOWN, ask, wait_until



def sets_for(name, check=None):
    def one(ident, location, value):
        s = {"Name": name, "Type": "A", "SetIdentifier": ident, "GeoLocation": location,
             "TTL": 60, "ResourceRecords": [{"Value": value}]}
        if check and ident == "us-ca":
            s["HealthCheckId"] = check
        return s
    return [
        one("default", {"CountryCode": "*"}, "192.0.2.1"),
        one("de", {"CountryCode": "DE"}, "192.0.2.2"),
        one("as", {"ContinentCode": "AS"}, "192.0.2.3"),
        one("us-ca", {"CountryCode": "US", "SubdivisionCode": "CA"}, "192.0.2.4"),
        one("us", {"CountryCode": "US"}, "192.0.2.5"),
    ]


def test_geolocation_sets_round_trip_and_answer_each_country(geo_server):
    r53 = geo_server.client()
    zid = r53.create_hosted_zone(Name="geo.test", CallerReference="geo-countries")["HostedZone"]["Id"]
    sets = sets_for("www.geo.test.")
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]})
    listed = [r for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
              if r["Name"] == "www.geo.test."]
    key = lambda r: r["SetIdentifier"]  # noqa: E731
    assert sorted(listed, key=key) == sorted(sets, key=key)
    # (client subnet, prefix, answer, scope: the database network's length)
    for subnet, prefix, want, scope in [
        (CALIFORNIA, 24, "192.0.2.4", 25),
        (NEW_YORK, 25, "192.0.2.5", 25),
        (GERMANY, 24, "192.0.2.2", 24),
        (JAPAN, 24, "192.0.2.3", 24),
        (UNKNOWN, 16, "192.0.2.1", 2),
    ]:
        assert ask(geo_server, "www.geo.test.", subnet, prefix) == ([want], scope), subnet
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": s} for s in sets]})
    r53.delete_hosted_zone(Id=zid)


def test_an_unhealthy_state_falls_back_to_its_country(geo_server, backend_factory):
    r53 = geo_server.client()
    backend = backend_factory()
    check = r53.create_health_check(CallerReference="geo-ca", HealthCheckConfig={
        "IPAddress": "127.0.0.1", "Port": backend.port, "Type": "HTTP", "ResourcePath": "/",
        "RequestInterval": 10, "FailureThreshold": 1})["HealthCheck"]["Id"]
    zid = r53.create_hosted_zone(Name="geo-health.test", CallerReference="geo-health")["HostedZone"]["Id"]
    sets = sets_for("www.geo-health.test.", check)
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]})
    assert ask(geo_server, "www.geo-health.test.", CALIFORNIA)[0] == ["192.0.2.4"]
    backend.fail()
    wait_until("California's check fails over to the US record",
               lambda: ask(geo_server, "www.geo-health.test.", CALIFORNIA)[0] == ["192.0.2.5"])
    backend.recover()
    wait_until("California's record is back",
               lambda: ask(geo_server, "www.geo-health.test.", CALIFORNIA)[0] == ["192.0.2.4"])
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": s} for s in sets]})
    r53.delete_hosted_zone(Id=zid)
    r53.delete_health_check(HealthCheckId=check)
