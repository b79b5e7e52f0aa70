//! Route 53 operation names from a request's method and path, as
//! botocore's model (`service-2.json`, 2013-04-01) routes them: for the
//! request log and for the error that names an operation eightfold does
//! not implement.

/// Every Route 53 operation: method, path under `/2013-04-01/` with `{}`
/// for one segment (a trailing slash ignored), name. Copied from
/// botocore's model; where two share a method and path, Route 53 tells
/// them apart by the body, and the first listed is named.
const OPERATIONS: &[(&str, &str, &str)] = &[
    (
        "POST",
        "keysigningkey/{}/{}/activate",
        "ActivateKeySigningKey",
    ),
    (
        "POST",
        "hostedzone/{}/associatevpc",
        "AssociateVPCWithHostedZone",
    ),
    ("POST", "cidrcollection/{}", "ChangeCidrCollection"),
    ("POST", "hostedzone/{}/rrset", "ChangeResourceRecordSets"),
    ("POST", "tags/{}/{}", "ChangeTagsForResource"),
    ("POST", "cidrcollection", "CreateCidrCollection"),
    ("POST", "healthcheck", "CreateHealthCheck"),
    ("POST", "hostedzone", "CreateHostedZone"),
    ("POST", "keysigningkey", "CreateKeySigningKey"),
    ("POST", "queryloggingconfig", "CreateQueryLoggingConfig"),
    ("POST", "delegationset", "CreateReusableDelegationSet"),
    ("POST", "trafficpolicy", "CreateTrafficPolicy"),
    (
        "POST",
        "trafficpolicyinstance",
        "CreateTrafficPolicyInstance",
    ),
    ("POST", "trafficpolicy/{}", "CreateTrafficPolicyVersion"),
    (
        "POST",
        "hostedzone/{}/authorizevpcassociation",
        "CreateVPCAssociationAuthorization",
    ),
    (
        "POST",
        "keysigningkey/{}/{}/deactivate",
        "DeactivateKeySigningKey",
    ),
    ("DELETE", "cidrcollection/{}", "DeleteCidrCollection"),
    ("DELETE", "healthcheck/{}", "DeleteHealthCheck"),
    ("DELETE", "hostedzone/{}", "DeleteHostedZone"),
    ("DELETE", "keysigningkey/{}/{}", "DeleteKeySigningKey"),
    (
        "DELETE",
        "queryloggingconfig/{}",
        "DeleteQueryLoggingConfig",
    ),
    ("DELETE", "delegationset/{}", "DeleteReusableDelegationSet"),
    ("DELETE", "trafficpolicy/{}/{}", "DeleteTrafficPolicy"),
    (
        "DELETE",
        "trafficpolicyinstance/{}",
        "DeleteTrafficPolicyInstance",
    ),
    (
        "POST",
        "hostedzone/{}/deauthorizevpcassociation",
        "DeleteVPCAssociationAuthorization",
    ),
    (
        "POST",
        "hostedzone/{}/disable-dnssec",
        "DisableHostedZoneDNSSEC",
    ),
    (
        "POST",
        "hostedzone/{}/disassociatevpc",
        "DisassociateVPCFromHostedZone",
    ),
    (
        "POST",
        "hostedzone/{}/enable-dnssec",
        "EnableHostedZoneDNSSEC",
    ),
    ("GET", "accountlimit/{}", "GetAccountLimit"),
    ("GET", "change/{}", "GetChange"),
    ("GET", "checkeripranges", "GetCheckerIpRanges"),
    ("GET", "hostedzone/{}/dnssec", "GetDNSSEC"),
    ("GET", "geolocation", "GetGeoLocation"),
    ("GET", "healthcheck/{}", "GetHealthCheck"),
    ("GET", "healthcheckcount", "GetHealthCheckCount"),
    (
        "GET",
        "healthcheck/{}/lastfailurereason",
        "GetHealthCheckLastFailureReason",
    ),
    ("GET", "healthcheck/{}/status", "GetHealthCheckStatus"),
    ("GET", "hostedzone/{}", "GetHostedZone"),
    ("GET", "hostedzonecount", "GetHostedZoneCount"),
    ("GET", "hostedzonelimit/{}/{}", "GetHostedZoneLimit"),
    ("GET", "queryloggingconfig/{}", "GetQueryLoggingConfig"),
    ("GET", "delegationset/{}", "GetReusableDelegationSet"),
    (
        "GET",
        "reusabledelegationsetlimit/{}/{}",
        "GetReusableDelegationSetLimit",
    ),
    ("GET", "trafficpolicy/{}/{}", "GetTrafficPolicy"),
    (
        "GET",
        "trafficpolicyinstance/{}",
        "GetTrafficPolicyInstance",
    ),
    (
        "GET",
        "trafficpolicyinstancecount",
        "GetTrafficPolicyInstanceCount",
    ),
    ("GET", "cidrcollection/{}/cidrblocks", "ListCidrBlocks"),
    ("GET", "cidrcollection", "ListCidrCollections"),
    ("GET", "cidrcollection/{}", "ListCidrLocations"),
    ("GET", "geolocations", "ListGeoLocations"),
    ("GET", "healthcheck", "ListHealthChecks"),
    ("GET", "hostedzone", "ListHostedZones"),
    ("GET", "hostedzonesbyname", "ListHostedZonesByName"),
    ("GET", "hostedzonesbyvpc", "ListHostedZonesByVPC"),
    ("GET", "queryloggingconfig", "ListQueryLoggingConfigs"),
    ("GET", "hostedzone/{}/rrset", "ListResourceRecordSets"),
    ("GET", "delegationset", "ListReusableDelegationSets"),
    ("GET", "tags/{}/{}", "ListTagsForResource"),
    ("POST", "tags/{}", "ListTagsForResources"),
    ("GET", "trafficpolicies", "ListTrafficPolicies"),
    (
        "GET",
        "trafficpolicyinstances",
        "ListTrafficPolicyInstances",
    ),
    (
        "GET",
        "trafficpolicyinstances/hostedzone",
        "ListTrafficPolicyInstancesByHostedZone",
    ),
    (
        "GET",
        "trafficpolicyinstances/trafficpolicy",
        "ListTrafficPolicyInstancesByPolicy",
    ),
    (
        "GET",
        "trafficpolicies/{}/versions",
        "ListTrafficPolicyVersions",
    ),
    (
        "GET",
        "hostedzone/{}/authorizevpcassociation",
        "ListVPCAssociationAuthorizations",
    ),
    ("GET", "testdnsanswer", "TestDNSAnswer"),
    ("POST", "healthcheck/{}", "UpdateHealthCheck"),
    ("POST", "hostedzone/{}", "UpdateHostedZoneComment"),
    ("POST", "hostedzone/{}/features", "UpdateHostedZoneFeatures"),
    ("POST", "trafficpolicy/{}/{}", "UpdateTrafficPolicyComment"),
    (
        "POST",
        "trafficpolicyinstance/{}",
        "UpdateTrafficPolicyInstance",
    ),
];

/// The path prefix of every Route 53 operation.
pub const PREFIX: &str = "/2013-04-01/";

/// The Route 53 operation that `method` on `path` calls, if any.
pub fn name(method: &str, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix(PREFIX)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments = || rest.split('/');
    OPERATIONS
        .iter()
        .filter(|(m, _, _)| *m == method)
        .find(|(_, pattern, _)| {
            pattern.split('/').count() == segments().count()
                && pattern
                    .split('/')
                    .zip(segments())
                    .all(|(p, s)| p == "{}" && !s.is_empty() || p == s)
        })
        .map(|(_, _, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_as_botocore_routes_them() {
        let cases = [
            ("GET", "/2013-04-01/hostedzone", Some("ListHostedZones")),
            (
                "POST",
                "/2013-04-01/hostedzone/Z1/rrset/",
                Some("ChangeResourceRecordSets"),
            ),
            (
                "GET",
                "/2013-04-01/hostedzone/Z1/rrset",
                Some("ListResourceRecordSets"),
            ),
            (
                "POST",
                "/2013-04-01/hostedzone/Z1",
                Some("UpdateHostedZoneComment"),
            ),
            (
                "GET",
                "/2013-04-01/tags/healthcheck/abc",
                Some("ListTagsForResource"),
            ),
            (
                "POST",
                "/2013-04-01/tags/hostedzone",
                Some("ListTagsForResources"),
            ),
            ("GET", "/2013-04-01/hostedzone/Z1/dnssec", Some("GetDNSSEC")),
            (
                "GET",
                "/2013-04-01/trafficpolicies/p/versions",
                Some("ListTrafficPolicyVersions"),
            ),
            ("GET", "/2013-04-01/hostedzone//rrset", None),
            ("PUT", "/2013-04-01/hostedzone", None),
            ("GET", "/2013-04-01/nothing", None),
            ("GET", "/v1/zones", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(name(method, path), want, "{method} {path}");
        }
    }
}
