"""Harness of the Route 53 compatibility tests: runs the real eightfold
binary on loopback port 0 and talks to it with boto3, the aws CLI and
dnspython, as a user would.

The binary is $EIGHTFOLD_BIN (set by tests/route53_clients.rs), else
target/debug/eightfold.
"""

import http.server
import os
import pathlib
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import dns.edns
import dns.message
import dns.query
import dns.rdatatype
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("EIGHTFOLD_BIN") or str(ROOT / "target" / "debug" / "eightfold")
READY = re.compile(r"\bready dns=(\S+) api=(\S+)")
READY_TIMEOUT = 20

# Dummy credentials: eightfold accepts signatures without checking them.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_PAGER": "",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def host_port(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class Server:
    """`eightfold serve` with the API on, its data in `data_dir`."""

    def __init__(self, data_dir, extra_config="", log_level="info"):
        self.log_level = log_level
        self.data_dir = pathlib.Path(data_dir)
        self.config = self.data_dir / "eightfold.toml"
        self.config.write_text(
            "[server]\n"
            'api = "127.0.0.1:0"\n'
            f'data = "{self.data_dir / "eightfold.db"}"\n' + extra_config
        )
        self.logs = []
        self.proc = None
        self.start()

    def start(self):
        env = dict(os.environ, RUST_LOG=self.log_level)
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--config", str(self.config), "--dns", "127.0.0.1:0"],
            cwd=self.data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        found = {}

        def read():
            for line in self.proc.stderr:
                self.logs.append(line.rstrip("\n"))
                m = READY.search(line)
                if m and not ready.is_set():
                    found["dns"], found["api"] = m.group(1), m.group(2)
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError("eightfold did not log its ready line:\n" + "\n".join(self.logs))
        self.dns = host_port(found["dns"].split(",")[0])
        api_host, api_port = host_port(found["api"])
        scheme = "https" if "api_tls_cert" in self.config.read_text() else "http"
        self.endpoint = f"{scheme}://{api_host}:{api_port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def client(self, config=None):
        """A boto3 client; `config` a botocore Config (for example one that
        turns off boto3's own parameter checks, to reach the server's)."""
        return boto3.client(
            "route53",
            config=config,
            endpoint_url=self.endpoint,
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def query(self, name, rtype="A"):
        """The answer values of one UDP query, as text."""
        q = dns.message.make_query(name, rtype)
        host, port = self.dns
        r = dns.query.udp(q, host, port=port, timeout=2)
        values = []
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rtype):
                values.extend(rd.to_text() for rd in rrset)
        return values

    def dig(self, name, rtype="A", subnet=None):
        """The answer section as dig(1) prints it, one (owner, type, value)
        per record: the check an operator would make by hand. `subnet`
        ("192.0.2.0/24") sends it as EDNS Client Subnet."""
        host, port = self.dns
        args = ["dig", f"@{host}", "-p", str(port), "+noall", "+answer", "+time=2", "+tries=1", name, rtype]
        if subnet:
            args.append(f"+subnet={subnet}")
        out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=10).stdout
        rows = []
        for line in out.splitlines():
            if line and not line.startswith(";"):
                owner, _ttl, _class, rtype_shown, value = line.split(None, 4)
                rows.append((owner, rtype_shown, value))
        return rows

    def dig_values(self, name, rtype="A", subnet=None):
        """The values of the records of type `rtype` that dig shows, sorted."""
        return sorted(value for _, shown, value in self.dig(name, rtype, subnet) if shown == rtype)


@pytest.fixture(scope="session")
def server():
    with tempfile.TemporaryDirectory(prefix="eightfold-r53-") as d:
        s = Server(d)
        try:
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="session")
def r53(server):
    return server.client()


class Backend:
    """An HTTP endpoint for health checks; `fail()` makes it answer 503.
    On `host` (any loopback address) and `port` (0: a free one)."""

    def __init__(self, host="127.0.0.1", port=0):
        self.healthy = True
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"OK healthy\n" if backend.healthy else b"down\n"
                self.send_response(200 if backend.healthy else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def fail(self):
        self.healthy = False

    def recover(self):
        self.healthy = True

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TlsBackend:
    """An HTTPS endpoint with a throwaway self-signed certificate (made by
    the openssl command); `server_names` lists the SNI of every handshake,
    None where the client sent none."""

    def __init__(self, folder):
        cert, key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=eightfold-test", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        self.server_names = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"OK\n")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls_backend(tmp_path):
    b = TlsBackend(tmp_path)
    yield b
    b.close()


def _backends():
    """Makes Backends on demand and closes them all at the end."""
    made = []

    def make(**where):
        b = Backend(**where)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


backend_factory = pytest.fixture(_backends, name="backend_factory")
backend_factory_module = pytest.fixture(_backends, scope="module", name="backend_factory_module")


def wait_until(what, predicate, timeout=30, step=0.2):
    """Polls `predicate` until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


# A server with the test database of tests/geo/make_db.py (geolocation
# tests: Route 53's record sets and octoDNS's geo rules).
# Subnets of tests/geo/make_db.py's fixture, and where they are.
CALIFORNIA = "192.0.2.0"  # /25: US-CA
NEW_YORK = "192.0.2.128"  # /25: US-NY
GERMANY = "198.51.100.0"  # /24: DE, Europe
JAPAN = "203.0.113.0"  # /24: JP, Asia
UNKNOWN = "10.1.0.0"  # in no network of the database

MAKE_DB = pathlib.Path(__file__).resolve().parents[1] / "geo" / "make_db.py"

@pytest.fixture(scope="module")
def geo_server():
    with tempfile.TemporaryDirectory(prefix="eightfold-geo-") as d:
        subprocess.run([sys.executable, str(MAKE_DB), str(pathlib.Path(d) / "geo.mmdb")], check=True)
        s = Server(d, extra_config='geoip_database = "geo.mmdb"\n')
        try:
            yield s
        finally:
            s.stop()


def ask(server, name, subnet, prefix=24):
    """The A values answered to a client in `subnet`/`prefix`, and the scope
    of the response's client subnet option."""
    q = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.ECSOption(subnet, prefix)])
    host, port = server.dns
    r = dns.query.udp(q, host, port=port, timeout=2)
    values = sorted(rd.to_text() for rrset in r.answer for rd in rrset)
    scopes = [o.scopelen for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert len(scopes) == 1, r.options
    return values, scopes[0]
