"""Writes the geolocation test database: a MaxMind DB (MMDB) in the shape
of GeoIP2-City (IPv6 tree holding IPv4, records with names, ids and
coordinates beside the codes eightfold reads), built with mmdb-writer
(PyPI), so the reader under test is fed a file no eightfold code wrote.

    python3 tests/geo/make_db.py OUT.mmdb [NETWORKS_JSON]

NETWORKS_JSON maps a network to "CONTINENT/COUNTRY[/SUBDIVISION]"; without
it, FIXTURE below. Used by tests/geolocation.rs,
tests/hot_path_allocations.rs and tests/route53/test_geolocation.py.
"""

import json
import sys

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# The networks the tests query from: loopback sources, and subnets sent
# in EDNS Client Subnet options (documentation ranges).
FIXTURE = {
    "127.0.0.1/32": "EU/FR",
    "127.0.0.2/32": "SA/BR",
    "198.51.100.0/24": "EU/DE/BE",
    "203.0.113.0/24": "AS/JP",
    "192.0.2.0/25": "NA/US/CA",
    "192.0.2.128/25": "NA/US/NY",
    "100.64.0.0/16": "NA/CA",
    "2001:db8::/32": "EU/GB/ENG",
}


def record(place):
    continent, country, *subdivision = place.split("/")
    data = {
        "continent": {"code": continent, "geoname_id": 6255148, "names": {"en": continent}},
        "country": {"iso_code": country, "geoname_id": 2921044, "names": {"en": country, "de": country}},
        "location": {"latitude": 52.5, "longitude": 13.4, "accuracy_radius": 100},
        "city": {"names": {"en": "Somewhere"}},
    }
    if subdivision:
        data["subdivisions"] = [
            {"iso_code": subdivision[0], "names": {"en": subdivision[0]}},
            {"iso_code": "ZZZ", "names": {"en": "a smaller one"}},
        ]
    return data


def main():
    out = sys.argv[1]
    networks = json.loads(sys.argv[2]) if len(sys.argv) > 2 else FIXTURE
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description="eightfold test database",
    )
    for network, place in networks.items():
        writer.insert_network(IPSet([network]), record(place))
    writer.to_db_file(out)


if __name__ == "__main__":
    main()
