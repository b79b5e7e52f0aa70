"""octoDNS with octodns-route53 (PyPI), unchanged, against eightfold:
zones of static and dynamic records (pools, rules by geography with a
default, health checks) synced, synced again with no change planned,
dumped back equal, and answered, as dig shows, as their health and each client's
location say (issue 13). The provider is pointed at eightfold only
through boto3's standard AWS_ENDPOINT_URL_ROUTE_53 variable."""

import json
import os
import subprocess
import sysconfig
import time
import urllib.request

import yaml

from conftest import AWS_ENV, CALIFORNIA, GERMANY, JAPAN, NEW_YORK, wait_until

ZONE = "octo.test."

SOURCE = """---
'':
  - type: A
    values: [192.0.2.1, 192.0.2.2]
  - type: CAA
    value: {flags: 0, tag: issue, value: letsencrypt.org}
  - type: MX
    values:
      - exchange: mail.octo.test.
        preference: 10
      - exchange: mx.elsewhere.test.
        preference: 20
  - type: TXT
    values: ['hello world', 'v=spf1 -all']
_sip._tcp:
  type: SRV
  value: {port: 5060, priority: 10, target: sip.octo.test., weight: 20}
v6:
  type: AAAA
  value: 2001:db8::1
www:
  type: CNAME
  value: web.elsewhere.test.
"""

CONFIG = """providers:
  config:
    class: octodns.provider.yaml.YamlProvider
    directory: ./config
  route53:
    class: octodns_route53.Route53Provider
    access_key_id: env/AWS_ACCESS_KEY_ID
    secret_access_key: env/AWS_SECRET_ACCESS_KEY
zones:
  octo.test.:
    sources: [config]
    targets: [route53]
"""


def octodns(server, cwd, *args):
    """Runs an octoDNS command in `cwd`; returns its log (stderr and stdout)."""
    env = dict(os.environ, **AWS_ENV, AWS_ENDPOINT_URL_ROUTE_53=server.endpoint)
    env["PATH"] = sysconfig.get_path("scripts") + os.pathsep + env.get("PATH", "")
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{log}"
    return log


def sync_twice_and_dump(server, tmp_path, zone, source, creates):
    """Writes `source` as zone `zone`'s octoDNS config, syncs it (`creates`
    record sets made), syncs again (nothing planned: idempotent) and dumps
    the zone back from Route 53; returns the dump as YAML data."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / f"{zone}yaml").write_text(source)
    (tmp_path / "octo.yaml").write_text(CONFIG.replace(ZONE, zone))
    first = octodns(server, tmp_path, "octodns-sync", "--config-file=octo.yaml", "--doit")
    assert f"Creates={creates}, Updates=0, Deletes=0" in first, first
    second = octodns(server, tmp_path, "octodns-sync", "--config-file=octo.yaml")
    assert "No changes were planned" in second, second
    octodns(server, tmp_path, "octodns-dump", "--config-file=octo.yaml", "--output-dir=dump", zone, "route53")
    return yaml.safe_load((tmp_path / "dump" / f"{zone}yaml").read_text())


def test_octodns_syncs_a_static_zone_and_sees_no_change_after(server, tmp_path):
    dumped = sync_twice_and_dump(server, tmp_path, ZONE, SOURCE, creates=7)
    # eightfold's generated apex NS is listed, as Route 53 lists its own.
    dumped[""] = [r for r in dumped[""] if r["type"] != "NS"]
    assert dumped == yaml.safe_load(SOURCE)

    assert server.dig_values(ZONE, "A") == ["192.0.2.1", "192.0.2.2"]
    assert server.dig_values(ZONE, "MX") == ["10 mail.octo.test.", "20 mx.elsewhere.test."]
    assert server.dig_values("www.octo.test.", "CNAME") == ["web.elsewhere.test."]
    assert server.dig_values("_sip._tcp.octo.test.", "SRV") == ["10 20 5060 sip.octo.test."]


DYNAMIC = """---
cdn:
  dynamic:
    pools:
      fallback:
        values:
        - status: up
          value: fallback.elsewhere.test.
      primary:
        fallback: fallback
        values:
        - value: primary.elsewhere.test.
    rules:
    - pool: primary
  octodns:
    healthcheck:
      path: /health
      port: {port}
      protocol: HTTP
    route53:
      healthcheck:
        failure_threshold: 1
        measure_latency: true
        request_interval: 10
  type: CNAME
  value: default.elsewhere.test.
www:
  dynamic:
    pools:
      fallback:
        values:
        - value: 127.0.0.2
      primary:
        fallback: fallback
        values:
        - value: 127.0.0.1
    rules:
    - pool: primary
  octodns:
    healthcheck:
      host: www.dyn.test
      path: /health
      port: {port}
      protocol: HTTP
    route53:
      healthcheck:
        failure_threshold: 1
        measure_latency: true
        request_interval: 10
  type: A
  value: 192.0.2.99
"""


def test_octodns_dynamic_records_follow_health(server, tmp_path, backend_factory):
    """Dynamic records (pools, a catch-all rule, health checks) as
    octodns-route53 builds them: weighted value sets with health checks,
    failover aliases per pool and a default-location geolocation alias,
    for an A record and a CNAME (aliases of type CNAME). The CNAME's
    check probes its value by name, which does not resolve here: an
    operator override (the JSON API) stands in for its probe. Its
    fallback pool is unchecked (status up)."""
    primary = backend_factory()
    fallback = backend_factory(host="127.0.0.2", port=primary.port)
    source = DYNAMIC.format(port=primary.port)
    dumped = sync_twice_and_dump(server, tmp_path, "dyn.test.", source, creates=2)
    want = yaml.safe_load(source)["www"]
    # octoDNS writes its defaults out: no fallback, status obey, weight 1.
    for pool in want["dynamic"]["pools"].values():
        pool.setdefault("fallback", None)
        pool["values"] = [dict({"status": "obey", "weight": 1}, **v) for v in pool["values"]]
    assert dumped["www"]["dynamic"] == want["dynamic"]
    assert dumped["www"]["value"] == want["value"]
    assert dumped["cdn"]["type"] == "CNAME"
    assert dumped["cdn"]["value"] == "default.elsewhere.test."
    assert dumped["cdn"]["dynamic"]["rules"] == [{"pool": "primary"}]

    wait_until("the primary pool answering", lambda: server.dig_values("www.dyn.test.") == ["127.0.0.1"])
    primary.fail()
    wait_until("the fallback pool answering", lambda: server.dig_values("www.dyn.test.") == ["127.0.0.2"])
    primary.recover()
    wait_until("the primary pool again", lambda: server.dig_values("www.dyn.test.") == ["127.0.0.1"])

    # The CNAME: one check, on its primary value's name.
    r53 = server.client()
    [check] = [c["Id"] for c in r53.list_health_checks()["HealthChecks"]
               if c["HealthCheckConfig"].get("FullyQualifiedDomainName") == "primary.elsewhere.test."]
    cname = lambda: server.dig_values("cdn.dyn.test.", "CNAME")
    for status, answer in [("healthy", "primary.elsewhere.test."), ("unhealthy", "fallback.elsewhere.test."),
                           ("healthy", "primary.elsewhere.test.")]:
        override(server, check, status)
        wait_until(f"cdn answering {answer}", lambda: cname() == [answer])
        # An A query gets the CNAME under the name asked for.
        assert server.dig("cdn.dyn.test.", "A") == [("cdn.dyn.test.", "CNAME", answer)]
    override(server, check, None)


def override(server, check, status):
    """Forces the state of `check` through eightfold's JSON API (None
    releases it): Route 53 has no such operation."""
    request = urllib.request.Request(f"{server.endpoint}/v1/health-checks/{check}/override",
                                     data=json.dumps({"status": status}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        assert reply.status == 200


GEO = """---
'':
  type: A
  value: 192.0.2.1
www:
  dynamic:
    pools:
      eu:
        fallback: main
        values:
        - value: 127.0.0.3
      main:
        values:
        - value: 127.0.0.1
      west:
        fallback: main
        values:
        - value: 127.0.0.4
    rules:
    - geos: [EU-DE]
      pool: eu
    - geos: [NA-US-CA]
      pool: west
    - pool: main
  octodns:
    healthcheck:
      host: www.geo-octo.test
      path: /health
      port: {port}
      protocol: HTTP
    route53:
      healthcheck:
        failure_threshold: 1
        request_interval: 10
  type: A
  value: 192.0.2.99
"""

def test_octodns_geo_rules_answer_each_client_by_its_location(geo_server, tmp_path, backend_factory):
    """A zone with a static record and a dynamic one whose rules send
    Germany and California to pools of their own and everyone else to a
    default pool, synced by octoDNS (geolocation sets by country and
    subdivision, and the `*` default, as octodns-route53 builds them),
    synced again with no change, dumped back equal; clients in each place
    (EDNS Client Subnet) get their pool, and Germany's pool falls back to
    the default one when its backend fails."""
    main = backend_factory()
    eu = backend_factory(host="127.0.0.3", port=main.port)
    backend_factory(host="127.0.0.4", port=main.port)
    source = GEO.format(port=main.port)
    dumped = sync_twice_and_dump(geo_server, tmp_path, "geo-octo.test.", source, creates=2)
    assert dumped["www"]["dynamic"]["rules"] == yaml.safe_load(source)["www"]["dynamic"]["rules"]

    # California and New York are the two halves of one /24.
    answers = lambda: {place: geo_server.dig_values("www.geo-octo.test.", "A", f"{subnet}/{prefix}")[0]
                       for place, subnet, prefix in [("CA", CALIFORNIA, 25), ("NY", NEW_YORK, 25),
                                                     ("DE", GERMANY, 24), ("JP", JAPAN, 24)]}
    seen = {}

    def answered(want):
        seen.update(answers())
        assert seen == want or time.monotonic() < give_up, f"answers {seen}, wanted {want}"
        return seen == want

    want = {"CA": "127.0.0.4", "NY": "127.0.0.1", "DE": "127.0.0.3", "JP": "127.0.0.1"}
    give_up = time.monotonic() + 25
    wait_until("each client answered by its pool", lambda: answered(want) or None, timeout=30)
    assert geo_server.dig_values("geo-octo.test.", "A", f"{GERMANY}/24") == ["192.0.2.1"]
    eu.fail()
    want["DE"] = "127.0.0.1"
    give_up = time.monotonic() + 25
    wait_until("Germany falling back to the default pool", lambda: answered(want) or None)
