"""The Route 53 clients over TLS with a token (issue 17: tokens and
signatures must not travel in clear): boto3 and the aws CLI reach the
API at `https://` with a CA bundle, sign with the token as the secret
access key, and the change is answered in DNS. Plain HTTP on that port
gets nothing."""

import http.client
import os
import subprocess
import sysconfig

import boto3
import botocore.exceptions
import pytest

from conftest import AWS_ENV, Server

TOKEN = "tls-test-token-8f1e"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "api-cert.pem", folder / "api-key.pem"
    # A certificate for the address the clients dial, so they verify it
    # (hostname included) against it as their CA bundle.
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=eightfold-api-test",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    (folder / "token").write_text(TOKEN + "\n")
    s = Server(
        folder,
        extra_config=(
            'api_token_file = "token"\n'
            f'api_tls_cert = "{cert}"\n'
            f'api_tls_key = "{key}"\n'
        ),
    )
    s.ca = str(cert)
    try:
        yield s
    finally:
        s.stop()


def client(server, secret):
    return boto3.client(
        "route53",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDTLS",
        aws_secret_access_key=secret,
        verify=server.ca,
    )


def test_boto3_over_tls_with_the_token_changes_dns(tls_server):
    assert tls_server.endpoint.startswith("https://127.0.0.1:")
    r53 = client(tls_server, TOKEN)
    created = r53.create_hosted_zone(Name="tls.test.", CallerReference="tls-1")
    zone = created["HostedZone"]
    location = created["ResponseMetadata"]["HTTPHeaders"]["location"]
    assert location.startswith(tls_server.endpoint + "/2013-04-01/hostedzone/"), location
    r53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={"Changes": [{
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "www.tls.test.", "Type": "A", "TTL": 60,
                "ResourceRecords": [{"Value": "192.0.2.44"}],
            },
        }]},
    )
    assert tls_server.query("www.tls.test.") == ["192.0.2.44"]


def test_boto3_over_tls_with_a_wrong_secret_is_refused(tls_server):
    r53 = client(tls_server, "not-the-token")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        r53.list_hosted_zones()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_the_aws_cli_over_tls_with_a_ca_bundle(tls_server, tmp_path):
    env = dict(os.environ, **AWS_ENV)
    env["AWS_SECRET_ACCESS_KEY"] = TOKEN
    env["PATH"] = sysconfig.get_path("scripts") + os.pathsep + env.get("PATH", "")
    line = ["aws", "route53", "--endpoint-url", tls_server.endpoint,
            "--ca-bundle", tls_server.ca, "list-hosted-zones"]
    done = subprocess.run(line, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tls.test." in done.stdout or '"HostedZones"' in done.stdout
    # Without the CA bundle the self-signed certificate is not trusted:
    # the client really verifies what the server presents.
    untrusted = subprocess.run(line[:4] + ["list-hosted-zones"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)
    assert untrusted.returncode != 0
    assert "SSL" in untrusted.stderr or "certificate" in untrusted.stderr


def test_plain_http_on_the_tls_port_gets_no_answer(tls_server):
    host, port = tls_server.endpoint.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/2013-04-01/hostedzone", headers={"Authorization": f"Bearer {TOKEN}"})
        conn.getresponse().read()
