//! The status page and its Atom feed, written as text. Every value from the store is escaped; post bodies
//! and page descriptions are Markdown rendered by pulldown-cmark with raw HTML shown as text, images shown
//! as links, and only http(s) and mailto links kept.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

pub use crate::alerts::message::escape;

use super::{BAR_DAYS, PageModel, PageTile, day_date, overall, state_label};
use crate::model::{Rollup, ServiceState, mask_url, patterns};

fn safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

/// The safe Markdown subset as HTML.
pub fn markdown(text: &str) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH);
    let mut skipping_link = Vec::new();
    let events = parser.filter_map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::Image { dest_url, .. }) => {
            let keep = safe_link(&dest_url);
            skipping_link.push(!keep);
            keep.then(|| {
                Event::Start(Tag::Link {
                    link_type: LinkType::Inline,
                    dest_url,
                    title: "".into(),
                    id: "".into(),
                })
            })
        }
        Event::End(TagEnd::Image) => match skipping_link.pop() {
            Some(false) => Some(Event::End(TagEnd::Link)),
            _ => None,
        },
        Event::Start(Tag::Link { dest_url, .. }) if !safe_link(&dest_url) => {
            skipping_link.push(true);
            None
        }
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            skipping_link.push(false);
            Some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => match skipping_link.pop() {
            Some(false) => Some(Event::End(TagEnd::Link)),
            _ => None,
        },
        Event::Start(Tag::Heading { .. }) => Some(Event::Start(Tag::Strong)),
        Event::End(TagEnd::Heading(_)) => Some(Event::End(TagEnd::Strong)),
        other => Some(other),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    // Links open outside the page and tell the target nothing.
    html.replace("<a href=", "<a rel=\"nofollow noopener noreferrer\" href=")
}

fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn uptime_of(days: &[Option<Rollup>]) -> Option<f64> {
    let mut total = Rollup::default();
    for day in days.iter().flatten() {
        total.merge(day);
    }
    total.uptime_percent()
}

/// How a day's bar is drawn: a class, and its uptime when there were checks.
fn day_class(day: Option<&Rollup>) -> (&'static str, Option<f64>) {
    match day.and_then(Rollup::uptime_percent) {
        None => ("n", None),
        Some(pct) if pct >= 100.0 => ("o", Some(pct)),
        Some(pct) if pct >= 99.0 => ("p", Some(pct)),
        Some(pct) => ("d", Some(pct)),
    }
}

pub fn percent(pct: f64) -> String {
    let text = format!("{pct:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// A tile's 90 days as runs of bars: equal days in a row are one element stretched over them, so a tile
/// that was always up costs one element, not ninety.
fn bars(out: &mut String, tile: &PageTile, first_day: i64) {
    let uptime = uptime_of(&tile.days);
    let label = match uptime {
        Some(pct) => format!("{} uptime over {BAR_DAYS} days", percent(pct)),
        None => format!("no checks in {BAR_DAYS} days"),
    };
    let _ = write!(
        out,
        "<div class=\"bars\" role=\"img\" aria-label=\"{}\">",
        escape(&label)
    );
    let mut start = 0usize;
    while start < tile.days.len() {
        let (class, pct) = day_class(tile.days[start].as_ref());
        let mut end = start + 1;
        // Days below 100% stand alone (each has its own figure); full and empty days run together.
        if pct.is_none_or(|p| p >= 100.0) {
            while end < tile.days.len() && day_class(tile.days[end].as_ref()).0 == class {
                end += 1;
            }
        }
        let from = day_date(first_day + start as i64).format("%b %-d");
        let to = day_date(first_day + end as i64 - 1).format("%b %-d");
        let span = if end - start == 1 {
            from.to_string()
        } else {
            format!("{from} – {to}")
        };
        let title = match pct {
            Some(p) => format!("{span}: {}", percent(p)),
            None => format!("{span}: no checks"),
        };
        // A single day needs no stretch class: each bar grows by 1 unless told otherwise.
        let stretch = match end - start {
            1 => String::new(),
            days => format!(" s{days}"),
        };
        let _ = write!(
            out,
            "<i class=\"{class}{stretch}\" title=\"{}\"></i>",
            escape(&title)
        );
        start = end;
    }
    out.push_str("</div>");
    let _ = write!(
        out,
        "<div class=\"legend\"><span>{BAR_DAYS} days ago</span><span>{}</span><span>Today</span></div>",
        escape(
            &uptime
                .map(|p| format!("{} uptime", percent(p)))
                .unwrap_or_default()
        )
    );
}

fn icon(out: &mut String, icon: Option<&str>) {
    match icon {
        Some(icon) if patterns::is_http_url(icon) => {
            let _ = write!(
                out,
                "<img class=\"icon\" src=\"{}\" alt=\"\" width=\"40\" height=\"40\">",
                escape(&mask_url(icon))
            );
        }
        Some(icon) if icon.chars().count() <= 2 => {
            let _ = write!(
                out,
                "<span class=\"icon emoji\" aria-hidden=\"true\">{}</span>",
                escape(icon)
            );
        }
        _ => {}
    }
}

fn state_class(state: ServiceState) -> &'static str {
    state.as_str()
}

/// The whole page. `preview` marks a draft shown to a signed-in user.
pub fn page(model: &PageModel, feed_path: &str, preview: bool) -> String {
    let draft = &model.page.draft;
    let mut out = String::with_capacity(4096 + 400 * model.tile_ids().count());
    let title = escape(&draft.title);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{title} status</title>\
         <link rel=\"stylesheet\" href=\"/status.css\">\
         <link rel=\"alternate\" type=\"application/atom+xml\" title=\"{title}\" href=\"{}\">\
         <script type=\"module\" src=\"/js/status.js\"></script></head>\n<body><main id=\"status\">",
        escape(feed_path)
    );
    if preview {
        out.push_str(
            "<p class=\"preview\">Draft: only signed-in users see this page until it is published.</p>",
        );
    }
    out.push_str("<header class=\"top\">");
    icon(&mut out, draft.icon.as_deref());
    let _ = write!(out, "<h1>{title}</h1></header>");
    if !draft.description.is_empty() {
        let _ = write!(
            out,
            "<div class=\"description\">{}</div>",
            markdown(&draft.description)
        );
    }
    let states: Vec<ServiceState> = model
        .sections
        .iter()
        .flat_map(|(_, tiles)| tiles.iter().map(|t| t.service.status.state))
        .collect();
    let (class, sentence) = overall(&states);
    let _ = write!(
        out,
        "<section class=\"overall {class}\" aria-live=\"polite\"><span class=\"dot\"></span>{sentence}</section>"
    );
    let open: Vec<_> = model.posts.iter().filter(|p| p.resolved_at.is_none()).collect();
    let recent: Vec<_> = model.posts.iter().filter(|p| p.resolved_at.is_some()).collect();
    if !open.is_empty() {
        out.push_str("<section class=\"posts open\"><h2>Current incidents</h2>");
        for post in open {
            post_html(&mut out, post);
        }
        out.push_str("</section>");
    }
    if !model.maintenance.is_empty() {
        out.push_str("<section class=\"maintenance\"><h2>Maintenance</h2><ul>");
        for window in &model.maintenance {
            let when = match (window.current_or_next_start, window.current_or_next_end) {
                (Some(start), Some(end)) => format!("{} – {}", date(start), date(end)),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<li class=\"{}\"><strong>{}</strong> <span class=\"when\">{}</span>{}</li>",
                if window.active { "active" } else { "planned" },
                escape(&window.title),
                escape(&when),
                if window.active {
                    " <em>in progress</em>"
                } else {
                    ""
                }
            );
        }
        out.push_str("</ul></section>");
    }
    for (heading, tiles) in &model.sections {
        out.push_str("<section class=\"group\">");
        if let Some(heading) = heading {
            let _ = write!(out, "<h2>{}</h2>", escape(heading));
        }
        out.push_str("<ul class=\"tiles\">");
        for tile in tiles {
            let service = &tile.service;
            let state = service.status.state;
            let _ = write!(
                out,
                "<li class=\"tile\" data-id=\"{}\"><div class=\"row\">",
                service.id
            );
            icon(&mut out, service.icon.as_deref());
            if service.url.is_empty() {
                let _ = write!(out, "<span class=\"name\">{}</span>", escape(&service.name));
            } else {
                let _ = write!(
                    out,
                    "<a class=\"name\" rel=\"nofollow noopener noreferrer\" href=\"{}\">{}</a>",
                    escape(&mask_url(&service.url)),
                    escape(&service.name)
                );
            }
            let _ = write!(
                out,
                "<span class=\"state {}\">{}</span></div>",
                state_class(state),
                state_label(state)
            );
            if tile.watched {
                bars(&mut out, tile, model.first_day);
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></section>");
    }
    if !recent.is_empty() {
        out.push_str("<section class=\"posts recent\"><h2>Recent incidents</h2>");
        for post in recent {
            post_html(&mut out, post);
        }
        out.push_str("</section>");
    }
    out.push_str("<footer>");
    if !draft.footer.is_empty() {
        let _ = write!(out, "<div class=\"text\">{}</div>", markdown(&draft.footer));
    }
    let _ = writeln!(
        out,
        "<p><a href=\"{}\">Atom feed</a> · Powered by Homewatch</p></footer></main></body></html>",
        escape(feed_path)
    );
    out
}

fn post_html(out: &mut String, post: &crate::model::public::Post) {
    let _ = write!(
        out,
        "<article class=\"post {}\" id=\"post-{}\"><h3>{}</h3><ol class=\"updates\">",
        post.status.as_str(),
        post.id,
        escape(&post.title)
    );
    for update in &post.updates {
        let _ = write!(
            out,
            "<li><p class=\"meta\"><strong class=\"status {}\">{}</strong> <time datetime=\"{}\">{}</time></p>{}</li>",
            update.status.as_str(),
            update.status.label(),
            update.created_at.to_rfc3339(),
            date(update.created_at),
            markdown(&update.body)
        );
    }
    out.push_str("</ol></article>");
}

/// The Atom feed: one entry per post the page shows, its updates as the content.
pub fn feed(model: &PageModel, page_url: &str) -> String {
    let draft = &model.page.draft;
    let updated = model
        .posts
        .iter()
        .map(|p| p.updated_at)
        .chain([model.page.updated_at])
        .max()
        .unwrap_or_default();
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>{} incidents</title><id>{}</id><link rel=\"alternate\" href=\"{}\"/>\
         <updated>{}</updated><generator>Homewatch</generator>",
        escape(&draft.title),
        escape(page_url),
        escape(page_url),
        updated.to_rfc3339()
    );
    for post in &model.posts {
        let mut content = String::new();
        for update in &post.updates {
            let _ = write!(
                content,
                "<p><strong>{}</strong> ({})</p>{}",
                update.status.label(),
                date(update.created_at),
                markdown(&update.body)
            );
        }
        let _ = write!(
            out,
            "<entry><title>{} ({})</title><id>{}#post-{}</id><link rel=\"alternate\" href=\"{}#post-{}\"/>\
             <published>{}</published><updated>{}</updated><author><name>{}</name></author>\
             <content type=\"html\">{}</content></entry>",
            escape(&post.title),
            post.status.label(),
            escape(page_url),
            post.id,
            escape(page_url),
            post.id,
            post.created_at.to_rfc3339(),
            post.updated_at.to_rfc3339(),
            escape(&draft.title),
            escape(&content)
        );
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_the_safe_subset_and_shows_html_as_text() {
        let html = markdown(
            "**Down** since 10:00 <script>alert(1)</script>\n\n- [status](https://x.example) \
             [bad](javascript:alert(1)) ![img](https://x.example/a.png)",
        );
        assert!(html.contains("<strong>Down</strong>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("href=\"https://x.example\""), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<li>"), "{html}");
    }

    #[test]
    fn percentages_drop_trailing_zeros() {
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(99.5), "99.5%");
        assert_eq!(percent(99.954), "99.95%");
    }
}
