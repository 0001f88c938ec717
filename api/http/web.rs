//! The web app in HOMEWATCH_WEB_DIR: its files as they are, and index.html for the app's own routes (such
//! as `/services/12`), so any page of the app can be bookmarked and reloaded. A missing file stays a 404 rather
//! than turning into index.html, which a browser would then fail to run as a script.

use std::path::Path;

use http::{HeaderValue, header};
use poem::{Endpoint, Request, Response};
use tower_http::services::{ServeDir, ServeFile};

use super::tower_compat::TowerEndpoint;

pub struct WebApp {
    files: TowerEndpoint<ServeDir>,
    shell: TowerEndpoint<ServeDir<ServeFile>>,
}

impl WebApp {
    pub fn new(dir: &Path) -> Self {
        Self {
            files: TowerEndpoint(ServeDir::new(dir)),
            shell: TowerEndpoint(ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))),
        }
    }
}

/// `/js/app.js` names a file; `/services/12` is a route of the app.
fn names_a_file(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

impl Endpoint for WebApp {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let mut response = if names_a_file(request.uri().path()) {
            self.files.call(request).await?
        } else {
            self.shell.call(request).await?
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
    use super::names_a_file;

    #[test]
    fn files_are_told_from_app_routes() {
        assert!(names_a_file("/js/app.js"));
        assert!(names_a_file("/favicon.svg"));
        assert!(!names_a_file("/services/12"));
        assert!(!names_a_file("/"));
    }
}
