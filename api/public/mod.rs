//! What Homewatch shows to people who are not signed in: status pages (`/status/{slug}`, or `/` of a page's
//! own domain), their Atom feeds, and badges (`/badge/{id}/...`). None of it needs a login, even when the
//! dashboard is private, and each shows only what it was given: the tiles a page names (their names,
//! states and uptime), never a check's target, a raw error, or a tile's URL unless the page shows links.
//!
//! Pages are rendered on the server (they work with JavaScript off) from a model kept for a few seconds;
//! tile states are laid over it from the engine on every request, so a page is never older than the
//! dashboard. Each response carries an ETag of its bytes and answers 304 when the client has them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, Request, Response};

use crate::{
    model::{
        Rollup, Service, ServiceFilter, ServiceState, maintenance::MaintenanceWindow, now, public::Post,
        rollup::hour_of_ms,
    },
    monitor::{engine::Engine, maintenance::MaintenanceBoard},
    store::{Store, StoreError, StoreResult, StoredStatusPage},
};

pub mod badge;
mod html;

/// How long the list of pages, and a page's model (tiles, bars, posts), are reused.
const PAGES_FOR: Duration = Duration::from_secs(5);
const MODEL_FOR: Duration = Duration::from_secs(10);
/// Days of uptime bars a page shows.
pub const BAR_DAYS: i64 = 90;
/// Resolved posts stay on a page this long.
const RECENT_POSTS_DAYS: i64 = 14;
/// Upcoming maintenance is shown this far ahead.
const MAINTENANCE_AHEAD_DAYS: i64 = 14;

/// One tile as a page shows it.
#[derive(Debug, Clone)]
pub struct PageTile {
    pub service: Service,
    /// Uptime of each of the last `BAR_DAYS` UTC days, oldest first; `None` for days without checks.
    pub days: Vec<Option<Rollup>>,
    /// It has a check (a tile that is only a link shows no bars).
    pub watched: bool,
}

/// A page's content before tile states are laid over it.
#[derive(Debug, Clone)]
pub struct PageModel {
    pub page: StoredStatusPage,
    pub sections: Vec<(Option<String>, Vec<PageTile>)>,
    pub posts: Vec<Post>,
    pub maintenance: Vec<MaintenanceWindow>,
    /// The first day (days since 1970-01-01, UTC) of the bars.
    pub first_day: i64,
}

impl PageModel {
    pub fn tile_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.sections
            .iter()
            .flat_map(|(_, tiles)| tiles.iter().map(|tile| tile.service.id))
    }
}

type Cached<T> = Mutex<Option<(Instant, Arc<T>)>>;

/// The public faces of one server: its status pages and badges.
pub struct PublicFaces {
    store: Arc<dyn Store>,
    engine: Engine,
    pages: Cached<Vec<StoredStatusPage>>,
    models: Mutex<HashMap<i64, (Instant, Arc<PageModel>)>>,
    /// Where the server is reached (HOMEWATCH_PUBLIC_URL), for the absolute links of feeds.
    public_url: Option<url::Url>,
}

impl PublicFaces {
    pub fn new(store: Arc<dyn Store>, engine: Engine, public_url: Option<url::Url>) -> Self {
        Self {
            store,
            engine,
            pages: Mutex::new(None),
            models: Mutex::new(HashMap::new()),
            public_url,
        }
    }

    /// A page or post was written: forget what was kept.
    pub fn changed(&self) {
        *self.pages.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.models.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub async fn pages(&self) -> StoreResult<Arc<Vec<StoredStatusPage>>> {
        if let Some((at, pages)) = self.pages.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < PAGES_FOR
        {
            return Ok(pages.clone());
        }
        let pages = Arc::new(self.store.list_status_pages().await?);
        *self.pages.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), pages.clone()));
        Ok(pages)
    }

    async fn by_slug(&self, slug: &str) -> StoreResult<Option<StoredStatusPage>> {
        Ok(self.pages().await?.iter().find(|p| p.draft.slug == slug).cloned())
    }

    /// The published page served at `/` of this host, if any.
    pub async fn by_host(&self, host: &str) -> Option<StoredStatusPage> {
        let name = host_name(host);
        if name.is_empty() {
            return None;
        }
        let pages = self.pages().await.ok()?;
        pages
            .iter()
            .find(|p| p.draft.published && p.draft.domain.as_deref() == Some(name.as_str()))
            .cloned()
    }

    /// Whether a tile's badges are public: switched on for it, or it is on a published page.
    pub async fn badge_public(&self, service: &Service) -> StoreResult<bool> {
        if service.badges {
            return Ok(true);
        }
        let pages = self.pages().await?;
        Ok(pages.iter().filter(|p| p.draft.published).any(|p| {
            p.draft.sections.iter().any(|section| {
                section.group_id == Some(service.group_id) || section.services.contains(&service.id)
            })
        }))
    }

    async fn model(&self, page: &StoredStatusPage) -> StoreResult<Arc<PageModel>> {
        if let Some((at, model)) = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&page.id)
            && at.elapsed() < MODEL_FOR
            && model.page == *page
        {
            return Ok(model.clone());
        }
        let model = Arc::new(self.build(page).await?);
        self.models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(page.id, (Instant::now(), model.clone()));
        Ok(model)
    }

    /// Reads what a page shows: its tiles in its order, their daily uptime, posts and maintenance.
    async fn build(&self, page: &StoredStatusPage) -> StoreResult<PageModel> {
        let mut sections = Vec::with_capacity(page.draft.sections.len());
        let groups = self.store.list_groups().await?;
        for section in &page.draft.sections {
            let mut services = Vec::new();
            let mut heading = section.name.clone();
            if let Some(group_id) = section.group_id {
                let Some(group) = groups.iter().find(|g| g.id == group_id) else {
                    continue; // deleted since
                };
                heading = heading.or_else(|| Some(group.name.clone()));
                let mut after_id = None;
                loop {
                    let found = self
                        .store
                        .list_services(&ServiceFilter {
                            group_id: Some(group_id),
                            tag: None,
                            text: None,
                            after_id,
                            limit: 1000,
                        })
                        .await?;
                    services.extend(found.items);
                    if found.next_cursor.is_none() {
                        break;
                    }
                    after_id = services.last().map(|s| s.id);
                }
                services.sort_by_key(|s| (s.position, s.id));
            } else {
                for id in &section.services {
                    match self.store.get_service(*id).await {
                        Ok(service) => services.push(service),
                        Err(StoreError::NotFound { .. }) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            sections.push((heading, services));
        }
        let today = hour_of_ms(now().timestamp_millis()).div_euclid(24);
        let first_day = today - (BAR_DAYS - 1);
        let ids: Vec<i64> = sections
            .iter()
            .flat_map(|(_, s)| s.iter().map(|s| s.id))
            .collect();
        let mut days: HashMap<i64, Vec<Option<Rollup>>> = HashMap::new();
        for (service_id, day, rollup) in self
            .store
            .daily_rollups(&ids, first_day * 24, (today + 1) * 24 - 1)
            .await?
        {
            let slots = days
                .entry(service_id)
                .or_insert_with(|| vec![None; BAR_DAYS as usize]);
            if let Some(slot) = usize::try_from(day - first_day)
                .ok()
                .and_then(|i| slots.get_mut(i))
            {
                *slot = Some(rollup);
            }
        }
        let shown: HashSet<i64> = ids.iter().copied().collect();
        let cutoff = now() - crate::model::seconds(RECENT_POSTS_DAYS * 86_400);
        let posts = self
            .store
            .list_posts(100)
            .await?
            .into_iter()
            .filter(|post| post.services.is_empty() || post.services.iter().any(|id| shown.contains(id)))
            .filter(|post| post.resolved_at.is_none_or(|at| at >= cutoff))
            .collect();
        let at = now();
        let ahead = at + crate::model::seconds(MAINTENANCE_AHEAD_DAYS * 86_400);
        let group_ids: HashSet<i64> = sections
            .iter()
            .flat_map(|(_, s)| s.iter().map(|s| s.group_id))
            .collect();
        let maintenance = self
            .store
            .list_maintenance()
            .await?
            .into_iter()
            .map(|stored| MaintenanceBoard::describe(stored, at))
            .filter(|window| window.current_or_next_start.is_some_and(|start| start <= ahead))
            .filter(|window| {
                window.all_tiles
                    || window.services.iter().any(|id| shown.contains(id))
                    || window.groups.iter().any(|id| group_ids.contains(id))
            })
            .collect();
        Ok(PageModel {
            page: page.clone(),
            sections: sections
                .into_iter()
                .map(|(heading, services)| {
                    let tiles = services
                        .into_iter()
                        .map(|service| PageTile {
                            watched: service.check.is_some(),
                            days: days
                                .get(&service.id)
                                .cloned()
                                .unwrap_or_else(|| vec![None; BAR_DAYS as usize]),
                            service,
                        })
                        .collect();
                    (heading, tiles)
                })
                .collect(),
            posts,
            maintenance,
            first_day,
        })
    }

    /// The model with each tile's newest state, and what readers may not see taken out.
    async fn current(&self, page: &StoredStatusPage) -> StoreResult<PageModel> {
        let mut model = (*self.model(page).await?).clone();
        for (_, tiles) in &mut model.sections {
            for tile in tiles.iter_mut() {
                self.engine.freshen(&mut tile.service);
                tile.service.hide_secrets();
                tile.service.status.last_error = None;
                tile.service.check = None;
                if !page.draft.show_links {
                    tile.service.url.clear();
                }
            }
        }
        Ok(model)
    }

    /// The absolute address of the server for a request.
    fn base_url(&self, request: &Request) -> String {
        if let Some(url) = &self.public_url {
            return url.as_str().trim_end_matches('/').to_owned();
        }
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// `host[:port]` without the port, lower-case.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(']') => {
            name.trim_end_matches('.').to_owned()
        }
        _ => host.trim_end_matches('.').to_owned(),
    }
}

/// The overall state of a set of tiles, as a class and the sentence people read.
pub fn overall(states: &[ServiceState]) -> (&'static str, &'static str) {
    let watched: Vec<ServiceState> = states
        .iter()
        .copied()
        .filter(|s| !matches!(s, ServiceState::Unknown | ServiceState::Paused))
        .collect();
    let down = watched.iter().filter(|s| **s == ServiceState::Down).count();
    if down > 0 && down == watched.len() {
        ("down", "Major outage")
    } else if down > 0 {
        ("down", "Partial outage")
    } else if watched.contains(&ServiceState::Degraded) || watched.contains(&ServiceState::Pending) {
        ("degraded", "Degraded performance")
    } else if watched.contains(&ServiceState::Maintenance) {
        ("maintenance", "Maintenance in progress")
    } else if watched.is_empty() {
        ("unknown", "No checks yet")
    } else {
        ("up", "All systems operational")
    }
}

pub fn state_label(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Unknown => "Not monitored",
        ServiceState::Up => "Operational",
        ServiceState::Pending => "Checking",
        ServiceState::Down => "Down",
        ServiceState::Paused => "Paused",
        ServiceState::Maintenance => "Maintenance",
        ServiceState::Degraded => "Degraded",
    }
}

fn etag_of(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

fn fresh(request: &Request, etag: &str) -> bool {
    request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',').any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == etag.trim_start_matches("W/")
            })
        })
}

/// A body with its ETag and caching rules, or a 304 when the client has it.
pub fn cached(request: &Request, body: Vec<u8>, content_type: &str, cache_control: &str) -> Response {
    let etag = etag_of(&body);
    let mut response = if fresh(request, &etag) {
        Response::builder().status(StatusCode::NOT_MODIFIED).finish()
    } else {
        Response::builder().content_type(content_type).body(body)
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

fn not_found(what: &str) -> Response {
    crate::http::problem::Problem::new(StatusCode::NOT_FOUND, what.to_owned()).into_response_with_status()
}

/// A store failure as a 503 (what went wrong is logged unless the database is simply down).
fn unavailable(err: &StoreError) -> Response {
    if !matches!(err, StoreError::Unavailable(_)) {
        tracing::error!(error = %err, "a public page could not be read");
    }
    crate::http::problem::Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the status page cannot be read right now: try again in a moment",
    )
    .into_response_with_status()
}

/// Pages, feeds and badges are only read: any other method is 405 (with `Allow: GET, HEAD`).
pub fn read_only(request: &Request) -> Option<Response> {
    (!matches!(*request.method(), http::Method::GET | http::Method::HEAD)).then(|| {
        Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .finish()
    })
}

const NO_PAGE: &str = "there is no published status page here: check the address";

/// `/status/{slug}`, `/status/{slug}/feed.atom`, and `/` or `/feed.atom` of a page's own domain.
pub struct StatusPages(pub Arc<PublicFaces>);

impl Endpoint for StatusPages {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if let Some(refused) = read_only(&request) {
            return Ok(refused);
        }
        let faces = &self.0;
        let path = request.uri().path().to_owned();
        let (page, feed) = if let Some(rest) = path.strip_prefix("/status/") {
            let (slug, feed) = match rest.strip_suffix("/feed.atom") {
                Some(slug) => (slug, true),
                None => (rest.trim_end_matches('/'), false),
            };
            match faces.by_slug(slug).await {
                Ok(page) => (page, feed),
                Err(err) => return Ok(unavailable(&err)),
            }
        } else {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            (faces.by_host(host).await, path == "/feed.atom")
        };
        let Some(page) = page else {
            return Ok(not_found(NO_PAGE));
        };
        let preview = !page.draft.published;
        // A draft is shown to signed-in users only, as a preview.
        if preview && !crate::http::security::signed_in(&request) {
            return Ok(not_found(NO_PAGE));
        }
        let model = match faces.current(&page).await {
            Ok(model) => model,
            Err(err) => return Ok(unavailable(&err)),
        };
        let page_url = match (&page.draft.domain, path.starts_with("/status/")) {
            (Some(domain), false) => format!("http://{domain}/"),
            _ => format!("{}/status/{}", faces.base_url(&request), page.draft.slug),
        };
        if feed {
            let body = html::feed(&model, &page_url);
            return Ok(cached(
                &request,
                body.into_bytes(),
                "application/atom+xml; charset=utf-8",
                "public, max-age=60",
            ));
        }
        let feed_path = if path.starts_with("/status/") {
            format!("/status/{}/feed.atom", page.draft.slug)
        } else {
            "/feed.atom".to_owned()
        };
        let body = html::page(&model, &feed_path, preview);
        let cache = if preview {
            "private, no-cache"
        } else {
            "public, no-cache"
        };
        Ok(cached(
            &request,
            body.into_bytes(),
            "text/html; charset=utf-8",
            cache,
        ))
    }
}

/// Serves a page at `/` (and its feed at `/feed.atom`) when the request's host is the page's own domain;
/// everything else goes on to the app.
pub async fn own_domains<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let path = request.uri().path();
    if matches!(path, "/" | "/feed.atom")
        && let Some(faces) = request.data::<Arc<PublicFaces>>().cloned()
    {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if faces.by_host(&host).await.is_some() {
            return StatusPages(faces).call(request).await;
        }
    }
    Ok(next.get_response(request).await)
}

/// The date a day number stands for.
pub fn day_date(day: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default()
}
