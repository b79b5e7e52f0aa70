"""Dynamic update (RFC 2136) and the Route 53 API see the same zone: a
record added by a dnspython UPDATE over UDP is listed by boto3, and
deleted through Route 53 it leaves DNS."""

import tempfile

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from conftest import Server

SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
KEYRING = dns.tsigkeyring.from_text({"acme.key.": SECRET})
CONFIG = f"""
[[tsig_key]]
name = "acme.key"
secret = "{SECRET}"
update = [{{ name = "_acme-challenge.upd.test.", types = ["TXT"] }}]
"""


@pytest.fixture(scope="module")
def updatable():
    with tempfile.TemporaryDirectory(prefix="eightfold-upd-") as d:
        s = Server(d, extra_config=CONFIG)
        try:
            yield s
        finally:
            s.stop()


def test_an_update_is_listed_by_route53_and_a_route53_delete_reaches_dns(updatable):
    r53 = updatable.client()
    zone_id = r53.create_hosted_zone(Name="upd.test.", CallerReference="upd-1")["HostedZone"]["Id"]
    u = dns.update.UpdateMessage("upd.test.", keyring=KEYRING, keyname="acme.key.")
    u.add("_acme-challenge", 120, "TXT", '"from nsupdate"')
    host, port = updatable.dns
    r = dns.query.udp(u, host, port=port, timeout=5)
    assert dns.rcode.to_text(r.rcode()) == "NOERROR"
    assert r.had_tsig, "the response is signed"

    sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    txt = [s for s in sets if s["Type"] == "TXT"]
    assert txt == [
        {
            "Name": "_acme-challenge.upd.test.",
            "Type": "TXT",
            "TTL": 120,
            "ResourceRecords": [{"Value": '"from nsupdate"'}],
        }
    ]
    assert updatable.query("_acme-challenge.upd.test.", "TXT") == ['"from nsupdate"']

    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": txt[0]}]},
    )
    assert updatable.query("_acme-challenge.upd.test.", "TXT") == []
