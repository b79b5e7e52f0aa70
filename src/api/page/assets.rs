//! The page's stylesheet, script and icon, compiled into the binary: no
//! download at run time, no build step, nothing from elsewhere.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(name, content type, content)` of every asset.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "page.css",
        "text/css; charset=utf-8",
        include_str!("assets/page.css"),
    ),
    (
        "page.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/page.js"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
];

/// A strong validator of the content (FNV-1a: stable, and collisions
/// only cost a stale stylesheet until the next release).
fn etag(content: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in content.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// GET /assets/{file}: public (they hold no secret), revalidated on each
/// use so an upgrade is seen at once, `304` when unchanged.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, content_type, content)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let tag = etag(content);
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(&tag).expect("hex digits are a valid header"),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        StatusCode::OK,
        cache,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        *content,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_embedded_and_the_script_writes_no_html_from_strings() {
        for (name, _, content) in ASSETS {
            assert!(content.len() > 100, "{name} is empty");
        }
        let js = ASSETS[1].2;
        // The script takes markup only from this server's own pages
        // (DOMParser, then whole elements); values it writes are text.
        for sink in [
            "innerHTML",
            "outerHTML =",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!js.contains(sink), "page.js uses {sink}");
        }
        assert_ne!(etag("a"), etag("b"));
    }
}
