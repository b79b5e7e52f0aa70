//! `/login`: the token, once, for a session cookie.

use crate::api::page::html::esc;

/// The form; `next` is where to go after, `error` why the last try failed.
pub fn render(next: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!(
            r#"<p class="error" role="alert" id="login-error">{}</p>"#,
            esc(e)
        )
    });
    format!(
        r#"<h1>Sign in</h1>
<p>This server's API has a token. Enter it once: you get a session that lasts 12 hours, kept in a cookie this page's scripts cannot read. The token is not stored in the browser.</p>
{error}
<form class="login" method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus{described}>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form>"#,
        next = esc(next),
        described = if error.is_empty() {
            ""
        } else {
            r#" aria-describedby="login-error""#
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_form_posts_a_labelled_password_field_and_escapes_next() {
        let html = super::render("/checks?q=\"><script>", Some("<wrong>"));
        assert!(html.contains(r#"method="post" action="/login""#));
        assert!(html.contains(r#"<label for="token">"#));
        assert!(html.contains(r#"id="token" name="token" type="password""#));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;wrong&gt;"));
    }
}
