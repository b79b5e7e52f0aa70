"""The aws CLI against eightfold, typed exactly as a user would, with
`--endpoint-url` and dummy credentials in the environment."""

import json
import os
import shlex
import shutil
import subprocess
import sysconfig

import pytest

from conftest import AWS_ENV


def aws(server, command, cwd, ok=True):
    """Runs `aws route53 --endpoint-url URL <command>` through the shell."""
    line = f"aws route53 --endpoint-url {server.endpoint} {command}"
    env = dict(os.environ, **AWS_ENV)
    # pip puts `aws` beside this Python's other scripts; a fresh install
    # under pyenv has no shim for it until `pyenv rehash`.
    env["PATH"] = sysconfig.get_path("scripts") + os.pathsep + env.get("PATH", "")
    done = subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None
    assert done.returncode != 0, f"{line} should have failed:\n{done.stdout}"
    return done.stderr


def test_the_aws_cli_manages_a_zone(server, tmp_path):
    path = sysconfig.get_path("scripts") + os.pathsep + os.environ.get("PATH", "")
    assert shutil.which("aws", path=path), "the aws CLI is missing: pip install boto3 awscli dnspython pytest octodns octodns-route53"
    zone = aws(server, "create-hosted-zone --name cli.test --caller-reference cli-zone-1", tmp_path)
    zone_id = zone["HostedZone"]["Id"]
    assert zone["HostedZone"]["Name"] == "cli.test."

    check = aws(
        server,
        "create-health-check --caller-reference cli-check-1 "
        "--health-check-config IPAddress=127.0.0.1,Port=9,Type=TCP,Disabled=true",
        tmp_path,
    )["HealthCheck"]

    batch = {
        "Comment": "from the CLI",
        "Changes": [
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": "www.cli.test.",
                    "Type": "A",
                    "SetIdentifier": f"web-{i}",
                    "MultiValueAnswer": True,
                    "TTL": 60,
                    "ResourceRecords": [{"Value": f"192.0.2.{i}"}],
                    **({"HealthCheckId": check["Id"]} if i == 1 else {}),
                },
            }
            for i in (1, 2, 3)
        ]
        + [
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": "cli.test.",
                    "Type": "TXT",
                    "TTL": 300,
                    "ResourceRecords": [{"Value": '"hello from the cli"'}],
                },
            }
        ],
    }
    (tmp_path / "batch.json").write_text(json.dumps(batch))
    change = aws(
        server,
        f"change-resource-record-sets --hosted-zone-id {shlex.quote(zone_id)} --change-batch file://batch.json",
        tmp_path,
    )["ChangeInfo"]
    assert change["Status"] == "INSYNC"
    assert aws(server, f"get-change --id {change['Id']}", tmp_path)["ChangeInfo"]["Status"] == "INSYNC"

    listed = aws(server, f"list-resource-record-sets --hosted-zone-id {zone_id}", tmp_path)
    sent = [c["ResourceRecordSet"] for c in batch["Changes"]]
    listed = [r for r in listed["ResourceRecordSets"] if r["Type"] not in ("SOA", "NS")]
    assert listed == [sent[3]] + sent[:3]

    assert sorted(server.query("www.cli.test.")) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert server.query("cli.test.", "TXT") == ['"hello from the cli"']

    stderr = aws(
        server,
        f"change-resource-record-sets --hosted-zone-id {zone_id} --change-batch file://batch.json",
        tmp_path,
        ok=False,
    )
    assert "InvalidChangeBatch" in stderr and "already exists" in stderr, stderr

    zones = aws(server, "list-hosted-zones", tmp_path)["HostedZones"]
    assert zone_id in [z["Id"] for z in zones]
    stderr = aws(server, f"delete-hosted-zone --id {zone_id}", tmp_path, ok=False)
    assert "HostedZoneNotEmpty" in stderr, stderr


@pytest.mark.parametrize("command", ["get-hosted-zone --id ZNOSUCHZONE0000"])
def test_the_aws_cli_reports_route53_errors(server, tmp_path, command):
    stderr = aws(server, command, tmp_path, ok=False)
    assert "NoSuchHostedZone" in stderr, stderr


def test_the_aws_cli_tags_a_health_check(server, tmp_path):
    check = aws(
        server,
        "create-health-check --caller-reference cli-tags "
        "--health-check-config IPAddress=127.0.0.1,Port=9,Type=TCP,Disabled=true,MeasureLatency=true",
        tmp_path,
    )["HealthCheck"]
    assert check["HealthCheckConfig"]["MeasureLatency"] is True
    rid = check["Id"]
    assert aws(server, f"change-tags-for-resource --resource-type healthcheck --resource-id {rid} "
                       "--add-tags Key=Name,Value=cli", tmp_path) is None
    listed = aws(server, f"list-tags-for-resource --resource-type healthcheck --resource-id {rid}", tmp_path)
    assert listed["ResourceTagSet"]["Tags"] == [{"Key": "Name", "Value": "cli"}]
    aws(server, f"delete-health-check --health-check-id {rid}", tmp_path)
