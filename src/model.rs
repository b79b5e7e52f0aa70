//! Plain data types for zones, record groups and their routing.
//!
//! Architecture invariant: nothing here does I/O. These types are what the
//! config loader (and later the API and store) produce, and what the
//! snapshot builder consumes.

use bytes::Bytes;
use domain::base::iana::Rtype;
use domain::base::{Name, ToName, Ttl};
use domain::rdata::ZoneRecordData;

/// Record data as the server keeps it: owned, uncompressed names.
pub type RData = ZoneRecordData<Bytes, Name<Bytes>>;

/// A domain name with owned octets.
pub type DName = Name<Bytes>;

/// TTL of config-file records that give none. Route 53 requires a TTL; we
/// default to a value short enough for health-based routing to matter.
pub const DEFAULT_RECORD_TTL: u32 = 300;

/// The most records one group (name + type) may hold, as in Route 53.
pub const MAX_RECORDS_PER_GROUP: usize = 100;

/// The most records a multivalue answer carries.
pub const MULTIVALUE_MAX_ANSWERS: usize = 8;

/// Where a record came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File, line and column, rendered as `file:line:col`. Shared: a
    /// file's every record names it, a million times at most.
    pub file: std::sync::Arc<std::path::Path>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// Routing policy of a record group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// One record, all values returned in random order.
    Simple,
    /// Up to eight healthy records, chosen at random.
    Multivalue,
    /// Primary while healthy, else secondary.
    Failover,
    /// One record chosen by weight among the healthy ones.
    Weighted,
    /// The record of the client's location; without location data, the
    /// default location's (`*`).
    Geolocation,
}

impl Policy {
    /// The name used in the config file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Simple => "simple",
            Policy::Multivalue => "multivalue",
            Policy::Failover => "failover",
            Policy::Weighted => "weighted",
            Policy::Geolocation => "geolocation",
        }
    }

    /// Parses the config-file spelling.
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "simple" => Policy::Simple,
            "multivalue" => Policy::Multivalue,
            "failover" => Policy::Failover,
            "weighted" => Policy::Weighted,
            "geolocation" => Policy::Geolocation,
            _ => return None,
        })
    }
}

/// Role of a record in a failover group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailoverRole {
    /// Answers while healthy.
    Primary,
    /// Answers when the primary is unhealthy.
    Secondary,
}

impl FailoverRole {
    /// The name used in the config file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverRole::Primary => "primary",
            FailoverRole::Secondary => "secondary",
        }
    }
}

/// One record of a group, as declared by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSpec {
    /// Absolute owner name, case as written.
    pub owner: DName,
    /// Record type.
    pub rtype: Rtype,
    /// TTL of every value of this record.
    pub ttl: Ttl,
    /// Routing policy of the group this record belongs to.
    pub policy: Policy,
    /// Set identifier; `None` only for simple records.
    pub set: Option<String>,
    /// The values; exactly one for every policy but simple.
    pub values: Vec<RData>,
    /// Health check id, if any.
    pub health_check: Option<String>,
    /// Failover role, for failover records.
    pub failover: Option<FailoverRole>,
    /// Weight, for weighted records.
    pub weight: Option<u8>,
    /// For an alias: the name whose records of this type it answers with;
    /// `values` is then empty.
    pub alias: Option<AliasSpec>,
    /// Where a geolocation record applies.
    pub location: Option<Location>,
    /// Where it was declared, when it came from a file.
    pub origin: Option<Origin>,
}

/// Where a geolocation record applies (Route 53's GeoLocation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// Every client no other record of the group matches (`*`).
    Default,
    /// A continent: AF, AN, AS, EU, NA, OC or SA.
    Continent(String),
    /// A country, by ISO 3166-1 alpha-2 code.
    Country(String),
    /// A subdivision of a country (ISO 3166-2 code without the country).
    Subdivision(String, String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Default => f.write_str("*"),
            Location::Continent(c) => write!(f, "continent {c}"),
            Location::Country(c) => write!(f, "country {c}"),
            Location::Subdivision(c, s) => write!(f, "{c}-{s}"),
        }
    }
}

impl Location {
    /// How closely this location fits a client at `place` (`None`: where
    /// the client is, is not known): 0 for its subdivision, 1 its country,
    /// 2 its continent, 3 the default; `None` when it does not fit. The
    /// smallest rank that fits wins (Route 53: the smallest region).
    pub fn rank(&self, place: Option<&Place>) -> Option<u8> {
        match (self, place) {
            (Location::Default, _) => Some(3),
            (Location::Subdivision(c, s), Some(p)) if p.country.is(c) && p.subdivision.is(s) => {
                Some(0)
            }
            (Location::Country(c), Some(p)) if p.country.is(c) => Some(1),
            (Location::Continent(c), Some(p)) if p.continent.is(c) => Some(2),
            _ => None,
        }
    }
}

/// Where a client is, as a geolocation database tells it: codes as
/// Route 53 names locations. Plain bytes, so that finding it allocates
/// nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Place {
    /// Continent code (AF, AN, AS, EU, NA, OC, SA); empty when unknown.
    pub continent: Code,
    /// ISO 3166-1 alpha-2 country code; empty when unknown.
    pub country: Code,
    /// The country's first-level subdivision (ISO 3166-2 without the
    /// country); empty when unknown.
    pub subdivision: Code,
}

/// A location code of at most 3 ASCII letters or digits, held inline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Code {
    bytes: [u8; 3],
    len: u8,
}

impl Code {
    /// `text` upper-cased as a code; empty when it is not 1 to 3 ASCII
    /// letters or digits (nothing a record could name).
    pub fn new(text: &str) -> Code {
        let mut code = Code::default();
        if (1..=3).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            for (slot, b) in code.bytes.iter_mut().zip(text.bytes()) {
                *slot = b.to_ascii_uppercase();
            }
            code.len = text.len() as u8;
        }
        code
    }

    /// The code; empty when unknown.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether this is `code` (never when unknown).
    pub fn is(&self, code: &str) -> bool {
        self.len > 0 && self.as_str() == code
    }
}

/// The ISO 3166-1 alpha-2 country codes (officially assigned, as Debian's
/// iso-codes lists them), sorted: the countries a geolocation record may
/// name, as Route 53 refuses any other.
pub const COUNTRIES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// The names of [`COUNTRIES`], in the same order (Debian's iso-codes, the
/// common name where it has one): GetGeoLocation's CountryName.
pub const COUNTRY_NAMES: [&str; 249] = [
    "Andorra",
    "United Arab Emirates",
    "Afghanistan",
    "Antigua and Barbuda",
    "Anguilla",
    "Albania",
    "Armenia",
    "Angola",
    "Antarctica",
    "Argentina",
    "American Samoa",
    "Austria",
    "Australia",
    "Aruba",
    "Åland Islands",
    "Azerbaijan",
    "Bosnia and Herzegovina",
    "Barbados",
    "Bangladesh",
    "Belgium",
    "Burkina Faso",
    "Bulgaria",
    "Bahrain",
    "Burundi",
    "Benin",
    "Saint Barthélemy",
    "Bermuda",
    "Brunei Darussalam",
    "Bolivia",
    "Bonaire, Sint Eustatius and Saba",
    "Brazil",
    "Bahamas",
    "Bhutan",
    "Bouvet Island",
    "Botswana",
    "Belarus",
    "Belize",
    "Canada",
    "Cocos (Keeling) Islands",
    "Congo, The Democratic Republic of the",
    "Central African Republic",
    "Congo",
    "Switzerland",
    "Côte d'Ivoire",
    "Cook Islands",
    "Chile",
    "Cameroon",
    "China",
    "Colombia",
    "Costa Rica",
    "Cuba",
    "Cabo Verde",
    "Curaçao",
    "Christmas Island",
    "Cyprus",
    "Czechia",
    "Germany",
    "Djibouti",
    "Denmark",
    "Dominica",
    "Dominican Republic",
    "Algeria",
    "Ecuador",
    "Estonia",
    "Egypt",
    "Western Sahara",
    "Eritrea",
    "Spain",
    "Ethiopia",
    "Finland",
    "Fiji",
    "Falkland Islands (Malvinas)",
    "Micronesia, Federated States of",
    "Faroe Islands",
    "France",
    "Gabon",
    "United Kingdom",
    "Grenada",
    "Georgia",
    "French Guiana",
    "Guernsey",
    "Ghana",
    "Gibraltar",
    "Greenland",
    "Gambia",
    "Guinea",
    "Guadeloupe",
    "Equatorial Guinea",
    "Greece",
    "South Georgia and the South Sandwich Islands",
    "Guatemala",
    "Guam",
    "Guinea-Bissau",
    "Guyana",
    "Hong Kong",
    "Heard Island and McDonald Islands",
    "Honduras",
    "Croatia",
    "Haiti",
    "Hungary",
    "Indonesia",
    "Ireland",
    "Israel",
    "Isle of Man",
    "India",
    "British Indian Ocean Territory",
    "Iraq",
    "Iran",
    "Iceland",
    "Italy",
    "Jersey",
    "Jamaica",
    "Jordan",
    "Japan",
    "Kenya",
    "Kyrgyzstan",
    "Cambodia",
    "Kiribati",
    "Comoros",
    "Saint Kitts and Nevis",
    "North Korea",
    "South Korea",
    "Kuwait",
    "Cayman Islands",
    "Kazakhstan",
    "Laos",
    "Lebanon",
    "Saint Lucia",
    "Liechtenstein",
    "Sri Lanka",
    "Liberia",
    "Lesotho",
    "Lithuania",
    "Luxembourg",
    "Latvia",
    "Libya",
    "Morocco",
    "Monaco",
    "Moldova",
    "Montenegro",
    "Saint Martin (French part)",
    "Madagascar",
    "Marshall Islands",
    "North Macedonia",
    "Mali",
    "Myanmar",
    "Mongolia",
    "Macao",
    "Northern Mariana Islands",
    "Martinique",
    "Mauritania",
    "Montserrat",
    "Malta",
    "Mauritius",
    "Maldives",
    "Malawi",
    "Mexico",
    "Malaysia",
    "Mozambique",
    "Namibia",
    "New Caledonia",
    "Niger",
    "Norfolk Island",
    "Nigeria",
    "Nicaragua",
    "Netherlands",
    "Norway",
    "Nepal",
    "Nauru",
    "Niue",
    "New Zealand",
    "Oman",
    "Panama",
    "Peru",
    "French Polynesia",
    "Papua New Guinea",
    "Philippines",
    "Pakistan",
    "Poland",
    "Saint Pierre and Miquelon",
    "Pitcairn",
    "Puerto Rico",
    "Palestine, State of",
    "Portugal",
    "Palau",
    "Paraguay",
    "Qatar",
    "Réunion",
    "Romania",
    "Serbia",
    "Russian Federation",
    "Rwanda",
    "Saudi Arabia",
    "Solomon Islands",
    "Seychelles",
    "Sudan",
    "Sweden",
    "Singapore",
    "Saint Helena, Ascension and Tristan da Cunha",
    "Slovenia",
    "Svalbard and Jan Mayen",
    "Slovakia",
    "Sierra Leone",
    "San Marino",
    "Senegal",
    "Somalia",
    "Suriname",
    "South Sudan",
    "Sao Tome and Principe",
    "El Salvador",
    "Sint Maarten (Dutch part)",
    "Syria",
    "Eswatini",
    "Turks and Caicos Islands",
    "Chad",
    "French Southern Territories",
    "Togo",
    "Thailand",
    "Tajikistan",
    "Tokelau",
    "Timor-Leste",
    "Turkmenistan",
    "Tunisia",
    "Tonga",
    "Türkiye",
    "Trinidad and Tobago",
    "Tuvalu",
    "Taiwan",
    "Tanzania",
    "Ukraine",
    "Uganda",
    "United States Minor Outlying Islands",
    "United States",
    "Uruguay",
    "Uzbekistan",
    "Holy See (Vatican City State)",
    "Saint Vincent and the Grenadines",
    "Venezuela",
    "Virgin Islands, British",
    "Virgin Islands, U.S.",
    "Vietnam",
    "Vanuatu",
    "Wallis and Futuna",
    "Samoa",
    "Yemen",
    "Mayotte",
    "South Africa",
    "Zambia",
    "Zimbabwe",
];

/// Whether `code` is an ISO 3166-1 alpha-2 country code.
pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

/// The continent codes of Route 53's GeoLocation.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// The names of [`CONTINENTS`], in the same order, as Route 53 gives them.
pub const CONTINENT_NAMES: [&str; 7] = [
    "Africa",
    "Antarctica",
    "Asia",
    "Europe",
    "North America",
    "Oceania",
    "South America",
];

/// What an alias record answers with (Route 53's AliasTarget within one
/// zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    /// The target name, absolute, in the alias's own zone.
    pub target: DName,
    /// Whether the alias is healthy only while its target has a healthy
    /// answer.
    pub evaluate_target_health: bool,
}

/// One zone, as declared by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    /// The apex, absolute.
    pub name: DName,
    /// Every record of the zone, from its zone file and the config.
    pub records: Vec<RecordSpec>,
}

/// Types a multivalue record may have (Route 53's list).
pub fn multivalue_allows(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::A
            | Rtype::AAAA
            | Rtype::MX
            | Rtype::TXT
            | Rtype::SRV
            | Rtype::CAA
            | Rtype::PTR
            | Rtype::NAPTR
    )
}

/// How a health check probes its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Healthy when a TCP connection opens.
    Tcp,
    /// Healthy on a 2xx/3xx HTTP status (and the search string, if any).
    Http,
    /// As `Http`, over TLS with SNI and no certificate validation.
    Https,
    /// Healthy when at least `healthy_threshold` of `children` are.
    Calculated {
        /// Ids of the child checks.
        children: Vec<String>,
        /// How many children must be healthy.
        healthy_threshold: u32,
    },
}

/// Where an endpoint check connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fixed address.
    Ip(std::net::IpAddr),
    /// A name resolved afresh at every check.
    Fqdn(String),
}

/// A health check, as declared by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSpec {
    /// Unique id, referenced by records.
    pub id: String,
    /// What it probes.
    pub kind: CheckKind,
    /// Endpoint address; `None` for calculated checks.
    pub target: Option<Target>,
    /// TCP port.
    pub port: u16,
    /// HTTP path.
    pub path: String,
    /// Host header and TLS SNI.
    pub host: Option<String>,
    /// Whether https probes send SNI.
    pub sni: bool,
    /// String required in the first 5,120 bytes of the body.
    pub search: Option<String>,
    /// Time between checks.
    pub interval: std::time::Duration,
    /// Consecutive disagreeing results needed to change state.
    pub failure_threshold: u8,
    /// Response deadline after connecting.
    pub timeout: std::time::Duration,
    /// Flip the result.
    pub invert: bool,
    /// Always healthy (unhealthy when inverted).
    pub disabled: bool,
    /// The cluster's vote (`health::vote`): healthy when more than this
    /// percentage of the live nodes' observations are; `None` takes
    /// `[server] healthy_percent`.
    pub healthy_percent: Option<u8>,
}

/// TTL of the records eightfold generates (SOA, NS, name server addresses).
pub const GENERATED_TTL: u32 = 3600;

/// `label.apex`, or the apex itself when that would be too long.
pub fn prefixed(apex: &DName, label: &str) -> DName {
    let rel = domain::base::RelativeName::<Bytes>::from_octets(Bytes::from(
        [&[label.len() as u8][..], label.as_bytes()].concat(),
    ))
    .expect("valid label");
    match rel.chain(apex) {
        Ok(chain) => chain.to_name(),
        // Too long to prefix: use the apex itself.
        Err(_) => apex.clone(),
    }
}
