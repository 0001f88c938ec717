//! Public faces: status pages anyone may read (no login, even when the dashboard is private) and the
//! incident posts people write for them. A page shows only what it is given: the sections it names, each a
//! group (all of its tiles, in the group's order) or a list of tiles in the page's own order; never a check's
//! target or a raw error, and a tile's link only when `show_links` is set.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate, check_icon, check_name, finish, patterns};

pub const SLUG_MAX_CHARS: usize = 64;
pub const PAGE_DESCRIPTION_MAX_CHARS: usize = 2000;
pub const FOOTER_MAX_CHARS: usize = 500;
pub const DOMAIN_MAX_CHARS: usize = 253;
pub const SECTIONS_MAX: usize = 50;
pub const SECTION_TILES_MAX: usize = 500;
pub const POST_TITLE_MAX_CHARS: usize = 200;
pub const POST_BODY_MAX_CHARS: usize = 10_000;
pub const POST_TILES_MAX: usize = 500;

/// One part of a status page: a group's tiles, or tiles picked one by one.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSection {
    /// Heading above its tiles; default: the group's name (a list of tiles has none).
    #[oai(validator(max_length = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Shows every tile of this group, in the group's order (tiles added to it later too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// Or shows these tiles, in this order (at most 500).
    #[oai(default)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<i64>,
}

/// A status page as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct StatusPage {
    pub id: i64,
    /// Its address: `/status/{slug}`.
    pub slug: String,
    pub title: String,
    /// Shown under the title (plain text with Markdown emphasis and links).
    pub description: String,
    /// An emoji, an http(s) image URL, or an icon name.
    pub icon: Option<String>,
    /// Shown at the foot of the page.
    pub footer: String,
    /// Drafts are seen only by signed-in users (as a preview); published pages by anyone.
    pub published: bool,
    /// A host name (such as `status.example.com`) at whose `/` the page is served.
    pub domain: Option<String>,
    /// Show each tile's link (its URL, credentials hidden); off by default.
    pub show_links: bool,
    pub sections: Vec<StatusSection>,
    /// Where the page is served, relative to the server.
    pub path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new status page.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStatusPage {
    /// Lower-case letters, digits and inner dashes, 1 to 64 characters; unique.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub slug: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub title: String,
    #[oai(validator(max_length = 2000))]
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[oai(validator(max_length = 500))]
    #[serde(default)]
    pub footer: Option<String>,
    /// Default false: a draft.
    #[serde(default)]
    pub published: Option<bool>,
    /// A host name such as `status.example.com` (no scheme, no port); unique among pages.
    #[oai(validator(max_length = 253))]
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub show_links: Option<bool>,
    /// At most 50.
    #[serde(default)]
    pub sections: Option<Vec<StatusSection>>,
}

/// Changes to a status page; absent fields stay, `icon: null` and `domain: null` remove them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPagePatch {
    #[oai(validator(min_length = 1, max_length = 64))]
    pub slug: Option<String>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub title: Option<String>,
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
    #[serde(default)]
    pub icon: MaybeUndefined<String>,
    #[oai(validator(max_length = 500))]
    pub footer: Option<String>,
    pub published: Option<bool>,
    #[oai(validator(max_length = 253))]
    #[serde(default)]
    pub domain: MaybeUndefined<String>,
    pub show_links: Option<bool>,
    pub sections: Option<Vec<StatusSection>>,
}

/// A status page as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPageDraft {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub icon: Option<String>,
    pub footer: String,
    pub published: bool,
    pub domain: Option<String>,
    pub show_links: bool,
    pub sections: Vec<StatusSection>,
}

fn check_slug(slug: String, errors: &mut Vec<FieldError>) -> String {
    if slug.chars().count() > SLUG_MAX_CHARS || !patterns::is_slug(&slug) {
        errors.push(FieldError::new(
            "slug",
            "lower-case letters, digits and dashes (not first or last), 1 to 64 characters, such as `home-lab`",
        ));
    }
    slug
}

fn check_text(field: &str, text: String, max: usize, errors: &mut Vec<FieldError>) -> String {
    let chars = text.chars().count();
    if chars > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters (got {chars})"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(field, "must not hold control characters"));
    }
    text.trim().to_owned()
}

/// A host name, stored lower-case; empty means none.
fn check_domain(domain: String, errors: &mut Vec<FieldError>) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return None;
    }
    if domain.len() > DOMAIN_MAX_CHARS || !patterns::is_domain(&domain) {
        errors.push(FieldError::new(
            "domain",
            "a host name such as `status.example.com`: no scheme, no port, no path",
        ));
    }
    Some(domain)
}

fn check_sections(sections: Vec<StatusSection>, errors: &mut Vec<FieldError>) -> Vec<StatusSection> {
    if sections.len() > SECTIONS_MAX {
        errors.push(FieldError::new(
            "sections",
            format!("at most {SECTIONS_MAX} sections (got {})", sections.len()),
        ));
    }
    sections
        .into_iter()
        .enumerate()
        .map(|(index, section)| {
            let field = |name: &str| format!("sections[{index}].{name}");
            let name = section
                .name
                .map(|name| check_name(&field("name"), name, errors))
                .filter(|name| !name.is_empty());
            match (section.group_id, section.services.is_empty()) {
                (Some(_), false) => errors.push(FieldError::new(
                    field("services"),
                    "a section shows a group (`group_id`) or a list of tiles (`services`), not both",
                )),
                (None, true) => errors.push(FieldError::new(
                    field("services"),
                    "name a group (`group_id`) or at least one tile (`services`)",
                )),
                _ => {}
            }
            if section.services.len() > SECTION_TILES_MAX {
                errors.push(FieldError::new(
                    field("services"),
                    format!(
                        "at most {SECTION_TILES_MAX} tiles (got {})",
                        section.services.len()
                    ),
                ));
            }
            if let Some(message) = super::repeated_ids(&section.services) {
                errors.push(FieldError::new(field("services"), message));
            }
            StatusSection {
                name,
                group_id: section.group_id,
                services: section.services,
            }
        })
        .collect()
}

impl Validate for NewStatusPage {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

impl Validate for StatusPagePatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

impl NewStatusPage {
    pub fn draft(self) -> Result<StatusPageDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let draft = StatusPageDraft {
            slug: check_slug(self.slug, &mut errors),
            title: check_name("title", self.title, &mut errors),
            description: check_text(
                "description",
                self.description.unwrap_or_default(),
                PAGE_DESCRIPTION_MAX_CHARS,
                &mut errors,
            ),
            icon: self.icon.and_then(|icon| check_icon("icon", icon, &mut errors)),
            footer: check_text(
                "footer",
                self.footer.unwrap_or_default(),
                FOOTER_MAX_CHARS,
                &mut errors,
            ),
            published: self.published.unwrap_or(false),
            domain: self.domain.and_then(|domain| check_domain(domain, &mut errors)),
            show_links: self.show_links.unwrap_or(false),
            sections: check_sections(self.sections.unwrap_or_default(), &mut errors),
        };
        finish(draft, errors)
    }
}

impl StatusPagePatch {
    /// The page as it will be after this patch, every rule checked.
    pub fn apply(self, current: StatusPageDraft) -> Result<StatusPageDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let draft = StatusPageDraft {
            slug: match self.slug {
                Some(slug) => check_slug(slug, &mut errors),
                None => current.slug,
            },
            title: match self.title {
                Some(title) => check_name("title", title, &mut errors),
                None => current.title,
            },
            description: match self.description {
                Some(text) => check_text("description", text, PAGE_DESCRIPTION_MAX_CHARS, &mut errors),
                None => current.description,
            },
            icon: match self.icon {
                MaybeUndefined::Undefined => current.icon,
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(icon) => check_icon("icon", icon, &mut errors),
            },
            footer: match self.footer {
                Some(text) => check_text("footer", text, FOOTER_MAX_CHARS, &mut errors),
                None => current.footer,
            },
            published: self.published.unwrap_or(current.published),
            domain: match self.domain {
                MaybeUndefined::Undefined => current.domain,
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(domain) => check_domain(domain, &mut errors),
            },
            show_links: self.show_links.unwrap_or(current.show_links),
            sections: match self.sections {
                Some(sections) => check_sections(sections, &mut errors),
                None => current.sections,
            },
        };
        finish(draft, errors)
    }
}

impl StatusPageDraft {
    /// The groups and tiles the page names, for the store to check they exist.
    pub fn references(&self) -> (Vec<i64>, Vec<i64>) {
        let groups = self.sections.iter().filter_map(|s| s.group_id).collect();
        let services = self
            .sections
            .iter()
            .flat_map(|s| s.services.iter().copied())
            .collect();
        (groups, services)
    }
}

/// Where an incident stands; the newest update's status is the post's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Investigating,
            Self::Identified,
            Self::Monitoring,
            Self::Resolved,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// The word people read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
        }
    }
}

/// One timestamped update of an incident post.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct PostUpdate {
    pub id: i64,
    pub status: PostStatus,
    /// Markdown: paragraphs, lists, emphasis, code and http(s) links; HTML is shown as text.
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// An incident post written by people, shown on the status pages that show its tiles.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Post {
    pub id: i64,
    pub title: String,
    /// The newest update's status.
    pub status: PostStatus,
    /// The tiles it affects.
    pub services: Vec<i64>,
    /// Newest first.
    pub updates: Vec<PostUpdate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When an update set it `resolved`; null while it is open.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A new incident post and its first update.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// Default `investigating`.
    #[serde(default)]
    pub status: Option<PostStatus>,
    /// The first update's text (Markdown), 1 to 10,000 characters.
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub body: String,
    /// The tiles it affects (at most 500).
    #[serde(default)]
    pub services: Option<Vec<i64>>,
}

/// Changes to a post's title or affected tiles (its status changes by updates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    pub services: Option<Vec<i64>>,
}

/// A new update of a post.
#[derive(Debug, Clone, PartialEq, Eq, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPostUpdate {
    /// Default: the post's current status.
    #[serde(default)]
    pub status: Option<PostStatus>,
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub body: String,
}

fn check_title(title: String, errors: &mut Vec<FieldError>) -> String {
    let title = check_text("title", title, POST_TITLE_MAX_CHARS, errors);
    if title.is_empty() {
        errors.push(FieldError::new("title", "must hold a visible character"));
    }
    if title.contains(['\n', '\r']) {
        errors.push(FieldError::new("title", "must be one line"));
    }
    title
}

fn check_body(body: String, errors: &mut Vec<FieldError>) -> String {
    let body = check_text("body", body, POST_BODY_MAX_CHARS, errors);
    if body.is_empty() {
        errors.push(FieldError::new("body", "must hold a visible character"));
    }
    body
}

fn check_post_tiles(services: Vec<i64>, errors: &mut Vec<FieldError>) -> Vec<i64> {
    if services.len() > POST_TILES_MAX {
        errors.push(FieldError::new(
            "services",
            format!("at most {POST_TILES_MAX} tiles (got {})", services.len()),
        ));
    }
    if let Some(message) = super::repeated_ids(&services) {
        errors.push(FieldError::new("services", message));
    }
    services
}

impl Validate for NewPost {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let post = Self {
            title: check_title(self.title, &mut errors),
            status: self.status,
            body: check_body(self.body, &mut errors),
            services: self.services.map(|ids| check_post_tiles(ids, &mut errors)),
        };
        finish(post, errors)
    }
}

impl Validate for PostPatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let patch = Self {
            title: self.title.map(|title| check_title(title, &mut errors)),
            services: self.services.map(|ids| check_post_tiles(ids, &mut errors)),
        };
        finish(patch, errors)
    }
}

impl Validate for NewPostUpdate {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let update = Self {
            status: self.status,
            body: check_body(self.body, &mut errors),
        };
        finish(update, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> NewStatusPage {
        NewStatusPage {
            slug: "home".into(),
            title: "Home".into(),
            description: None,
            icon: None,
            footer: None,
            published: None,
            domain: Some("Status.Example.COM.".into()),
            show_links: None,
            sections: Some(vec![StatusSection {
                name: None,
                group_id: Some(1),
                services: vec![],
            }]),
        }
    }

    #[test]
    fn a_page_is_checked_and_its_domain_kept_lower_case() {
        let draft = page().draft().unwrap();
        assert_eq!(draft.domain.as_deref(), Some("status.example.com"));
        assert!(!draft.published && !draft.show_links);
        let bad = NewStatusPage {
            slug: "Home Lab".into(),
            domain: Some("https://status.example.com".into()),
            sections: Some(vec![
                StatusSection {
                    name: None,
                    group_id: Some(1),
                    services: vec![2],
                },
                StatusSection {
                    name: None,
                    group_id: None,
                    services: vec![3, 3],
                },
            ]),
            ..page()
        };
        let fields: Vec<String> = bad.draft().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["slug", "domain", "sections[0].services", "sections[1].services"]
        );
    }

    #[test]
    fn statuses_read_back() {
        for status in [
            PostStatus::Investigating,
            PostStatus::Identified,
            PostStatus::Monitoring,
            PostStatus::Resolved,
        ] {
            assert_eq!(PostStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PostStatus::parse("fixed"), None);
    }
}
