//! GetGeoLocation and ListGeoLocations: the locations a geolocation record
//! set may name, from the same lists that validate those records
//! (`model::CONTINENTS` and `model::COUNTRIES`), so that what these say
//! exists is exactly what ChangeResourceRecordSets accepts.
//!
//! Subdivisions are not listed: eightfold keeps no list of them, and
//! accepts any code of 1 to 3 letters or digits under a known country
//! (as a record's `subdivision`), so GetGeoLocation confirms such a code
//! without a SubdivisionName.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;

use super::error::R53Error;
use super::xml::Doc;
use super::{R53Query, Signed, max_items, reply};
use crate::model::{CONTINENT_NAMES, CONTINENTS, COUNTRIES, COUNTRY_NAMES};

/// Locations per ListGeoLocations page when MaxItems is not given, and
/// at most (Route 53's).
const DEFAULT_LOCATIONS: usize = 100;

/// One location: a continent, or a country (`*` the default location),
/// optionally with a subdivision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location<'a> {
    Continent(usize),
    /// `None`: the default location, `*`.
    Country(Option<usize>),
    Subdivision(usize, &'a str),
}

impl Location<'_> {
    fn write(self, doc: &mut Doc) {
        doc.open("GeoLocationDetails");
        match self {
            Location::Continent(i) => {
                doc.text("ContinentCode", CONTINENTS[i])
                    .text("ContinentName", CONTINENT_NAMES[i]);
            }
            // Route 53 names the default location so.
            Location::Country(None) => {
                doc.text("CountryCode", "*").text("CountryName", "Default");
            }
            Location::Country(Some(i)) => {
                doc.text("CountryCode", COUNTRIES[i])
                    .text("CountryName", COUNTRY_NAMES[i]);
            }
            Location::Subdivision(i, s) => {
                doc.text("CountryCode", COUNTRIES[i])
                    .text("CountryName", COUNTRY_NAMES[i])
                    .text("SubdivisionCode", s);
            }
        }
        doc.close();
    }
}

/// Every listed location in Route 53's order: the continents, then the
/// default location, then the countries, each by code.
fn listed() -> impl Iterator<Item = Location<'static>> {
    (0..CONTINENTS.len())
        .map(Location::Continent)
        .chain(std::iter::once(Location::Country(None)))
        .chain((0..COUNTRIES.len()).map(|i| Location::Country(Some(i))))
}

fn country(code: &str) -> Option<Location<'static>> {
    if code == "*" {
        return Some(Location::Country(None));
    }
    COUNTRIES
        .binary_search(&code)
        .ok()
        .map(|i| Location::Country(Some(i)))
}

fn no_such(what: String) -> R53Error {
    R53Error::new(
        "NoSuchGeoLocation",
        format!(
            "The geolocation {what} is not supported; continents are {}, countries ISO 3166-1 alpha-2 codes or \"*\"",
            CONTINENTS.join(", ")
        ),
    )
}

/// The location the query's codes name, as a record's `continent`,
/// `country` and `subdivision` are read.
fn location<'a>(
    continent: Option<&str>,
    country_code: Option<&str>,
    subdivision: Option<&'a str>,
) -> Result<Location<'a>, R53Error> {
    match (continent, country_code, subdivision) {
        (Some(c), None, None) => CONTINENTS
            .iter()
            .position(|k| *k == c)
            .map(Location::Continent)
            .ok_or_else(|| no_such(format!("with continent code {c}"))),
        (None, Some(c), None) => {
            country(c).ok_or_else(|| no_such(format!("with country code {c}")))
        }
        (None, Some(c), Some(s)) => {
            let shaped = (1..=3).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            match country(c) {
                Some(Location::Country(Some(i))) if shaped => Ok(Location::Subdivision(i, s)),
                _ => Err(no_such(format!(
                    "with country code {c} and subdivision code {s}"
                ))),
            }
        }
        (None, None, None) => Err(R53Error::invalid_input(
            "give ContinentCode, or CountryCode (with SubdivisionCode or not)",
        )),
        (None, None, Some(_)) => Err(R53Error::invalid_input(
            "SubdivisionCode needs its CountryCode",
        )),
        (Some(_), _, _) => Err(R53Error::invalid_input(
            "give ContinentCode or CountryCode, not both",
        )),
    }
}

/// GetGeoLocation (`GET /geolocation?continentcode=&countrycode=&subdivisioncode=`).
pub(super) async fn get_geo_location(
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let found = location(
        query.get("continentcode").map(String::as_str),
        query.get("countrycode").map(String::as_str),
        query.get("subdivisioncode").map(String::as_str),
    )?;
    let mut doc = Doc::new("GetGeoLocationResponse");
    found.write(&mut doc);
    Ok(reply(StatusCode::OK, doc))
}

/// ListGeoLocations (`GET /geolocations`), a page from
/// `startcontinentcode` or `startcountrycode` on.
pub(super) async fn list_geo_locations(
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let limit = max_items(&query, DEFAULT_LOCATIONS, DEFAULT_LOCATIONS)?;
    let start = match (
        query.get("startcontinentcode").map(String::as_str),
        query.get("startcountrycode").map(String::as_str),
        query.get("startsubdivisioncode"),
    ) {
        (_, _, Some(_)) => {
            return Err(R53Error::invalid_input(
                "StartSubdivisionCode: eightfold lists no subdivisions (docs/route53.md)",
            ));
        }
        (None, None, None) => None,
        (c, k, None) => Some(location(c, k, None).map_err(|e| {
            R53Error::invalid_input(format!(
                "StartContinentCode or StartCountryCode: {}",
                e.messages.join("; ")
            ))
        })?),
    };
    let mut all = listed()
        .skip_while(|l| start.is_some_and(|s| s != *l))
        .peekable();
    let mut doc = Doc::new("ListGeoLocationsResponse");
    doc.open("GeoLocationDetailsList");
    for l in all.by_ref().take(limit) {
        l.write(&mut doc);
    }
    doc.close();
    let next = all.peek().copied();
    doc.text("IsTruncated", next.is_some());
    match next {
        Some(Location::Continent(i)) => {
            doc.text("NextContinentCode", CONTINENTS[i]);
        }
        Some(Location::Country(None)) => {
            doc.text("NextCountryCode", "*");
        }
        Some(Location::Country(Some(i))) => {
            doc.text("NextCountryCode", COUNTRIES[i]);
        }
        Some(Location::Subdivision(..)) | None => {}
    }
    doc.text("MaxItems", limit);
    Ok(reply(StatusCode::OK, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_line_up_and_are_listed_once() {
        assert_eq!(listed().count(), CONTINENTS.len() + 1 + COUNTRIES.len());
        assert!(COUNTRY_NAMES.iter().all(|n| !n.is_empty() && n.len() <= 64));
        assert_eq!(
            location(None, Some("DE"), None).ok(),
            Some(Location::Country(Some(
                COUNTRIES.binary_search(&"DE").unwrap()
            )))
        );
        assert_eq!(
            COUNTRY_NAMES[COUNTRIES.binary_search(&"DE").unwrap()],
            "Germany"
        );
        assert!(location(None, Some("XX"), None).is_err());
        assert!(location(None, Some("US"), Some("toolong")).is_err());
    }
}
