//! The web app: the files of `web/`, built into the binary so that it serves its page wherever it runs, or
//! read from HOMEWATCH_WEB_DIR when someone is working on the page. Its files are served as they are, and
//! index.html for the app's own routes (such as `/services/12`), so any page of the app can be bookmarked and
//! reloaded. A missing file stays a 404 rather than turning into index.html, which a browser would then fail
//! to run as a script.

use std::{borrow::Cow, path::Path};

use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, StatusCode, header};
use poem::{Body, Endpoint, Request, Response};
use tower_http::services::{ServeDir, ServeFile};

use super::tower_compat::TowerEndpoint;

/// The files of `web/`, embedded at build time (in debug builds too, so tests serve what a release serves).
#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

pub enum WebApp {
    /// The copy built into the binary.
    Embedded,
    /// A folder on disk (HOMEWATCH_WEB_DIR).
    Folder(Box<Folder>),
}

pub struct Folder {
    files: TowerEndpoint<ServeDir>,
    shell: TowerEndpoint<ServeDir<ServeFile>>,
}

impl WebApp {
    /// The built-in copy, or the files of `dir` when given.
    pub fn new(dir: Option<&Path>) -> Self {
        match dir {
            None => Self::Embedded,
            // No redirects to a folder's trailing slash: app routes are not folders.
            Some(dir) => Self::Folder(Box::new(Folder {
                files: TowerEndpoint(ServeDir::new(dir).redirect_to_trailing_slash(false)),
                shell: TowerEndpoint(
                    ServeDir::new(dir)
                        .redirect_to_trailing_slash(false)
                        .fallback(ServeFile::new(dir.join("index.html"))),
                ),
            })),
        }
    }

    /// Whether the page can be served: the folder given has an index.html (the built-in copy always has).
    pub fn has_index(dir: Option<&Path>) -> bool {
        dir.is_none_or(|dir| dir.join("index.html").is_file())
    }
}

/// `/js/app.js` names a file; `/services/12` is a route of the app.
fn names_a_file(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

fn http_date(unix_seconds: u64) -> Option<String> {
    let at = DateTime::<Utc>::from_timestamp(i64::try_from(unix_seconds).ok()?, 0)?;
    Some(at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Whether the client's copy, named by its validators, is still the one we have.
fn still_fresh(request: &Request, etag: &str, modified: Option<u64>) -> bool {
    let headers = request.headers();
    if let Some(tags) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return tags.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*");
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|text| DateTime::parse_from_rfc2822(text).ok());
    match (since, modified) {
        (Some(since), Some(modified)) => {
            u64::try_from(since.timestamp()).is_ok_and(|since| modified <= since)
        }
        _ => false,
    }
}

fn embedded(request: &Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET, HEAD")
            .finish();
    }
    let path = request.uri().path().trim_start_matches('/');
    let name = if names_a_file(path) { path } else { "index.html" };
    let Some(file) = Assets::get(name) else {
        return Response::builder().status(StatusCode::NOT_FOUND).finish();
    };
    let hash = file.metadata.sha256_hash();
    let etag: String = format!(
        "\"{}\"",
        hash[..12]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    let modified = file.metadata.last_modified();
    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(date) = modified.and_then(http_date) {
        response = response.header(header::LAST_MODIFIED, date);
    }
    if still_fresh(request, &etag, modified) {
        return response.status(StatusCode::NOT_MODIFIED).finish();
    }
    let mime = file.metadata.mimetype();
    let content_type = match mime.starts_with("text/") || mime.contains("javascript") {
        true => format!("{mime}; charset=utf-8"),
        false => mime.to_owned(),
    };
    let body = match file.data {
        Cow::Borrowed(bytes) => Body::from_bytes(bytes::Bytes::from_static(bytes)),
        Cow::Owned(bytes) => Body::from_vec(bytes),
    };
    response.content_type(content_type).body(body)
}

impl Endpoint for WebApp {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        // `//host/path` would be a link to another site in a redirect's Location: no such paths here.
        if request.uri().path().starts_with("//") {
            return Ok(Response::builder().status(StatusCode::NOT_FOUND).finish());
        }
        let folder = match self {
            Self::Embedded => return Ok(embedded(&request)),
            Self::Folder(folder) => folder,
        };
        let mut response = if names_a_file(request.uri().path()) {
            folder.files.call(request).await?
        } else {
            folder.shell.call(request).await?
        };
        // The files have no version in their names: the browser revalidates them (a cheap 304) on every
        // use, so after an upgrade it never runs an old script against a new page.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_told_from_app_routes() {
        assert!(names_a_file("/js/app.js"));
        assert!(names_a_file("/favicon.svg"));
        assert!(!names_a_file("/services/12"));
        assert!(!names_a_file("/"));
    }

    #[test]
    fn the_page_is_built_in() {
        let index = Assets::get("index.html").expect("web/index.html is embedded");
        assert!(String::from_utf8_lossy(&index.data).contains("<title>Homewatch</title>"));
        assert!(Assets::get("js/app.js").is_some());
        assert_eq!(http_date(0).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
    }
}
