//! The JSON API through the real router (`oneshot`, no socket), over a real
//! SQLite file: zones, change batches, health checks, overrides, explained
//! answers, errors and metrics.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use eightfold::api::{ApiState, router};
use eightfold::config::Config;
use eightfold::metrics::Metrics;
use eightfold::service::Service;
use eightfold::store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const FILE_CONFIG: &str = r#"
[[health_check]]
id = "file-check"
type = "tcp"
ip = "127.0.0.1"
port = 9
interval = "300s"

[[zone]]
name = "file.test."

[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.1"]
"#;

struct Api {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl Api {
    fn new() -> Api {
        Api::with_token(None)
    }

    fn with_token(token: Option<&str>) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(Path::new("eightfold.toml"), FILE_CONFIG).unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        let service = Service::start(
            config,
            Some("eightfold.toml".into()),
            store,
            CancellationToken::new(),
        )
        .unwrap();
        let router = router(ApiState {
            service,
            metrics: Arc::new(Metrics::default()),
            token: token.map(Into::into),
            api_hosts: Vec::new().into(),
        });
        Api { router, _dir: dir }
    }

    async fn send(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.send_with(method, uri, body, None).await
    }

    async fn send_with(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        bearer: Option<&str>,
    ) -> (StatusCode, Value) {
        // What every HTTP client sends: the address it dialled, and the
        // JSON content type of a body.
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:8053");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn changes(&self, zone: &str, changes: Value) -> (StatusCode, Value) {
        let body = json!({ "changes": changes }).to_string();
        self.send("POST", &format!("/v1/zones/{zone}/changes"), Some(&body))
            .await
    }

    async fn records(&self, zone: &str) -> Vec<Value> {
        let (status, body) = self
            .send("GET", &format!("/v1/zones/{zone}/records"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["records"].as_array().unwrap().clone()
    }

    async fn answer(&self, name: &str) -> Vec<String> {
        let (status, body) = self
            .send("GET", &format!("/v1/test-answer?name={name}&type=A"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut answer: Vec<String> = body["answer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        answer.sort();
        answer
    }
}

fn record(name: &str, set: &str, value: &str) -> Value {
    json!({"name": name, "type": "A", "ttl": 60, "routing": "multivalue", "set": set, "value": value})
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn zones_are_created_listed_fetched_and_deleted() {
    let api = Api::new();
    let (status, body) = api
        .send("POST", "/v1/zones", Some(r#"{"name": "api.test"}"#))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "api.test.");
    assert!(body["id"].as_str().unwrap().starts_with('Z'));

    let (status, body) = api.send("GET", "/v1/zones", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["file.test.", "api.test."]);

    // With or without the trailing dot.
    for path in ["/v1/zones/api.test", "/v1/zones/api.test."] {
        let (status, body) = api.send("GET", path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["zone"]["managed_by"], "api");
    }
    let (status, body) = api
        .send("POST", "/v1/zones", Some(r#"{"name": "API.test."}"#))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "HostedZoneAlreadyExists");

    let (status, _) = api.send("DELETE", "/v1/zones/api.test", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.send("GET", "/v1/zones/api.test", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "NoSuchHostedZone");
}

#[tokio::test]
async fn a_change_batch_is_listed_back_and_answered_at_once() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    let changes = json!([
        {"action": "CREATE", "record": record("www", "a", "192.0.2.1")},
        {"action": "CREATE", "record": record("www", "b", "192.0.2.2")},
        {"action": "CREATE", "record": {"name": "mail", "type": "MX", "ttl": 300, "values": ["10 mx.example.net."]}},
    ]);
    let (status, body) = api.changes("api.test", changes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"]["status"], "INSYNC");
    let records = api.records("api.test").await;
    assert_eq!(records.len(), 3);
    assert!(
        records.contains(&record("www", "a", "192.0.2.1")),
        "{records:?}"
    );
    assert_eq!(
        api.answer("www.api.test").await,
        [
            "www.api.test. 60 IN A 192.0.2.1",
            "www.api.test. 60 IN A 192.0.2.2"
        ]
    );
}

#[tokio::test]
async fn create_of_an_existing_record_fails_the_whole_batch() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    api.changes(
        "api.test",
        json!([{"action": "CREATE", "record": record("www", "a", "192.0.2.1")}]),
    )
    .await;
    let (status, body) = api
        .changes(
            "api.test",
            json!([
                {"action": "CREATE", "record": record("new", "x", "192.0.2.9")},
                {"action": "CREATE", "record": record("www", "a", "192.0.2.1")},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "InvalidChangeBatch");
    assert_eq!(
        error_message(&body),
        "change 2 (create www A): Tried to create resource record set [name='www.api.test.', type='A', set_identifier='a'] but it already exists"
    );
    // Nothing of the batch was applied: not in the store, not in DNS.
    assert_eq!(api.records("api.test").await.len(), 1);
    assert!(api.answer("new.api.test").await.is_empty());
}

#[tokio::test]
async fn delete_must_name_an_existing_identical_record() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    api.changes(
        "api.test",
        json!([{"action": "CREATE", "record": record("www", "a", "192.0.2.1")}]),
    )
    .await;
    let (status, body) = api
        .changes(
            "api.test",
            json!([{"action": "DELETE", "record": record("www", "zz", "192.0.2.1")}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&body).ends_with("but it was not found"),
        "{body}"
    );
    let (status, body) = api
        .changes(
            "api.test",
            json!([{"action": "DELETE", "record": record("www", "a", "192.0.2.7")}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&body).ends_with("do not match the current values"),
        "{body}"
    );
    let (status, body) = api
        .changes(
            "api.test",
            json!([{"action": "DELETE", "record": record("WWW", "a", "192.0.2.1")}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(api.records("api.test").await.is_empty());
}

#[tokio::test]
async fn upsert_replaces_and_creates() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    for value in ["192.0.2.1", "192.0.2.2"] {
        let (status, body) = api
            .changes(
                "api.test",
                json!([{"action": "UPSERT", "record": record("www", "a", value)}]),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        api.answer("www.api.test").await,
        ["www.api.test. 60 IN A 192.0.2.2"]
    );
}

#[tokio::test]
async fn invalid_records_are_rejected_naming_the_change_and_field() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    let cases = [
        (
            record("www", "a", "10.0.0.300"),
            "change 1 (create www A): field value: www A: invalid IPv4 address \"10.0.0.300\"",
        ),
        (
            json!({"name": "www", "type": "A", "ttl": -1, "values": ["192.0.2.1"]}),
            "change 1 (create www A): field ttl: www A: ttl must be 0 to 2147483647 seconds",
        ),
        (
            json!({"name": format!("{}.x", "a".repeat(64)), "type": "A", "values": ["192.0.2.1"]}),
            "field name",
        ),
        (
            json!({"name": "www", "type": "A", "routing": "weighted", "set": "a", "value": "192.0.2.1"}),
            "field weight: www A: a weighted record needs a weight (0 to 255)",
        ),
        (
            json!({"name": "www", "type": "A", "routing": "multivalue", "set": "a", "value": "192.0.2.1", "health_check": "nope"}),
            "field health_check: www A: unknown health check \"nope\"",
        ),
    ];
    for (rec, expected) in cases {
        let (status, body) = api
            .changes("api.test", json!([{"action": "CREATE", "record": rec}]))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_message(&body).contains(expected),
            "{body} vs {expected}"
        );
    }
    // Mixing policies names the existing group.
    api.changes(
        "api.test",
        json!([{"action": "CREATE", "record": record("www", "a", "192.0.2.1")}]),
    )
    .await;
    let (status, body) = api
        .changes(
            "api.test",
            json!([{"action": "CREATE", "record": {"name": "www", "type": "A", "routing": "weighted", "set": "w", "value": "192.0.2.2", "weight": 1}}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_message(&body),
        "www.api.test. A: a multivalue group exists; cannot add a weighted record"
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_clear_400() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    let cases = [
        (
            r#"{"changes": [{"action": "CREATE", "record": "#,
            "EOF while parsing",
        ),
        (
            r#"{"changes": [{"action": "CREATE", "record": {"name": "www", "type": "A", "bogus": 1}}]}"#,
            "unknown field `bogus`",
        ),
        (
            r#"{"changes": [{"action": "MOVE", "record": {"name": "www", "type": "A"}}]}"#,
            "unknown variant `MOVE`",
        ),
        (
            r#"{"changes": [{"action": "CREATE", "record": {"name": "www", "type": "A", "ttl": "60"}}]}"#,
            "invalid type",
        ),
        (r#"{"changes": []}"#, "the batch has no changes"),
    ];
    for (body, expected) in cases {
        let (status, reply) = api
            .send("POST", "/v1/zones/api.test/changes", Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert!(
            error_message(&reply).contains(expected),
            "{reply} vs {expected}"
        );
    }
}

#[tokio::test]
async fn oversized_requests_are_refused_whole() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    // More changes than a batch may hold.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"action": "CREATE", "record": record(&format!("n{i}"), "a", "192.0.2.1")}))
        .collect();
    let (status, body) = api.changes("api.test", json!(many)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).contains("at most 1000"), "{body}");
    // A body over the limit: 413, as JSON.
    let huge = format!(
        r#"{{"changes": [], "comment": "{}"}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let (status, body) = api
        .send("POST", "/v1/zones/api.test/changes", Some(&huge))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "RequestTooLarge");
    // A name over 255 octets.
    let long = vec!["a".repeat(60); 5].join(".");
    let (status, body) = api
        .changes(
            "api.test",
            json!([{"action": "CREATE", "record": record(&long, "a", "192.0.2.1")}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).contains("field name"), "{body}");
    assert!(api.records("api.test").await.is_empty());
}

#[tokio::test]
async fn file_managed_objects_are_read_only() {
    let api = Api::new();
    let (status, body) = api
        .changes(
            "file.test",
            json!([{"action": "CREATE", "record": record("x", "a", "192.0.2.1")}]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error_message(&body).contains("eightfold.toml"), "{body}");
    let (status, body) = api
        .send("DELETE", "/v1/health-checks/file-check", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "FileManaged");
    // But readable, in the file's schema.
    assert_eq!(
        api.records("file.test").await,
        [json!({"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.1"]})]
    );
}

#[tokio::test]
async fn health_checks_crud_and_in_use_protection() {
    let api = Api::new();
    let check =
        r#"{"id": "web", "type": "http", "ip": "127.0.0.1", "port": 9, "interval": "300s"}"#;
    let (status, body) = api.send("POST", "/v1/health-checks", Some(check)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.send("POST", "/v1/health-checks", Some(check)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "HealthCheckAlreadyExists");
    let (status, body) = api.send("GET", "/v1/health-checks/web", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["port"], 9);

    let updated =
        r#"{"id": "web", "type": "http", "ip": "127.0.0.1", "port": 10, "interval": "300s"}"#;
    let (status, body) = api
        .send("PUT", "/v1/health-checks/web", Some(updated))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);

    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    let mut rec = record("www", "a", "192.0.2.1");
    rec["health_check"] = json!("web");
    let (status, body) = api
        .changes("api.test", json!([{"action": "CREATE", "record": rec}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api.send("DELETE", "/v1/health-checks/web", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "HealthCheckInUse");

    let (status, body) = api
        .send(
            "POST",
            "/v1/health-checks",
            Some(r#"{"id": "bad", "type": "http", "ip": "1.2.3"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).contains("field ip"), "{body}");
    let (status, _) = api.send("GET", "/v1/health-checks/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn override_drives_answers_and_shows_in_status_and_events() {
    let api = Api::new();
    api.send(
        "POST",
        "/v1/health-checks",
        Some(r#"{"id": "web", "type": "http", "ip": "127.0.0.1", "port": 9, "interval": "300s"}"#),
    )
    .await;
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    let mut checked = record("www", "a", "192.0.2.1");
    checked["health_check"] = json!("web");
    api.changes(
        "api.test",
        json!([
            {"action": "CREATE", "record": checked},
            {"action": "CREATE", "record": record("www", "b", "192.0.2.2")},
        ]),
    )
    .await;
    assert_eq!(api.answer("www.api.test").await.len(), 2);

    let (status, body) = api
        .send(
            "POST",
            "/v1/health-checks/web/override",
            Some(r#"{"status": "unhealthy"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["override_status"], "unhealthy");
    assert_eq!(
        api.answer("www.api.test").await,
        ["www.api.test. 60 IN A 192.0.2.2"]
    );
    // The explanation says why.
    let (_, explained) = api
        .send("GET", "/v1/test-answer?name=www.api.test&type=A", None)
        .await;
    let a = &explained["records"][0];
    assert_eq!(a["set"], "a");
    assert_eq!(a["healthy"], false);
    assert_eq!(a["eligible"], false);
    assert_eq!(explained["routing"], "multivalue");

    let (status, body) = api
        .send(
            "POST",
            "/v1/health-checks/web/override",
            Some(r#"{"status": null}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("override_status").is_none(), "{body}");
    assert_eq!(api.answer("www.api.test").await.len(), 2);

    // Both changes reach the event log (written by a background task).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, events) = api.send("GET", "/v1/health-events?check=web", None).await;
        let list = events["events"].as_array().unwrap();
        if list.len() == 2 {
            assert_eq!(list[0]["new"], "unhealthy");
            assert_eq!(list[1]["new"], "healthy");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "events: {events}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _) = api
        .send(
            "POST",
            "/v1/health-checks/web/override",
            Some(r#"{"status": "sick"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let api = Api::with_token(Some("s3cret"));
    let (status, body) = api.send("GET", "/v1/zones", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "Unauthorized");
    let (status, _) = api.send_with("GET", "/v1/zones", None, Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .send_with("GET", "/v1/zones", None, Some("s3cret"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.send("GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The Route 53 layer answers for itself, in its own XML, so signed
    // requests from the aws CLI reach it.
    let (status, body) = api.send("GET", "/2013-04-01/hostedzone", None).await;
    assert!(status.is_client_error(), "{status}");
    assert!(
        body.as_str().unwrap_or_default().contains("<ErrorResponse"),
        "{body}"
    );
    let (status, _) = api
        .send_with("GET", "/2013-04-01/hostedzone", None, Some("s3cret"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "api.test."}"#))
        .await;
    let (status, body) = api.send("GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap().to_string();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let find = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    match find("eightfold_snapshot_generation").value {
        prometheus_parse::Value::Gauge(g) => {
            assert_eq!(g, 2.0, "one publish at start, one for the zone")
        }
        ref v => panic!("generation is {v:?}"),
    }
    match find("eightfold_zones").value {
        prometheus_parse::Value::Gauge(g) => assert_eq!(g, 2.0),
        ref v => panic!("zones is {v:?}"),
    }
    let healthy = find("eightfold_health_check_healthy");
    assert_eq!(healthy.labels.get("check"), Some("file-check"));
    assert!(text.contains("# TYPE eightfold_dns_answer_seconds histogram"));
}

#[tokio::test]
async fn healthz_answers_and_unknown_paths_are_404_json() {
    let api = Api::new();
    let (status, body) = api.send("GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok\n");
    let (status, body) = api.send("GET", "/v2/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "NotFound");
}

#[tokio::test]
async fn the_explanation_matches_the_answer_past_eight_records_and_without_a_secondary() {
    let api = Api::new();
    api.send("POST", "/v1/zones", Some(r#"{"name": "x.test."}"#))
        .await;
    let twelve: Vec<Value> = (1..=12)
        .map(|i| json!({"action": "CREATE", "record": record("many", &format!("s{i}"), &format!("192.0.2.{i}"))}))
        .collect();
    let (status, body) = api.changes("x.test", json!(twelve)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, explained) = api
        .send("GET", "/v1/test-answer?name=many.x.test&type=A", None)
        .await;
    assert_eq!(
        explained["answer"].as_array().unwrap().len(),
        8,
        "{explained}"
    );
    for r in explained["records"].as_array().unwrap() {
        assert_eq!(r["eligible"], true);
        let why = r["why"].as_str().unwrap();
        assert!(
            why.contains("one of 12 candidates, of which 8 are chosen"),
            "{why}"
        );
    }
    // A failover group with only a primary, forced down: the primary still
    // answers, and no secondary is invented to explain it.
    api.send(
        "POST",
        "/v1/health-checks",
        Some(r#"{"id": "p", "type": "tcp", "ip": "127.0.0.1", "port": 9, "interval": "300s"}"#),
    )
    .await;
    let primary = json!({"action": "CREATE", "record": {"name": "solo", "type": "A", "ttl": 60,
        "routing": "failover", "set": "p", "failover": "primary", "value": "192.0.2.99", "health_check": "p"}});
    let (status, body) = api.changes("x.test", json!([primary])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.send(
        "POST",
        "/v1/health-checks/p/override",
        Some(r#"{"status": "unhealthy"}"#),
    )
    .await;
    let (_, explained) = api
        .send("GET", "/v1/test-answer?name=solo.x.test&type=A", None)
        .await;
    assert_eq!(
        explained["answer"].as_array().unwrap().len(),
        1,
        "{explained}"
    );
    let solo = &explained["records"][0];
    assert_eq!(solo["eligible"], true);
    assert_eq!(solo["healthy"], false);
    assert_eq!(
        solo["why"],
        "primary, unhealthy, but no healthy secondary can take over"
    );
}

mod generated {
    //! Property test: whatever body arrives, the API answers 2xx or 4xx
    //! with a JSON error, never 5xx, and never changes anything on a 4xx.
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    const KEYS: &[&str] = &[
        "changes",
        "action",
        "record",
        "name",
        "type",
        "ttl",
        "routing",
        "set",
        "value",
        "values",
        "health_check",
        "failover",
        "weight",
        "comment",
        "bogus",
    ];
    const WORDS: &[&str] = &[
        "CREATE",
        "DELETE",
        "UPSERT",
        "www",
        "@",
        "A",
        "AAAA",
        "TXT",
        "MX",
        "CNAME",
        "NS",
        "SOA",
        "multivalue",
        "weighted",
        "failover",
        "simple",
        "primary",
        "secondary",
        "192.0.2.1",
        "::1",
        "10 mail",
        "\"t\"",
        "a..b",
        "(",
        "\"",
        "x.example.",
        "",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (0..300i64).prop_map(|n| json!(n)),
            proptest::sample::select(WORDS).prop_map(|w| json!(w)),
            "\\PC{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(
                    |kv| {
                        Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                    }
                ),
            ]
        })
    }

    /// Bodies shaped like batches, so the deeper rules are reached too.
    fn batch() -> impl Strategy<Value = Value> {
        let change = (
            proptest::sample::select(&["CREATE", "DELETE", "UPSERT", "MOVE"][..]),
            json_value(),
        )
            .prop_map(|(action, record)| json!({"action": action, "record": record}));
        prop_oneof![
            json_value(),
            proptest::collection::vec(change, 0..4).prop_map(|c| json!({ "changes": c })),
        ]
    }

    const SEGMENTS: &[&str] = &[
        "x.test",
        "x.test.",
        "",
        ".",
        "..",
        "%",
        "%%",
        "%zz",
        "%C3%28",
        "%E2%82",
        "%00",
        "%2F",
        "%FF%FE",
        "web-a",
        "Z1",
        "\\",
        "a%20b",
        "18446744073709551615",
        "-1",
        "1e9",
    ];

    /// Path segments: known troublemakers, raw percent-encoded bytes
    /// (invalid UTF-8 included), and free text of URI characters.
    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(SEGMENTS).prop_map(String::from),
            proptest::collection::vec(any::<u8>(), 0..8)
                .prop_map(|b| b.iter().map(|b| format!("%{b:02X}")).collect()),
            "[a-zA-Z0-9._~!$'()*+,;:@%-]{0,24}",
        ]
    }

    fn query() -> impl Strategy<Value = String> {
        let key = proptest::sample::select(
            &[
                "check", "since", "limit", "name", "type", "bogus", "", "since[]",
            ][..],
        );
        let value = prop_oneof![
            segment(),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("2026-13-45T99:99:99Z".to_string()),
        ];
        proptest::collection::vec((key, value), 0..4).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    #[test]
    fn any_path_or_query_gets_a_2xx_or_a_json_4xx_never_a_5xx() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let api = rt.block_on(async {
            let api = Api::new();
            api.send("POST", "/v1/zones", Some(r#"{"name": "gen.test."}"#))
                .await;
            api
        });
        let mut runner = TestRunner::new(RunnerConfig {
            cases: 300,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let shapes: &[(&str, &str)] = &[
            ("GET", "/v1/zones/{}"),
            ("GET", "/v1/zones/{}/records"),
            ("DELETE", "/v1/zones/{}"),
            ("GET", "/v1/health-checks/{}"),
            ("GET", "/v1/health-checks/{}/status"),
            ("DELETE", "/v1/health-checks/{}"),
            ("GET", "/v1/{}"),
        ];
        let queried = ["/v1/health-events", "/v1/test-answer", "/v1/zones"];
        runner
            .run(&(segment(), query()), |(segment, query)| {
                let mut requests: Vec<(&str, String)> = shapes
                    .iter()
                    .map(|(m, shape)| (*m, shape.replace("{}", &segment)))
                    .collect();
                requests.extend(queried.iter().map(|p| ("GET", format!("{p}?{query}"))));
                for (method, uri) in requests {
                    // Only what an HTTP client can put on the wire.
                    if uri.parse::<axum::http::Uri>().is_err() || uri.contains("gen.test") {
                        continue;
                    }
                    let (status, reply) = rt.block_on(api.send(method, &uri, None));
                    prop_assert!(
                        status.is_success() || status.is_client_error(),
                        "{method} {uri}: {status}: {reply}"
                    );
                    if status.is_client_error() {
                        prop_assert!(!error_code(&reply).is_empty(), "{method} {uri}: {reply}");
                    }
                }
                Ok(())
            })
            .unwrap();
        let (status, _) = rt.block_on(api.send("GET", "/v1/zones/gen.test", None));
        assert_eq!(status, StatusCode::OK, "the zone outlived every request");
        // The cases that once dropped the connection or answered plain text.
        for uri in [
            "/v1/health-events?since=18446744073709551615",
            "/v1/health-events?limit=-1",
            "/v1/zones/%C3%28",
            "/v1/test-answer?type=A",
        ] {
            let (status, reply) = rt.block_on(api.send("GET", uri, None));
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {reply}");
            assert_eq!(error_code(&reply), "InvalidInput", "{uri}: {reply}");
        }
    }

    #[test]
    fn any_body_gets_a_2xx_or_a_json_4xx_never_a_5xx() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let api = rt.block_on(async {
            let api = Api::new();
            api.send("POST", "/v1/zones", Some(r#"{"name": "gen.test."}"#))
                .await;
            api
        });
        let mut runner = TestRunner::new(RunnerConfig {
            cases: 400,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        runner
            .run(&batch(), |body| {
                let before = rt.block_on(api.records("gen.test"));
                let (status, reply) = rt.block_on(api.send(
                    "POST",
                    "/v1/zones/gen.test/changes",
                    Some(&body.to_string()),
                ));
                prop_assert!(
                    status.is_success() || status.is_client_error(),
                    "{status} for {body}: {reply}"
                );
                if status.is_client_error() {
                    prop_assert!(!error_code(&reply).is_empty(), "{reply}");
                    prop_assert_eq!(rt.block_on(api.records("gen.test")), before);
                }
                // Other endpoints too, with the same body.
                for uri in [
                    "/v1/zones",
                    "/v1/health-checks",
                    "/v1/health-checks/x/override",
                ] {
                    let (status, reply) =
                        rt.block_on(api.send("POST", uri, Some(&body.to_string())));
                    prop_assert!(
                        status.is_success() || status.is_client_error(),
                        "{uri}: {status} for {body}: {reply}"
                    );
                }
                Ok(())
            })
            .unwrap();
    }
}
